-- spec/command_spec.lua -- Redis commands from Lua: db:call(name, ...),
-- every command as a method, how replies become Lua values, and errors.
local layerdb = require("layerdb")
local h = require("spec.helper")

describe("Redis commands", function()
  local dir, db
  before_each(function()
    dir = h.tmpdir()
    db = layerdb.load(dir .. "/c.db")
  end)
  after_each(function()
    db:close()
    collectgarbage()
    h.rmdir(dir)
  end)

  it("db:call runs a command by name, in any case", function()
    assert.is_true(db:call("SET", "k", "v"))
    assert.equal("v", db:call("get", "k"))
    assert.equal("v", db:get("k")) -- the same keys as the plain calls
    db:set("plain", "p")
    assert.equal("p", db:call("GET", "plain"))
  end)

  it("maps replies: status OK to true, other status to text, integers, bulk, nil", function()
    assert.is_true(db:call("SET", "k", "v"))
    assert.equal("PONG", db:call("PING"))
    assert.equal("string", db:call("TYPE", "k"))
    assert.equal(1, db:call("EXISTS", "k"))
    assert.is_true(math.type == nil or math.type(db:call("DBSIZE")) == "integer")
    assert.is_nil(db:call("GET", "nope"))
  end)

  it("maps an array to a sequence, with false for a missing value", function()
    db:call("SET", "a", "1")
    db:call("SET", "c", "3")
    assert.same({ "1", false, "3" }, db:call("MGET", "a", "b", "c"))
  end)

  it("offers every command as a method", function()
    assert.is_true(db:setnx("n", 1) == 1)
    assert.equal("1", db:getset("n", 2))
    assert.equal(1, db:strlen("n"))
    assert.equal(2, db:del("n", "n", "nope") + db:unlink("nope") + 1)
    assert.equal(0, db:dbsize())
    assert.equal("hi", db:echo("hi"))
  end)

  it("raises Redis's error text for an error reply", function()
    assert.error_matches(function() db:call("GET") end,
      "^ERR wrong number of arguments for 'get' command$")
    assert.error_matches(function() db:call("FOO", "a", "b") end,
      "^ERR unknown command 'FOO', with args beginning with: 'a' 'b' $")
    assert.error_matches(function() db:nosuchcommand() end,
      "^ERR unknown command 'nosuchcommand', with args beginning with: $")
    assert.error_matches(function() db:call("SET", "k", "v", "NX", "XX") end, "^ERR syntax error$")
  end)

  it("refuses arguments that are not strings or numbers, naming them", function()
    assert.error_matches(function() db:call("SET", "k", {}) end,
      "bad argument #3 to 'call' (string expected, got table)", 1, true)
    assert.error_matches(function() db:call(nil) end, "string expected, got", 1, true)
  end)

  it("keeps what commands wrote across a reopen", function()
    db:call("SET", "a", "1")
    db:call("SET", "b", "2")
    db:call("GETDEL", "a")
    db:close()
    db = layerdb.load(dir .. "/c.db")
    assert.same({ false, "2" }, db:mget("a", "b"))
  end)

  it("raises the engine's message for a write on a read-only handle", function()
    db:set("k", "v")
    db:close()
    db = layerdb.load(dir .. "/c.db", { readonly = true })
    assert.equal("v", db:call("GET", "k"))
    assert.error_matches(function() db:call("SET", "k", "w") end, "is open read-only", 1, true)
  end)

  it("raises 'database is closed' after close", function()
    db:close()
    assert.error_matches(function() db:call("PING") end, "database is closed", 1, true)
    assert.error_matches(function() db:ping() end, "database is closed", 1, true)
  end)
end)
