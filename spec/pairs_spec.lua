-- spec/pairs_spec.lua -- db:pairs(): every key once with its value, in
-- batches, while the database changes, and after it is closed.
local layerdb = require("layerdb")

local function collect(db)
  local seen, n = {}, 0
  for k, v in db:pairs() do
    assert.is_nil(seen[k], "key visited twice: " .. k)
    seen[k] = v
    n = n + 1
  end
  return seen, n
end

describe("db:pairs", function()
  local db
  before_each(function() db = layerdb.load() end)
  after_each(function() db:close() end)

  it("visits every key exactly once with its value", function()
    for i = 1, 5000 do db:set("key" .. i, "value" .. i) end
    local seen, n = collect(db)
    assert.equal(5000, n)
    for i = 1, 5000 do assert.equal("value" .. i, seen["key" .. i]) end
  end)

  it("never runs the loop body on an empty database", function()
    local _, n = collect(db)
    assert.equal(0, n)
  end)

  it("returns binary keys and values intact", function()
    db:set("a\0b", "\0")
    db:set("", "empty key")
    db:set("empty value", "")
    local seen, n = collect(db)
    assert.equal(3, n)
    assert.equal("\0", seen["a\0b"])
    assert.equal("empty key", seen[""])
    assert.equal("", seen["empty value"])
  end)

  it("lets the loop remove each key it visits", function()
    for i = 1, 1000 do db:set("k" .. i, "v") end
    local n = 0
    for k in db:pairs() do
      assert.equal("v", db:remove(k))
      n = n + 1
    end
    assert.equal(1000, n)
    assert.equal(0, #db)
  end)

  it("lets the loop overwrite values, still visiting each key once", function()
    for i = 1, 1000 do db:set("k" .. i, "old") end
    local n = 0
    for k, v in db:pairs() do
      assert.equal("old", v)
      db:set(k, "new")
      n = n + 1
    end
    assert.equal(1000, n)
    local seen = collect(db)
    for i = 1, 1000 do assert.equal("new", seen["k" .. i]) end
  end)

  it("copies large values across several batches", function()
    local big = string.rep("z", 64 * 1024)
    for i = 1, 300 do db:set("k" .. i, big .. i) end
    local seen, n = collect(db)
    assert.equal(300, n)
    for i = 1, 300 do assert.equal(big .. i, seen["k" .. i]) end
  end)

  it("keeps returning nothing once the iteration is over", function()
    db:set("only", "one")
    local iter = db:pairs()
    assert.equal("only", (iter()))
    assert.is_nil(iter())
    assert.is_nil(iter())
  end)

  it("raises 'database is closed' when the database is closed mid-loop", function()
    for i = 1, 1000 do db:set("k" .. i, "v") end
    assert.error_matches(function()
      for _ in db:pairs() do db:close() end
    end, "database is closed", 1, true)
  end)
end)
