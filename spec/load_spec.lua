-- spec/load_spec.lua -- layerdb.load(path [, opts]): creating, reopening,
-- in-memory databases, and every option with its errors.
local layerdb = require("layerdb")
local h = require("spec.helper")

describe("layerdb.load", function()
  local dir
  before_each(function() dir = h.tmpdir() end)
  after_each(function() collectgarbage(); h.rmdir(dir) end)

  it("creates an empty database file when the file does not exist", function()
    local db = layerdb.load(dir .. "/new.db")
    assert.equal(0, db:len())
    assert.is_true(db:close())
    assert.is_true(h.exists(dir .. "/new.db"))
  end)

  it("loads what an earlier handle on the same file wrote", function()
    local db = layerdb.load(dir .. "/a.db")
    db:set("player", "ada")
    db:close()
    local again = layerdb.load(dir .. "/a.db")
    assert.equal("ada", again:get("player"))
    assert.equal(1, #again)
    again:close()
  end)

  it("with no path gives a database in memory that writes nothing", function()
    local db = layerdb.load()
    assert.is_true(db:set("k", "v"))
    assert.equal("v", db:get("k"))
    assert.is_false(db:info().persistent)
    assert.is_true(db:flush())
    db:close()
  end)

  it("accepts nil as the path, with options", function()
    local db = layerdb.load(nil, { fsync = "always" })
    db:set("k", "v")
    assert.equal("v", db:get("k"))
    db:close()
  end)

  it("with persistence = false leaves no file behind", function()
    local path = dir .. "/mem.db"
    local db = layerdb.load(path, { persistence = false })
    for i = 1, 100 do db:set("k" .. i, "v") end
    assert.equal(100, #db)
    db:close()
    assert.is_false(h.exists(path))
  end)

  it("with persistence = false reads an existing file and never changes it", function()
    local path = dir .. "/keep.db"
    local db = layerdb.load(path)
    db:set("saved", "yes")
    db:close()
    local before = h.read(path)
    local mem = layerdb.load(path, { persistence = false })
    assert.equal("yes", mem:get("saved"))
    mem:set("saved", "changed")
    mem:set("other", "x")
    mem:close()
    assert.equal(before, h.read(path))
  end)

  it("persists under every fsync policy", function()
    for _, policy in ipairs({ "always", "everysec", "no" }) do
      local path = dir .. "/" .. policy .. ".db"
      local db = layerdb.load(path, { fsync = policy })
      db:set("policy", policy)
      db:close()
      local again = layerdb.load(path)
      assert.equal(policy, again:get("policy"))
      again:close()
    end
  end)

  it("with readonly = true reads the file and refuses writes", function()
    local path = dir .. "/ro.db"
    local db = layerdb.load(path)
    db:set("k", "v")
    db:close()
    local ro = layerdb.load(path, { readonly = true })
    assert.equal("v", ro:get("k"))
    assert.error_matches(function() ro:set("k", "w") end, "read-only", 1, true)
    assert.error_matches(function() ro:remove("k") end, "read-only", 1, true)
    assert.equal("v", ro:get("k"))
    ro:close()
  end)

  it("with readonly = true fails on a missing file instead of creating it", function()
    local path = dir .. "/missing.db"
    assert.error_matches(function() layerdb.load(path, { readonly = true }) end,
      "No such file or directory", 1, true)
    assert.is_false(h.exists(path))
  end)

  it("with repair = true truncates a file damaged before its tail", function()
    local path = dir .. "/bad.db"
    local db = layerdb.load(path)
    for i = 1, 100 do db:set("key" .. i, string.rep("v", 50)) end
    db:close()
    h.overwrite(path, 100, "\255\255")
    assert.error_matches(function() layerdb.load(path) end, "bad checksum in record at offset", 1, true)
    local repaired = layerdb.load(path, { repair = true })
    assert.is_true(repaired:info().dropped_bytes > 0)
    assert.is_true(#repaired < 100)
    repaired:close()
  end)

  it("with a small max_pending_bytes still stores every write", function()
    local path = dir .. "/small.db"
    local db = layerdb.load(path, { max_pending_bytes = 4096 })
    for i = 1, 2000 do db:set("k" .. i, string.rep("x", 100)) end
    db:close()
    local again = layerdb.load(path)
    assert.equal(2000, #again)
    again:close()
  end)

  it("rejects an unknown option, naming it and the known ones", function()
    assert.error_matches(function() layerdb.load(dir .. "/x.db", { fsynk = "always" }) end,
      "unknown option 'fsynk'; the options are persistence, fsync, readonly, repair, max_pending_bytes",
      1, true)
    assert.is_false(h.exists(dir .. "/x.db"))
  end)

  it("rejects option values of the wrong type or range, naming the option", function()
    local cases = {
      { { persistence = "off" }, "option 'persistence' must be a boolean, got 'off'" },
      { { persistence = 0 }, "option 'persistence' must be a boolean, got 0" },
      { { fsync = "sometimes" }, "option 'fsync' must be 'always', 'everysec' or 'no', got 'sometimes'" },
      { { fsync = true }, "option 'fsync' must be 'always', 'everysec' or 'no', got boolean" },
      { { readonly = "yes" }, "option 'readonly' must be a boolean, got 'yes'" },
      { { repair = 1 }, "option 'repair' must be a boolean, got 1" },
      { { max_pending_bytes = 0 }, "option 'max_pending_bytes' must be a positive integer (bytes), got 0" },
      { { max_pending_bytes = 1.5 }, "option 'max_pending_bytes' must be a positive integer (bytes), got 1.5" },
      { { max_pending_bytes = "4096" }, "option 'max_pending_bytes' must be a positive integer (bytes), got '4096'" },
      { { [1] = "always" }, "option names must be strings, got number" },
    }
    for _, case in ipairs(cases) do
      assert.error_matches(function() layerdb.load(dir .. "/x.db", case[1]) end,
        "bad argument #2 to '[%w%.%?]+' %(" .. case[2]:gsub("%p", "%%%0"))
    end
    assert.is_false(h.exists(dir .. "/x.db"))
  end)

  it("rejects options that are not a table", function()
    assert.error_matches(function() layerdb.load(dir .. "/x.db", "fsync=always") end,
      "(table expected, got string)", 1, true)
  end)

  it("rejects a path that is not a string, or holds a zero byte", function()
    assert.error_matches(function() layerdb.load({}) end, "(string expected, got table)", 1, true)
    assert.error_matches(function() layerdb.load(dir .. "/a\0b.db") end, "path contains a zero byte", 1, true)
  end)

  it("reports a file that is not a layerdb file, and leaves it alone", function()
    local path = dir .. "/notes.txt"
    local text = string.rep("not a database\n", 20)
    h.write(path, text)
    assert.error_matches(function() layerdb.load(path) end, "is not a layerdb file", 1, true)
    assert.equal(text, h.read(path))
  end)

  it("refuses a directory, a FIFO or a device at once, naming what it is", function()
    assert.error_matches(function() layerdb.load(dir) end,
      "'" .. dir .. "' is not a regular file (it is a directory)", 1, true)
    assert.error_matches(function() layerdb.load("/dev/null", { readonly = true }) end,
      "'/dev/null' is not a regular file (it is a character device)", 1, true)
    -- A FIFO once could block the open for good: try it in a child that a
    -- timeout kills, so a regression fails here instead of hanging busted.
    local fifo = dir .. "/pipe.db"
    assert.equal(0, select(3, h.sh("mkfifo " .. h.q(fifo))))
    for _, opts in ipairs({ "{}", "{ readonly = true }", "{ persistence = false }" }) do
      local code = "local ok, err = pcall(require('layerdb').load, " .. string.format("%q", fifo) ..
        ", " .. opts .. ") print(ok, err)"
      local out, _, status = h.sh("timeout -s KILL 60 " .. h.child_cmd(code))
      assert.equal(0, status)
      assert.truthy(out:find("false\t.*is not a regular file %(it is a FIFO%)"), out)
    end
  end)

  it("reports a missing parent directory or a file used as a directory with the errno text", function()
    assert.error_matches(function() layerdb.load(dir .. "/no/such/dir.db") end,
      "open '" .. dir .. "/no/such/dir.db': No such file or directory", 1, true)
    h.write(dir .. "/notes.txt", "text")
    assert.error_matches(function() layerdb.load(dir .. "/notes.txt/game.db") end,
      "open '" .. dir .. "/notes.txt/game.db': Not a directory", 1, true)
  end)

  it("follows a dangling symbolic link and creates the file at its target", function()
    local link, target = dir .. "/save.db", dir .. "/real.db"
    assert.equal(0, select(3, h.sh("ln -s " .. h.q(target) .. " " .. h.q(link))))
    local db = layerdb.load(link)
    db:set("k", "v")
    db:close()
    assert.equal("link", h.sh("test -L " .. h.q(link) .. " && echo link"):match("%a+"))
    assert.equal("v", layerdb.load(target):get("k"))
  end)
end)
