-- spec/examples_spec.lua -- the examples run under layerdb-run (as the
-- README shows) and print what they promise, keeping their data between
-- runs.
local h = require("spec.helper")

describe("the examples", function()
  local dir
  before_each(function() dir = h.tmpdir() end)
  after_each(function() h.rmdir(dir) end)

  local function run_example(name, db_name)
    return h.sh(h.q(h.run) .. " " .. h.q(h.root .. "/examples/" .. name) .. " " .. h.q(dir .. "/" .. db_name))
  end

  it("quickstart.lua sets, gets, removes, and finds its data after a reopen and a rerun", function()
    local out, err, status = run_example("quickstart.lua", "q.db")
    assert.equal(0, status, err)
    assert.equal("greeting: hello, layerdb\nremoved:  soon gone\ntemp:     nil\n" ..
      "reopened " .. dir .. "/q.db: 2 keys, runs = 1\n", out)
    out = run_example("quickstart.lua", "q.db")
    assert.truthy(out:find("2 keys, runs = 2\n", 1, true))
  end)

  it("game_save.lua continues the saved game and keeps the best scores", function()
    local out, err, status = run_example("game_save.lua", "g.db")
    assert.equal(0, status, err)
    assert.truthy(out:find("loaded ada: level 1 at (0, 0) with 0 gold\n", 1, true))
    assert.truthy(out:find("1. bob  250\n2. ada  200\n3. cy   180\n", 1, true))
    out = run_example("game_save.lua", "g.db")
    assert.truthy(out:find("loaded ada: level 2 at (10, 0) with 25 gold\n", 1, true))
    assert.truthy(out:find("checkpoint: ada is level 3, sword in hand\n", 1, true))
    assert.truthy(out:find("1. ada  300\n2. bob  250\n3. cy   180\n", 1, true))
  end)
end)
