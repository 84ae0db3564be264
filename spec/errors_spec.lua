-- spec/errors_spec.lua -- errors: the engine's messages as Lua errors (file
-- in use, corrupt, disk full, read-only), bad input that loses nothing, and
-- the garbage collector closing a forgotten database without raising.
local layerdb = require("layerdb")
local h = require("spec.helper")

describe("engine errors", function()
  local dir
  before_each(function() dir = h.tmpdir() end)
  after_each(function() collectgarbage(); collectgarbage(); h.rmdir(dir) end)

  it("a second load of a file in use fails with the engine's 'in use' message", function()
    local path = dir .. "/busy.db"
    local first = layerdb.load(path)
    assert.error_matches(function() layerdb.load(path) end,
      "database file '" .. path .. "' is in use by process", 1, true)
    first:set("k", "still works")
    assert.equal("still works", first:get("k"))
    first:close()
    local second = layerdb.load(path)
    assert.equal("still works", second:get("k"))
    second:close()
  end)

  it("a file damaged before its tail fails with the offset and a hint", function()
    local path = dir .. "/bad.db"
    local db = layerdb.load(path)
    for i = 1, 50 do db:set("k" .. i, string.rep("v", 40)) end
    db:close()
    h.overwrite(path, 40, "\0\0\0\0")
    assert.error_matches(function() layerdb.load(path) end,
      "'" .. path:gsub("%p", "%%%0") .. "': bad checksum in record at offset %d+ %(.*repair option")
  end)

  it("a write to a read-only database fails with the engine's message and changes nothing", function()
    local path = dir .. "/ro.db"
    local db = layerdb.load(path)
    db:set("k", "v")
    db:close()
    local ro = layerdb.load(path, { readonly = true })
    assert.error_matches(function() ro:set("k", "other") end,
      "database '" .. path .. "' is open read-only", 1, true)
    assert.equal("v", ro:get("k"))
    assert.equal(1, #ro)
    ro:close()
  end)

  it("a full disk fails a later write or the close with ENOSPC's text", function()
    local full = h.mount_full(dir)
    if not full then return pending("cannot mount a 1 MiB tmpfs here (needs root)") end
    local db = layerdb.load(full .. "/full.db")
    local value = string.rep("x", 100000)
    local stored, err = 0, nil
    for i = 1, 30 do
      local ok, e = pcall(db.set, db, "k" .. i, value)
      if not ok then err = e break end
      stored = i
    end
    local ok_close, close_err = pcall(db.close, db)
    h.umount(full)
    assert.is_true(stored >= 1)
    assert.truthy((err or close_err or ""):find("No space left on device", 1, true))
    assert.is_false(ok_close and err == nil)
    assert.equal("layerdb (closed)", tostring(db))
  end)
end)

describe("bad input", function()
  it("is rejected without losing what the database held", function()
    local db = layerdb.load()
    db:set("keep", "me")
    assert.has_error(function() db:set({}, "v") end)
    assert.has_error(function() db:set("keep", {}) end)
    assert.has_error(function() db:remove(false) end)
    assert.equal("me", db:get("keep"))
    assert.equal(1, #db)
    db:close()
  end)
end)

describe("the garbage collector", function()
  local dir
  before_each(function() dir = h.tmpdir() end)
  after_each(function() h.rmdir(dir) end)

  it("closes a forgotten database: its writes are kept and the file is free", function()
    local path = dir .. "/gc.db"
    do
      local db = layerdb.load(path)
      for i = 1, 100 do db:set("k" .. i, "v" .. i) end
    end
    collectgarbage()
    collectgarbage()
    local again = layerdb.load(path) -- would fail with "in use" if still open
    assert.equal(100, #again)
    assert.equal("v100", again:get("k100"))
    again:close()
  end)

  it("collects a closed database and a finished iterator without raising", function()
    local db = layerdb.load(dir .. "/c.db")
    db:set("k", "v")
    local iter = db:pairs()
    iter()
    db:close()
    db, iter = nil, nil
    assert.has_no.errors(function() collectgarbage(); collectgarbage() end)
  end)

  it("never raises from __gc, even when closing fails on a full disk", function()
    local full = h.mount_full(dir)
    if not full then return pending("cannot mount a 1 MiB tmpfs here (needs root)") end
    do
      local db = layerdb.load(full .. "/gc.db")
      local value = string.rep("y", 100000)
      for i = 1, 30 do
        if not pcall(db.set, db, "k" .. i, value) then break end
      end
    end
    local ok = pcall(function() collectgarbage(); collectgarbage() end)
    h.umount(full)
    assert.is_true(ok)
  end)
end)
