-- examples/game_save.lua -- a game's save data in layerdb: each player's
-- state as one key holding a serialized table, a checkpoint with
-- db:flush(), and a high-score table kept as one key per name.
--
--   build/layerdb-run examples/game_save.lua [file]    (default game.db)
--
-- Run it twice: the second run continues the saved game. Plain Lua, so it
-- also runs under LuaJIT (LÖVE, Defold) with the module on the cpath.
local layerdb = require("layerdb")

-- ---- Saving tables as strings ----

-- A flat table of strings, numbers and booleans as Lua source, keys sorted
-- so equal states give equal bytes.
local function encode(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do
    local v = t[k]
    local repr = type(v) == "string" and ("%q"):format(v) or tostring(v)
    parts[#parts + 1] = ("[%q] = %s"):format(k, repr)
  end
  return "return { " .. table.concat(parts, ", ") .. " }"
end

-- Load a saved table: text only (no bytecode) and an empty environment, so
-- a tampered save file cannot run code with access to anything.
local function decode(s)
  local chunk = assert(load(s, "=save", "t", {}))
  return chunk()
end

local function save_player(db, name, state)
  db:set("player:" .. name, encode(state))
end

local function load_player(db, name)
  local saved = db:get("player:" .. name)
  return saved and decode(saved)
end

-- ---- High scores: one key "score:<name>" per player ----

-- Keep a player's best score; returns true for a new best.
local function submit_score(db, name, score)
  local best = tonumber(db:get("score:" .. name))
  if best and best >= score then return false end
  db:set("score:" .. name, score)
  return true
end

-- The n best scores. db:pairs() visits every key, so this suits the small
-- tables games keep; a large one would keep its own sorted index.
local function top_scores(db, n)
  local list = {}
  for key, value in db:pairs() do
    local name = key:match("^score:(.+)$")
    if name then list[#list + 1] = { name = name, score = tonumber(value) } end
  end
  table.sort(list, function(a, b)
    if a.score ~= b.score then return a.score > b.score end
    return a.name < b.name
  end)
  for i = n + 1, #list do list[i] = nil end
  return list
end

-- ---- A short play session ----

local path = arg and arg[1] or "game.db"
local db = layerdb.load(path)

local ada = load_player(db, "ada") or { level = 1, x = 0, y = 0, gold = 0, sword = false }
print(("loaded ada: level %d at (%d, %d) with %d gold"):format(ada.level, ada.x, ada.y, ada.gold))

ada.level, ada.x, ada.gold = ada.level + 1, ada.x + 10, ada.gold + 25
if ada.level >= 3 then ada.sword = true end
save_player(db, "ada", ada)
db:flush() -- a checkpoint: on disk now, even if the game crashes next
print(("checkpoint: ada is level %d%s"):format(ada.level, ada.sword and ", sword in hand" or ""))

submit_score(db, "bob", 250)
submit_score(db, "cy", 180)
if submit_score(db, "ada", ada.level * 100) then print("new best score for ada") end
for rank, entry in ipairs(top_scores(db, 3)) do
  print(("%d. %-4s %d"):format(rank, entry.name, entry.score))
end

db:close()
