-- spec/version_spec.lua -- which Lua runs the specs, and the version the
-- module and layerdb-run report.
local layerdb = require("layerdb")
local h = require("spec.helper")

-- The version in the C header, the one source of truth.
local function header_version()
  return h.read(h.root .. "/src/layerdb.h"):match('#define LAYERDB_VERSION "([^"]+)"')
end

describe("the interpreter", function()
  it("is the Lua the TAP script asked for (Lua 5.4 unless told otherwise or LuaJIT)", function()
    -- Debian's plain `busted` runs Lua 5.1: this catches a run under it.
    assert.equal(os.getenv("LAYERDB_EXPECT_LUA") or (jit and "Lua 5.1" or "Lua 5.4"), _VERSION)
  end)

  it("is LuaJIT exactly when the TAP script says so", function()
    local want = os.getenv("LAYERDB_EXPECT_JIT") or (jit and "1" or "0")
    assert.equal(want == "1", jit ~= nil)
  end)
end)

describe("layerdb._VERSION and layerdb.version", function()
  it("match LAYERDB_VERSION in src/layerdb.h", function()
    local v = header_version()
    assert.truthy(v)
    assert.equal(v, layerdb.version)
    assert.equal("layerdb " .. v, layerdb._VERSION)
  end)
end)

describe("layerdb-run --version", function()
  it("prints its version and the Lua it embeds", function()
    local out, _, status = h.sh(h.q(h.run) .. " --version")
    assert.equal(0, status)
    local v = header_version():gsub("%p", "%%%0")
    assert.truthy(out:match("^layerdb%-run " .. v .. " %(Lua 5%.4%.%d+%)\n$"), out)
  end)
end)
