-- spec/compact_spec.lua -- db:compact(), the compaction options of
-- layerdb.load and the compaction fields of db:info().
local layerdb = require("layerdb")
local h = require("spec.helper")

local function file_size(path)
  local f = assert(io.open(path, "rb"))
  local n = f:seek("end")
  f:close()
  return n
end

describe("db:compact", function()
  local dir
  before_each(function() dir = h.tmpdir() end)
  after_each(function() collectgarbage(); collectgarbage(); h.rmdir(dir) end)

  it("rewrites a file of overwrites into its live data, which reopens the same", function()
    local path = dir .. "/c.db"
    local db = layerdb.load(path, { compact_factor = 0 })
    for round = 1, 20 do
      for i = 1, 500 do db:set("k" .. i, ("v%d-%d"):format(round, i)) end
    end
    db:expire("k1", 1000)
    db:incr("n")
    db:flush()
    local before = file_size(path)
    assert.equal(0, db:info().compactions)
    assert.is_true(db:compact(true))
    local info = db:info()
    assert.equal(1, info.compactions)
    assert.is_false(info.compacting)
    assert.is_true(file_size(path) < before / 5)
    assert.equal(file_size(path), info.file_bytes)
    assert.is_true(info.live_bytes > 0)
    db:set("after", "1")
    db:close()
    db = layerdb.load(path)
    assert.equal("v20-500", db:get("k500"))
    assert.equal("1", db:get("after"))
    assert.equal("1", db:get("n"))
    local ttl = db:ttl("k1")
    assert.is_true(ttl > 900 and ttl <= 1000)
    assert.equal(502, #db)
    db:close()
  end)

  it("starts in the background without wait, and BGREWRITEAOF does the same", function()
    local path = dir .. "/bg.db"
    local db = layerdb.load(path, { compact_factor = 0 })
    for i = 1, 1000 do db:set("k" .. i, "x") end
    assert.is_true(db:compact())
    db:compact(true) -- waits for the one that runs, or runs one more
    assert.equal("Background append only file rewriting started", db:call("BGREWRITEAOF"))
    db:compact(true)
    assert.is_true(db:info().compactions >= 2)
    db:close()
  end)

  it("compacts by itself once the file outgrows its live data", function()
    local path = dir .. "/auto.db"
    local db = layerdb.load(path, { compact_factor = 2, compact_min_bytes = 64 * 1024 })
    local value = ("x"):rep(40)
    -- write until two compactions ended: no bound on how long one takes
    for round = 1, 100000 do
      for i = 1, 200 do db:set("k" .. i, value .. round) end
      if db:info().compactions >= 2 then break end
    end
    assert.is_true(db:info().compactions >= 2)
    db:close()
  end)

  it("refuses bad options and a database without a file, with clear errors", function()
    assert.has_error(function() layerdb.load(dir .. "/x.db", { compact_factor = "2" }) end,
      "bad argument #2 to 'load' (option 'compact_factor' must be a number (0, or more than 1), got '2')")
    local ok, err = pcall(layerdb.load, dir .. "/x.db", { compact_factor = 0.5 })
    assert.is_false(ok)
    assert.matches("compact_factor must be 0", err)
    local mem = layerdb.load(nil)
    ok, err = pcall(mem.compact, mem)
    assert.is_false(ok)
    assert.matches("no log file to compact", err)
    mem:close()
    local w = layerdb.load(dir .. "/r.db")
    w:set("a", "1")
    w:close()
    local r = layerdb.load(dir .. "/r.db", { readonly = true })
    ok, err = pcall(r.compact, r)
    assert.is_false(ok)
    assert.matches("read%-only", err)
    r:close()
  end)
end)
