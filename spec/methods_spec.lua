-- spec/methods_spec.lua -- the methods of a database: set, get, remove,
-- len and #, flush, info, close, tostring; keys and values as Lua strings.
local layerdb = require("layerdb")
local h = require("spec.helper")

describe("a database", function()
  local dir, db
  before_each(function()
    dir = h.tmpdir()
    db = layerdb.load(dir .. "/m.db")
  end)
  after_each(function()
    db:close()
    h.rmdir(dir)
  end)

  local function reopen()
    db:close()
    db = layerdb.load(dir .. "/m.db")
  end

  describe("db:set and db:get", function()
    it("set returns true and get returns the value", function()
      assert.is_true(db:set("name", "ada"))
      assert.equal("ada", db:get("name"))
    end)

    it("get returns nil for a key that was never set", function()
      assert.is_nil(db:get("never"))
      assert.equal(1, select("#", db:get("never")))
    end)

    it("set replaces the value of an existing key", function()
      db:set("k", "first")
      db:set("k", "second")
      assert.equal("second", db:get("k"))
      assert.equal(1, #db)
    end)

    it("keeps keys and values binary-safe, zeros and all bytes included", function()
      local bytes = {}
      for i = 0, 255 do bytes[#bytes + 1] = string.char(i) end
      local all = table.concat(bytes)
      db:set("a\0b", "x\0y\0")
      db:set(all, all:reverse())
      reopen()
      assert.equal("x\0y\0", db:get("a\0b"))
      assert.is_nil(db:get("a"))
      assert.equal(all:reverse(), db:get(all))
    end)

    it("stores an empty key and an empty value", function()
      db:set("", "empty key")
      db:set("empty value", "")
      reopen()
      assert.equal("empty key", db:get(""))
      assert.equal("", db:get("empty value"))
    end)

    it("stores numbers as their string form, as Redis clients do", function()
      db:set(1, 2.5)
      db:set("big", 9007199254740993)
      assert.equal("2.5", db:get("1"))
      assert.equal("2.5", db:get(1))
      assert.equal(tostring(9007199254740993), db:get("big"))
    end)

    it("round-trips a 4 MB value through a reopen", function()
      local big = string.rep("0123456789abcdef", 256 * 1024)
      db:set("big", big)
      reopen()
      assert.equal(big, db:get("big"))
    end)

    it("rejects other types, naming the argument and the type", function()
      local bad = { {}, true, function() end, coroutine.create(function() end) }
      for _, v in ipairs(bad) do
        assert.error_matches(function() db:set(v, "v") end,
          "bad argument #1 to 'set' (string expected, got " .. type(v) .. ")", 1, true)
        assert.error_matches(function() db:set("k", v) end,
          "bad argument #2 to 'set' (string expected, got " .. type(v) .. ")", 1, true)
        assert.error_matches(function() db:get(v) end,
          "bad argument #1 to 'get' (string expected, got " .. type(v) .. ")", 1, true)
        assert.error_matches(function() db:remove(v) end,
          "bad argument #1 to 'remove' (string expected, got " .. type(v) .. ")", 1, true)
      end
      assert.error_matches(function() db:set("k") end,
        "bad argument #2 to 'set' (string expected, got no value)", 1, true)
      assert.error_matches(function() db:set("k", nil) end,
        "bad argument #2 to 'set' (string expected, got nil)", 1, true)
      assert.equal(0, #db)
    end)

    it("rejects a call with '.' instead of ':', naming the expected type", function()
      assert.error_matches(function() db.get("k") end, "layerdb.db expected, got string", 1, true)
      assert.error_matches(function() db.set({}, "k", "v") end, "layerdb.db expected, got table", 1, true)
    end)
  end)

  describe("db:remove", function()
    it("removes the pair and returns the removed value", function()
      db:set("k", "v")
      assert.equal("v", db:remove("k"))
      assert.is_nil(db:get("k"))
      reopen()
      assert.is_nil(db:get("k"))
    end)

    it("returns nil for a key that is not there", function()
      db:set("other", "x")
      assert.is_nil(db:remove("missing"))
      assert.equal(1, #db)
    end)

    it("returns the removed value even when it holds zeros", function()
      db:set("k", "\0\1\0")
      assert.equal("\0\1\0", db:remove("k"))
    end)
  end)

  describe("db:len and #db", function()
    it("count the keys as they are set and removed", function()
      assert.equal(0, db:len())
      assert.equal(0, #db)
      for i = 1, 10 do db:set("k" .. i, "v") end
      db:set("k1", "again")
      assert.equal(10, db:len())
      db:remove("k1")
      assert.equal(9, #db)
      reopen()
      assert.equal(9, #db)
    end)
  end)

  describe("db:flush", function()
    it("returns true and leaves every write in the file", function()
      db:set("k", "v")
      assert.is_true(db:flush())
      local info = db:info()
      assert.equal(info.log_bytes, info.synced_bytes)
    end)
  end)

  describe("db:info", function()
    it("reports the engine's counters", function()
      db:set("a", "1")
      db:set("b", "2")
      local info = db:info()
      assert.equal(2, info.keys)
      assert.is_true(info.persistent)
      assert.is_true(info.log_bytes > 0)
      assert.is_true(info.memory_bytes > 0)
      db:flush()
      -- both sets went out, in one batch or two
      local batch = db:info().largest_batch_bytes
      assert.is_true(batch > 0 and batch <= db:info().log_bytes)
      reopen()
      assert.equal(2, db:info().replayed_records)
    end)
  end)

  describe("db:close", function()
    it("returns true, and a second close is harmless", function()
      db:set("k", "v")
      assert.is_true(db:close())
      assert.is_true(db:close())
      db = layerdb.load(dir .. "/m.db")
      assert.equal("v", db:get("k"))
    end)

    it("makes every other method raise 'database is closed'", function()
      db:close()
      local calls = {
        function() db:set("k", "v") end, function() db:get("k") end,
        function() db:remove("k") end, function() db:len() end,
        function() return #db end, function() db:flush() end,
        function() db:info() end, function() db:pairs() end,
      }
      for _, call in ipairs(calls) do
        assert.error_matches(call, "database is closed", 1, true)
      end
    end)

    it("releases the file for the next load", function()
      db:close()
      local again = layerdb.load(dir .. "/m.db")
      assert.is_true(again:close())
    end)
  end)

  describe("tostring(db)", function()
    it("names the database and says when it is closed", function()
      assert.truthy(tostring(db):match("^layerdb %(0?x?%x+%)$"))
      db:close()
      assert.equal("layerdb (closed)", tostring(db))
    end)
  end)
end)
