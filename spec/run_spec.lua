-- spec/run_spec.lua -- the layerdb-run host: scripts and their arguments,
-- -e, standard input, the prompt, --help/--version, errors and exit status,
-- and open databases flushed and closed on every way out.
local h = require("spec.helper")

local RUN = h.q(h.run)

describe("layerdb-run", function()
  local dir
  before_each(function() dir = h.tmpdir() end)
  after_each(function() h.rmdir(dir) end)

  -- Does the database in dir/name hold key = want? Read by a new process.
  local function stored(name, key)
    local out = h.sh("cd " .. h.q(dir) .. " && " .. RUN .. " -e " ..
      h.q("io.write(require('layerdb').load('" .. name .. "'):get('" .. key .. "') or 'nil')"))
    return out
  end

  describe("running scripts", function()
    it("has layerdb built in: require works with no LUA_CPATH set up", function()
      local out, err, status = h.sh("env LUA_CPATH='/nonexistent/?.so' LUA_CPATH_5_4='/nonexistent/?.so' " ..
        RUN .. " -e 'print(require(\"layerdb\")._VERSION)'")
      assert.equal("", err)
      assert.equal(0, status)
      assert.truthy(out:match("^layerdb %d+%.%d+%.%d+\n$"))
    end)

    it("runs a script with 'arg' and '...' as lua does", function()
      local out, _, status = h.run_code(dir,
        "print(arg[0]:match('[^/]*$'), arg[1], arg[2], #arg, select('#', ...), ...)",
        "'one two' three")
      assert.equal(0, status)
      assert.equal("script.lua\tone two\tthree\t2\t2\tone two\tthree\n", out)
    end)

    it("puts the host and its options at negative indices of 'arg'", function()
      h.write(dir .. "/s.lua", "print(arg[-3] == " .. string.format("%q", h.run) .. ", arg[-2], arg[-1])")
      local out = h.sh(RUN .. " -e 'x = 1' " .. h.q(dir .. "/s.lua"))
      assert.equal("true\t-e\tx = 1\n", out)
    end)

    it("runs -e code in order, before the script", function()
      h.write(dir .. "/s.lua", "print(x)")
      local out, _, status = h.sh(RUN .. " -e 'x = 1' -e 'x = x * 10' " .. h.q(dir .. "/s.lua"))
      assert.equal(0, status)
      assert.equal("10\n", out)
    end)

    it("runs the script from standard input with '-', arguments included", function()
      local out, _, status = h.sh("echo 'print(\"stdin\", ...)' | " .. RUN .. " - a b")
      assert.equal(0, status)
      assert.equal("stdin\ta\tb\n", out)
    end)

    it("runs standard input when there is no script and it is not a terminal", function()
      local out, _, status = h.sh("echo 'print(6 * 7)' | " .. RUN)
      assert.equal(0, status)
      assert.equal("42\n", out)
    end)

    it("stops handling options after '--'", function()
      h.write(dir .. "/-e", "print('a script named -e', ...)")
      local out, _, status = h.sh("cd " .. h.q(dir) .. " && " .. RUN .. " -- -e x")
      assert.equal(0, status)
      assert.equal("a script named -e\tx\n", out)
    end)
  end)

  describe("the interactive prompt", function()
    it("opens with -i after the script, printing values and surviving errors", function()
      h.write(dir .. "/s.lua", "answer = 42")
      local input = "answer\nerror('oops')\nfor i = 1, 2 do\nprint(i)\nend\nanswer + 1\n"
      local out, err, status = h.sh("printf '%s' " .. h.q(input) .. " | " .. RUN .. " -i " .. h.q(dir .. "/s.lua"))
      assert.equal(0, status)
      assert.truthy(out:find("42\n", 1, true))
      assert.truthy(out:find("1\n2\n", 1, true))
      assert.truthy(out:find("43\n", 1, true))
      assert.truthy(err:find("stdin:1: oops", 1, true))
    end)

    it("opens on a terminal when there is no script", function()
      if h.sh("command -v script") == "" then
        return pending("no script(1) to give layerdb-run a terminal")
      end
      -- Keep the terminal's input open until the answer is in the
      -- typescript (up to a minute: a guard, not a speed check), so a slow
      -- start cannot see the input end before it read the line.
      local ts = dir .. "/typescript"
      local out = h.sh("(printf '6 * 7\\n'; i=0; while [ $i -lt 6000 ] && ! grep -qE '(^|> )42' " .. h.q(ts) ..
        " 2>/dev/null; do sleep 0.01; i=$((i+1)); done) | script -qfec " .. RUN .. " " .. h.q(ts) ..
        " >/dev/null; cat " .. h.q(ts))
      -- The terminal echoes the typed line before the prompt ("6 * 7",
      -- "> 42") or after it ("> 6 * 7", "42"): whichever came first.
      assert.truthy(out:find("^> ") or out:find("\n> "), out)
      assert.truthy(out:find("> 42", 1, true) or out:find("6 %* 7\r?\n42"), out)
    end)
  end)

  describe("options", function()
    it("--help and -h print the usage and exit 0", function()
      for _, opt in ipairs({ "--help", "-h" }) do
        local out, _, status = h.sh(RUN .. " " .. opt)
        assert.equal(0, status)
        assert.truthy(out:find("usage: layerdb-run [options] [script [args...]]", 1, true))
        assert.truthy(out:find("-e code", 1, true))
      end
    end)

    it("an unknown option says what is allowed and exits 1", function()
      local out, err, status = h.sh(RUN .. " --frobnicate x.lua")
      assert.equal(1, status)
      assert.equal("", out)
      assert.truthy(err:find("layerdb-run: unknown option '--frobnicate'", 1, true))
      assert.truthy(err:find("usage: layerdb-run", 1, true))
      assert.truthy(err:find("-i ", 1, true))
    end)

    it("-e without code says so and exits 1", function()
      local _, err, status = h.sh(RUN .. " -e")
      assert.equal(1, status)
      assert.truthy(err:find("'-e' needs an argument", 1, true))
    end)
  end)

  describe("script errors", function()
    it("print the message and a traceback to stderr and exit 1", function()
      local out, err, status = h.run_code(dir,
        "print('before')\nlocal function inner() error('boom') end\ninner()\nprint('after')")
      assert.equal(1, status)
      assert.equal("before\n", out)
      assert.truthy(err:find("^layerdb%-run: [^\n]*script%.lua:2: boom\nstack traceback:\n"), err)
      assert.truthy(err:find("in local 'inner'", 1, true) or err:find("in function 'inner'", 1, true), err)
    end)

    it("report a syntax error with its line and exit 1", function()
      local _, err, status = h.run_code(dir, "local x = = 1")
      assert.equal(1, status)
      assert.truthy(err:find("script.lua:1:", 1, true))
    end)

    it("report a missing script and exit 1", function()
      local _, err, status = h.sh(RUN .. " " .. h.q(dir .. "/missing.lua"))
      assert.equal(1, status)
      assert.truthy(err:find("cannot open " .. dir .. "/missing.lua", 1, true))
    end)

    it("report an error object that is not a string by its type", function()
      local _, err, status = h.run_code(dir, "error({})")
      assert.equal(1, status)
      assert.truthy(err:find("(error object is a table value)", 1, true))
    end)
  end)

  describe("an open database", function()
    -- A script that sets many keys, never closes its database, and leaves
    -- a marker from a Lua finalizer, which runs only when the host closes
    -- the state.
    local function writer_script(after)
      return [[
        setmetatable({}, { __gc = function() io.open("closed.marker", "w"):close() end })
        local db = require("layerdb").load("w.db", { fsync = "no" })
        for i = 1, 20000 do db:set("k" .. i, string.rep("v", 50)) end
        db:set("last", "20000")
      ]] .. after
    end

    it("is flushed and closed when the script ends normally", function()
      local _, _, status = h.run_code(dir, writer_script(""))
      assert.equal(0, status)
      assert.equal("20000", stored("w.db", "last"))
      assert.is_true(h.exists(dir .. "/closed.marker"))
    end)

    it("is flushed and closed when the script fails", function()
      local _, err, status = h.run_code(dir, writer_script("error('late failure')"))
      assert.equal(1, status)
      assert.truthy(err:find("late failure", 1, true))
      assert.equal("20000", stored("w.db", "last"))
      assert.is_true(h.exists(dir .. "/closed.marker"))
    end)

    it("is flushed and closed on os.exit, which keeps its exit code", function()
      local _, _, status = h.run_code(dir, writer_script("os.exit(3)"))
      assert.equal(3, status)
      assert.equal("20000", stored("w.db", "last"))
      assert.is_true(h.exists(dir .. "/closed.marker"))
      _, _, status = h.run_code(dir, "os.exit(false)")
      assert.equal(1, status)
    end)

    for _, case in ipairs({ { "TERM", "SIGTERM", 143 }, { "INT", "SIGINT", 130 } }) do
      it("is flushed and closed when the host gets " .. case[2] .. ", even in a pcall loop", function()
        h.write(dir .. "/script.lua", writer_script([[
          local i = 0
          while true do -- pcall must not swallow the interrupt
            pcall(function() i = i + 1; db:set("k" .. i, "x"); db:set("n", tostring(i)) end)
            if i == 1 then print("ready") io.stdout:flush() end -- after a whole turn
          end
        ]]))
        local proc = h.spawn("cd " .. h.q(dir) .. " && exec " .. RUN .. " script.lua 2>err.txt")
        assert.is_true(h.wait_line(proc, "ready"))
        h.kill(proc, case[1])
        local _, status = h.finish(proc)
        assert.equal(case[3], status)
        assert.truthy(h.read(dir .. "/err.txt"):find("interrupted by " .. case[2], 1, true))
        assert.is_true(h.exists(dir .. "/closed.marker"))
        local n = stored("w.db", "n")
        assert.truthy(tonumber(n), n)
        assert.equal("x", stored("w.db", "k" .. n)) -- the last write before the signal
      end)
    end

    it("ends on SIGTERM even inside a C call that never returns, and the file still opens", function()
      -- os.execute waits in system(), which the hook cannot interrupt: the
      -- grace alarm ends the process with the signal instead.
      h.write(dir .. "/script.lua", [[
        local db = require("layerdb").load("w.db")
        db:set("before", "flushed")
        db:flush()
        print("ready")
        io.stdout:flush()
        -- (the shell lets go of our stdout, or the spec's read of it
        -- would wait for the sleep)
        os.execute("exec >/dev/null 2>&1; sleep 120 & echo $! > sleep.pid; wait")
        print("the C call returned")
      ]])
      local proc = h.spawn("cd " .. h.q(dir) .. " && exec " .. RUN .. " script.lua 2>err.txt")
      assert.is_true(h.wait_line(proc, "ready"))
      -- Signal only once the script is inside os.execute: sleep.pid is
      -- written from there.
      local sleeper
      for _ = 1, 6000 do
        sleeper = h.exists(dir .. "/sleep.pid") and h.read(dir .. "/sleep.pid"):match("%d+")
        if sleeper then break end
        os.execute("sleep 0.01")
      end
      assert.truthy(sleeper, "the script never reached os.execute")
      h.kill(proc, "TERM")
      local out, status = h.finish(proc)
      os.execute("kill " .. sleeper .. " 2>/dev/null")
      assert.equal(143, status)
      assert.falsy(out:find("the C call returned", 1, true))
      assert.truthy(h.read(dir .. "/err.txt"):find("s after the signal", 1, true))
      assert.equal("flushed", stored("w.db", "before"))
    end)

    it("that cannot be closed (disk full) makes the exit status 1 with a warning", function()
      local full = h.mount_full(dir)
      if not full then return pending("cannot mount a 1 MiB tmpfs here (needs root)") end
      local _, err, status = h.run_code(dir, [[
        local db = require("layerdb").load("full/w.db")
        for i = 1, 30 do
          if not pcall(db.set, db, "k" .. i, string.rep("x", 100000)) then break end
        end
      ]])
      h.umount(full)
      assert.equal(1, status)
      assert.truthy(err:find("layerdb-run: warning: layerdb: closing a database failed: ", 1, true), err)
      assert.truthy(err:find("No space left on device", 1, true))
    end)
  end)
end)
