-- spec/helper.lua -- shared by the specs (require("spec.helper")): where the
-- build is, temporary directories, files, and running child processes
-- (layerdb-run, or this interpreter with this module) with their output and
-- exit status. Runs under Lua 5.4 and LuaJIT alike.
local M = {}

local function trim(s) return (s:gsub("%s+$", "")) end

-- Quote s for /bin/sh.
function M.q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function slurp(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("*a")
  p:close()
  return out
end

M.root = trim(slurp("pwd"))
M.run = os.getenv("LAYERDB_RUN") or (M.root .. "/build/layerdb-run")

-- The interpreter running the specs and the directory of the module it
-- loaded, so a child process uses the same pair.
M.lua = jit and "luajit" or "lua5.4"
local so = package.searchpath("layerdb", package.cpath)
M.module_dir = so and so:match("^(.*)/[^/]*$") or "."
if M.module_dir:sub(1, 1) ~= "/" then M.module_dir = M.root .. "/" .. M.module_dir end

function M.tmpdir()
  return trim(slurp("mktemp -d /tmp/layerdb-spec-XXXXXX"))
end

function M.rmdir(dir)
  assert(dir:match("^/tmp/layerdb%-spec%-"), "refusing to remove " .. dir)
  os.execute("umount " .. M.q(dir .. "/full") .. " 2>/dev/null") -- a failed spec's tmpfs
  os.execute("rm -rf " .. M.q(dir))
end

function M.exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

function M.read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

-- Overwrite bytes of an existing file at offset, leaving the rest as it is.
function M.overwrite(path, offset, bytes)
  local f = assert(io.open(path, "r+b"))
  f:seek("set", offset)
  f:write(bytes)
  f:close()
end

function M.write(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end

-- Run a shell command; returns stdout, stderr, exit status (128+n for a
-- signal n, as the shell reports it).
function M.sh(cmd)
  local err = os.tmpname()
  local out = slurp("(" .. cmd .. ") 2>" .. M.q(err) .. "; echo \"__status=$?\"")
  local stderr = M.read(err)
  os.remove(err)
  local body, status = out:match("^(.-)__status=(%d+)\n$")
  return body, stderr, tonumber(status)
end

-- Run Lua code with layerdb-run in dir; extra is appended to the command
-- (arguments, redirections). Returns stdout, stderr, status.
function M.run_code(dir, code, extra)
  local script = dir .. "/script.lua"
  M.write(script, code)
  return M.sh("cd " .. M.q(dir) .. " && " .. M.q(M.run) .. " " .. M.q(script) .. " " .. (extra or ""))
end

-- The command that runs Lua code with this interpreter and this module.
function M.child_cmd(code)
  return "env LUA_CPATH=" .. M.q(M.module_dir .. "/?.so") .. " " .. M.lua .. " -e " .. M.q(code)
end

-- Start a simple command in the background; its stdout is read with
-- proc.pipe. The shell records the command's pid in a file and prints its
-- exit status (128+n for signal n) last; its own "Terminated" notices go
-- to /dev/null.
function M.spawn(cmd)
  local pidfile = os.tmpname()
  local p = assert(io.popen(cmd .. " & echo $! > " .. M.q(pidfile) ..
    "; exec 2>/dev/null; wait $!; echo \"__status=$?\""))
  return { pipe = p, pidfile = pidfile }
end

-- The spawned command's pid (the shell may write it after the command has
-- started printing). A loaded machine may leave the shell waiting for the
-- CPU for a while, so the wait is a minute: a guard, not a speed check.
function M.pid(proc)
  for _ = 1, 6000 do
    local pid = tonumber(M.read(proc.pidfile):match("%d+") or "")
    if pid then return pid end
    os.execute("sleep 0.01")
  end
  error("no pid from the spawned command")
end

function M.kill(proc, signame)
  os.execute("kill -" .. signame .. " " .. M.pid(proc) .. " 2>/dev/null")
end

-- Read the command's stdout up to (and including) a line equal to want.
function M.wait_line(proc, want)
  for line in proc.pipe:lines() do
    if line == want then return true end
  end
  return false
end

-- Wait for the command to end; returns the rest of its stdout and its
-- exit status.
function M.finish(proc)
  local out = proc.pipe:read("*a")
  proc.pipe:close()
  os.remove(proc.pidfile)
  local body, status = out:match("^(.-)__status=(%d+)\n$")
  return body, tonumber(status)
end

-- Mount a 1 MiB tmpfs at dir/full (needs root); returns its path or nil.
function M.mount_full(dir)
  local path = dir .. "/full"
  os.execute("mkdir -p " .. M.q(path))
  local _, _, status = M.sh("mount -t tmpfs -o size=1m tmpfs " .. M.q(path))
  return status == 0 and path or nil
end

function M.umount(path)
  if path then os.execute("umount " .. M.q(path)) end
end

return M
