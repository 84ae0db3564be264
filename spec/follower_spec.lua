-- spec/follower_spec.lua -- read-only databases following a writer:
-- db:refresh() and its count, a writer in another process, a file renamed
-- over the path (compaction), and the errors of a read-only database.
local layerdb = require("layerdb")
local h = require("spec.helper")

-- Run Lua code in a child process with this interpreter and module.
local function in_child(code)
  local out, err, status = h.sh(h.child_cmd(code))
  assert(status == 0, "child failed: " .. tostring(out) .. tostring(err))
end

describe("db:refresh", function()
  local dir
  before_each(function() dir = h.tmpdir() end)
  after_each(function() collectgarbage(); collectgarbage(); h.rmdir(dir) end)

  it("returns how many records the writer appended since, and 0 when nothing is new", function()
    local path = dir .. "/f.db"
    local w = layerdb.load(path)
    w:set("a", "1")
    w:flush()
    local r = layerdb.load(path, { readonly = true })
    assert.equal("1", r:get("a"))
    w:set("b", "2")
    w:set("c", "3")
    w:remove("a")
    w:flush()
    assert.is_nil(r:get("b")) -- nothing new until the refresh
    assert.equal(3, r:refresh())
    assert.equal(0, r:refresh())
    assert.is_nil(r:get("a"))
    assert.equal("2", r:get("b"))
    assert.equal(2, #r)
    w:close()
    r:close()
  end)

  it("applies a db:atomic transaction as one record", function()
    local path = dir .. "/tx.db"
    local w = layerdb.load(path)
    local r = layerdb.load(path, { readonly = true })
    w:atomic(function(tx)
      tx:set("x", "1")
      tx:incr("x")
      tx:set("y", "z")
    end)
    w:flush()
    assert.equal(1, r:refresh())
    assert.equal("2", r:get("x"))
    assert.equal("z", r:get("y"))
    w:close()
    r:close()
  end)

  it("sees what a writer in another process wrote", function()
    local path = dir .. "/proc.db"
    in_child(string.format([[
      local db = require("layerdb").load(%q)
      db:set("from", "child")
      db:close()]], path))
    local r = layerdb.load(path, { readonly = true })
    assert.equal("child", r:get("from"))
    in_child(string.format([[
      local db = require("layerdb").load(%q)
      for i = 1, 10 do db:set("k" .. i, tostring(i)) end
      db:close()]], path))
    assert.equal(10, r:refresh())
    assert.equal("10", r:get("k10"))
    r:close()
  end)

  it("loads a new file renamed over the path, and shows the old state until then", function()
    local path = dir .. "/c.db"
    local w = layerdb.load(path)
    w:set("k", "old")
    w:set("gone", "1")
    w:close()
    local r = layerdb.load(path, { readonly = true })
    local n = layerdb.load(path .. ".new")
    n:set("k", "new")
    n:set("more", "1")
    n:close()
    assert(os.rename(path .. ".new", path))
    assert.equal("old", r:get("k"))
    assert.equal(2, r:refresh()) -- the records of the new file
    assert.equal("new", r:get("k"))
    assert.is_nil(r:get("gone"))
    assert.equal(2, #r)
    r:close()
  end)

  it("raises on a database that is not read-only", function()
    local w = layerdb.load(dir .. "/w.db")
    assert.error_matches(function() w:refresh() end, "is not open read-only", 1, true)
    w:close()
  end)
end)

describe("a read-only database", function()
  local dir
  before_each(function() dir = h.tmpdir() end)
  after_each(function() collectgarbage(); collectgarbage(); h.rmdir(dir) end)

  it("refuses every write with the engine's message and leaves the file's bytes as they were", function()
    local path = dir .. "/ro.db"
    local w = layerdb.load(path)
    w:set("k", "v")
    w:set("n", "1")
    w:flush()
    local r = layerdb.load(path, { readonly = true })
    local before = h.read(path)
    local msg = "database '" .. path .. "' is open read-only"
    local writes = {
      function() r:set("k", "w") end,
      function() r:remove("k") end,
      function() r:call("SET", "k", "w") end,
      function() r:del("k") end,
      function() r:expire("k", 100) end,
      function() r:incr("n") end,
      function() r:flushall() end,
      function() r:atomic(function(tx) tx:set("k", "w") end) end,
    }
    for i, write in ipairs(writes) do
      assert.error_matches(write, msg, 1, true)
      assert.equal(before, h.read(path), "write " .. i .. " changed the file")
    end
    assert.equal("v", r:get("k"))
    assert.equal(0, r:refresh())
    assert.equal(before, h.read(path))
    w:close()
    r:close()
  end)

  it("of a missing file is an error, not an empty database", function()
    local path = dir .. "/missing.db"
    assert.error_matches(function() layerdb.load(path, { readonly = true }) end,
      "no such database file '" .. path .. "'", 1, true)
    assert.is_false(h.exists(path))
  end)

  it("hides a key past its deadline and never logs its removal", function()
    local path = dir .. "/ttl.db"
    local w = layerdb.load(path)
    w:set("keep", "v")
    w:call("SET", "soon", "v", "PX", "150")
    w:flush()
    local r = layerdb.load(path, { readonly = true })
    local before = h.read(path)
    -- Wait until the writer no longer sees the key (a wait, with a bound).
    for _ = 1, 600 do
      if w:get("soon") == nil then break end
      os.execute("sleep 0.05")
    end
    assert.is_nil(w:get("soon"))
    assert.is_nil(r:get("soon"))
    assert.equal(0, r:exists("soon"))
    assert.equal(0, r:refresh())
    assert.equal(2, r:dbsize()) -- still held, never reclaimed by the reader
    assert.equal(before, h.read(path))
    w:close()
    r:close()
  end)
end)
