-- spec/lua54_spec.lua -- what only Lua 5.4 has: to-be-closed variables
-- (local db <close>) and pairs(db) through __pairs. This file uses 5.4
-- syntax, so scripts/tap-luajit.sh leaves it out (--exclude-pattern).
local layerdb = require("layerdb")
local h = require("spec.helper")

describe("local db <close>", function()
  local dir
  before_each(function() dir = h.tmpdir() end)
  after_each(function() collectgarbage(); h.rmdir(dir) end)

  it("closes the database when the scope ends, keeping its writes", function()
    local path = dir .. "/tbc.db"
    local outer
    do
      local db <close> = layerdb.load(path)
      db:set("k", "v")
      outer = db
    end
    assert.equal("layerdb (closed)", tostring(outer))
    local again <close> = layerdb.load(path) -- the file is free again
    assert.equal("v", again:get("k"))
  end)

  it("closes the database when the scope ends by an error, which passes through", function()
    local path = dir .. "/err.db"
    local outer
    local ok, err = pcall(function()
      local db <close> = layerdb.load(path)
      outer = db
      db:set("k", "v")
      error("the original error", 0)
    end)
    assert.is_false(ok)
    assert.equal("the original error", err)
    assert.equal("layerdb (closed)", tostring(outer))
    local again <close> = layerdb.load(path)
    assert.equal("v", again:get("k"))
  end)

  it("is harmless on a database closed inside the scope", function()
    assert.has_no.errors(function()
      local db <close> = layerdb.load()
      assert.is_true(db:close())
    end)
  end)

  it("raises the engine's error when closing fails at the end of a normal scope", function()
    local full = h.mount_full(dir)
    if not full then return pending("cannot mount a 1 MiB tmpfs here (needs root)") end
    local ok, err = pcall(function()
      local db <close> = layerdb.load(full .. "/full.db")
      local value = string.rep("x", 100000)
      for i = 1, 9 do db:set("k" .. i, value) end
      db:set("last", string.rep("y", 150000)) -- queued; fails in the writer
    end)
    h.umount(full)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("No space left on device", 1, true))
  end)
end)

describe("pairs(db)", function()
  it("iterates like db:pairs() through __pairs", function()
    local db <close> = layerdb.load()
    for i = 1, 100 do db:set("k" .. i, tostring(i)) end
    local n = 0
    for k, v in pairs(db) do
      assert.equal("k" .. v, k)
      n = n + 1
    end
    assert.equal(100, n)
  end)
end)
