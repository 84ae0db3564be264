-- bench/lua_bench.lua -- Lua-level set and get throughput of layerdb
-- against a plain Lua table doing the same work in the same run: the table
-- is the ceiling a Lua user compares with.
--
--   make lua-bench                                 (Lua 5.4, then LuaJIT)
--   LUA_CPATH='build/lua54/?.so' lua5.4 bench/lua_bench.lua
--   LUA_BENCH_KEYS=100000 make lua-bench           a quicker run
--   TMPDIR=/some/disk make lua-bench               where the file goes
--
-- Keys are 16 bytes ("key:%012d" of a shuffled index) and values 100 bytes
-- with the key's index at both ends. Both sides run the same loops: set
-- every key in one random order, then get every key in another and compare
-- the value with the expected string (the check is part of the work). Each
-- row is the median of RUNS runs, each on a fresh database or table. Only
-- the loops are timed, with the wall clock (`date +%s.%N`; os.clock would
-- count the writer thread's CPU time too); layerdb's set returns once the
-- write is queued, so the time db:flush() then takes is shown apart.
-- Prints one Markdown table on stdout; exits 1 if a check failed.
local layerdb = require("layerdb")

local N = tonumber(os.getenv("LUA_BENCH_KEYS") or "1000000")
local RUNS = tonumber(os.getenv("LUA_BENCH_RUNS") or "3")
local TMP = os.getenv("TMPDIR") or "/tmp"

local function now()
  local p = assert(io.popen("date +%s.%N"))
  local t = tonumber(p:read("*l"))
  p:close()
  return t
end

local function shuffled(n, seed)
  math.randomseed(seed)
  local a = {}
  for i = 1, n do a[i] = i end
  for i = n, 2, -1 do
    local j = math.random(i)
    a[i], a[j] = a[j], a[i]
  end
  return a
end

-- ---- The data, built once ----

local set_order, get_order = shuffled(N, 1), shuffled(N, 2)
local keys, vals = {}, {}
local filler = string.rep("v", 100 - 2 * 12)
for i = 1, N do
  local id = string.format("%012d", set_order[i])
  keys[i] = "key:" .. id
  vals[i] = id .. filler .. id
end

-- ---- The two stores behind one interface ----

-- Each store: open() -> handle; set(h, k, v); get(h, k); count(h); done(h)
-- returning the flush time in seconds.
local function layerdb_store(opts)
  local path
  return {
    open = function()
      path = opts and string.format("%s/layerdb-lua-bench-%d.db", TMP, math.random(1e9))
      return layerdb.load(path, opts)
    end,
    count = function(db) return #db end,
    done = function(db)
      local t0 = now()
      db:flush()
      local flush_s = now() - t0
      db:close()
      if path then os.remove(path) end
      return flush_s
    end,
  }
end

local stores = {
  { name = "plain Lua table", open = function() return {} end,
    count = function(t) local n = 0 for _ in pairs(t) do n = n + 1 end return n end,
    done = function() return 0 end, table = true },
  { name = "layerdb in memory (persistence off)", store = layerdb_store(nil) },
  { name = "layerdb, fsync everysec", store = layerdb_store({ fsync = "everysec" }) },
}

-- ---- The timed loops ----

local function set_loop_table(t)
  for i = 1, N do t[keys[i]] = vals[i] end
end

local function get_loop_table(t)
  local bad = 0
  for j = 1, N do
    local i = get_order[j]
    if t[keys[i]] ~= vals[i] then bad = bad + 1 end
  end
  return bad
end

local function set_loop_db(db)
  for i = 1, N do db:set(keys[i], vals[i]) end
end

local function get_loop_db(db)
  local bad = 0
  for j = 1, N do
    local i = get_order[j]
    if db:get(keys[i]) ~= vals[i] then bad = bad + 1 end
  end
  return bad
end

-- One run: returns set/s, get/s, flush seconds, wrong values, count.
local function run_once(s)
  local ops = s.table and s or s.store
  local h = ops.open()
  collectgarbage()
  local t0 = now()
  if s.table then set_loop_table(h) else set_loop_db(h) end
  local t1 = now()
  local bad = s.table and get_loop_table(h) or get_loop_db(h)
  local t2 = now()
  local count = ops.count(h)
  local flush_s = ops.done(h)
  return N / (t1 - t0), N / (t2 - t1), flush_s, bad, count
end

local function median(a)
  table.sort(a)
  return a[math.floor((#a + 1) / 2)]
end

-- ---- Report ----

local failed = false
local rows = {}
for _, s in ipairs(stores) do
  io.stderr:write(("%s: %d runs of %d keys\n"):format(s.name, RUNS, N))
  local sets, gets, flushes = {}, {}, {}
  for r = 1, RUNS do
    local set_s, get_s, flush_s, bad, count = run_once(s)
    sets[r], gets[r], flushes[r] = set_s, get_s, flush_s
    if bad ~= 0 or count ~= N then
      failed = true
      io.stderr:write(("CHECK FAILED: %s: %d wrong values, %d keys of %d\n"):format(s.name, bad, count, N))
    end
    collectgarbage()
  end
  rows[#rows + 1] = { name = s.name, set = median(sets), get = median(gets), flush = median(flushes) }
end

local lua = jit and jit.version or _VERSION
print(("Lua benchmark: %s, %d keys (16-byte keys, 100-byte values), median of %d runs"):format(lua, N, RUNS))
print()
print("| store | set/s | get/s | table get / this get | flush after sets |")
print("|---|---:|---:|---:|---:|")
local ceiling = rows[1].get
for _, r in ipairs(rows) do
  print(("| %s | %.0f | %.0f | %.2fx | %s |"):format(r.name, r.set, r.get, ceiling / r.get,
    r.name:find("everysec") and ("%.0f ms"):format(r.flush * 1000) or "-"))
end

-- ---- Redis commands from Lua (fsync everysec, one fresh file each) ----

local function command_rate(name, prefill, per_call, loop)
  local store = layerdb_store({ fsync = "everysec" })
  local rates = {}
  for r = 1, RUNS do
    local db = store.open()
    if prefill then set_loop_db(db) end
    collectgarbage()
    local t0 = now()
    local calls = loop(db)
    local t1 = now()
    store.done(db)
    rates[r] = calls / (t1 - t0)
    collectgarbage()
  end
  return { name = name, calls = median(rates), per_call = per_call }
end

local B = 10
local commands = {
  command_rate("db:set(k, v) (the plain call)", false, 1, function(db)
    for i = 1, N do db:set(keys[i], vals[i]) end
    return N
  end),
  command_rate('db:call("SET", k, v)', false, 1, function(db)
    for i = 1, N do db:call("SET", keys[i], vals[i]) end
    return N
  end),
  command_rate("db:get(k) (the plain call)", true, 1, function(db)
    for j = 1, N do db:get(keys[get_order[j]]) end
    return N
  end),
  command_rate('db:call("GET", k)', true, 1, function(db)
    for j = 1, N do db:call("GET", keys[get_order[j]]) end
    return N
  end),
  command_rate("db:incr(k), 1000 counters", false, 1, function(db)
    local counters = {}
    for c = 1, 1000 do counters[c] = "counter:" .. c end
    for i = 1, N do db:incr(counters[i % 1000 + 1]) end
    return N
  end),
  command_rate("db:mset of 10 keys", false, B, function(db)
    local calls = math.floor(N / B)
    for c = 0, calls - 1 do
      local i = c * B
      db:mset(keys[i + 1], vals[i + 1], keys[i + 2], vals[i + 2], keys[i + 3], vals[i + 3],
              keys[i + 4], vals[i + 4], keys[i + 5], vals[i + 5], keys[i + 6], vals[i + 6],
              keys[i + 7], vals[i + 7], keys[i + 8], vals[i + 8], keys[i + 9], vals[i + 9],
              keys[i + 10], vals[i + 10])
    end
    return calls
  end),
  command_rate("db:mget of 10 keys", true, B, function(db)
    local calls = math.floor(N / B)
    for c = 0, calls - 1 do
      local i = c * B
      db:mget(keys[i + 1], keys[i + 2], keys[i + 3], keys[i + 4], keys[i + 5], keys[i + 6],
              keys[i + 7], keys[i + 8], keys[i + 9], keys[i + 10])
    end
    return calls
  end),
  command_rate("db:expire(k, 100000)", true, 1, function(db)
    for j = 1, N do db:expire(keys[get_order[j]], 100000) end
    return N
  end),
  command_rate("db:setex(k, 100000, v)", false, 1, function(db)
    for i = 1, N do db:setex(keys[i], 100000, vals[i]) end
    return N
  end),
}

print()
print(("Redis commands from Lua: %s, fsync everysec, median of %d runs"):format(lua, RUNS))
print()
print("| call | calls/s | keys/s |")
print("|---|---:|---:|")
for _, c in ipairs(commands) do
  print(("| %s | %.0f | %.0f |"):format(c.name, c.calls, c.calls * c.per_call))
end
os.exit(failed and 1 or 0)
