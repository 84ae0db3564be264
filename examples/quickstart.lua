-- examples/quickstart.lua -- layerdb in a minute: load, set, get, remove,
-- close, then load the file again to see the data survived.
--
--   build/layerdb-run examples/quickstart.lua [file]   (default quickstart.db)
--
-- Run it twice: the "runs" counter comes back from the file each time.
local layerdb = require("layerdb")

local path = arg and arg[1] or "quickstart.db"

local db = layerdb.load(path) -- opens the file, or creates an empty one
db:set("greeting", "hello, layerdb")
db:set("temp", "soon gone")
local runs = tonumber(db:get("runs") or "0") + 1
db:set("runs", runs) -- numbers are stored as their string form

print("greeting: " .. db:get("greeting"))
print("removed:  " .. db:remove("temp")) -- remove returns the old value
print("temp:     " .. tostring(db:get("temp"))) -- nil: it is gone
db:close() -- flushes to disk and stops the writer thread

local again = layerdb.load(path)
print(("reopened %s: %d keys, runs = %s"):format(path, #again, again:get("runs")))
again:close()
