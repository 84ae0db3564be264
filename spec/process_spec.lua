-- spec/process_spec.lua -- several processes on one file: data handed from
-- one process to the next, a process killed with SIGKILL after db:flush(),
-- two processes opening the same file, and persistence = false. Children
-- are layerdb-run and this interpreter with this module.
local layerdb = require("layerdb")
local h = require("spec.helper")

-- The two ways a child runs Lua code: name, command for a code string.
local children = {
  { "layerdb-run", function(code) return h.q(h.run) .. " -e " .. h.q(code) end },
  { h.lua .. " with the module", h.child_cmd },
}

describe("processes", function()
  local dir
  before_each(function() dir = h.tmpdir() end)
  after_each(function() collectgarbage(); h.rmdir(dir) end)

  local function in_dir(cmd) return "cd " .. h.q(dir) .. " && exec " .. cmd end

  it("data written by one layerdb-run process is read by the next", function()
    local run = function(code) return h.sh(in_dir(h.q(h.run) .. " -e " .. h.q(code))) end
    local _, _, s1 = run("local db = require('layerdb').load('p.db') for i = 1, 1000 do db:set('k' .. i, 'v' .. i) end")
    local _, _, s2 = run("local db = require('layerdb').load('p.db') db:remove('k1') db:set('k2', 'changed')")
    local out, _, s3 = run("local db = require('layerdb').load('p.db') print(#db, db:get('k1'), db:get('k2'), db:get('k1000'))")
    assert.same({ 0, 0, 0 }, { s1, s2, s3 })
    assert.equal("999\tnil\tchanged\tv1000\n", out)
  end)

  for _, child in ipairs(children) do
    it("a child (" .. child[1] .. ") killed with SIGKILL after db:flush() loses nothing", function()
      for _, policy in ipairs({ "no", "everysec" }) do
        local path = dir .. "/" .. policy .. ".db"
        local code = ([[
          local db = require("layerdb").load(%q, { fsync = %q })
          for i = 1, 5000 do db:set("k" .. i, string.rep("v", 100) .. i) end
          db:remove("k1")
          db:flush()
          print("flushed")
          io.stdout:flush()
          local i = 0
          while true do i = i + 1; db:set("after" .. i, string.rep("w", 100)) end
        ]]):format(path, policy)
        local proc = h.spawn(child[2](code))
        assert.is_true(h.wait_line(proc, "flushed"))
        h.kill(proc, "KILL")
        local _, status = h.finish(proc)
        assert.equal(128 + 9, status)
        local db = layerdb.load(path) -- a torn tail is cut, not an error
        assert.is_nil(db:get("k1"))
        for i = 2, 5000 do
          assert.equal(string.rep("v", 100) .. i, db:get("k" .. i))
        end
        db:close()
      end
    end)

    it("a second process (" .. child[1] .. ") opening a file in use gets the 'in use' error", function()
      local path = dir .. "/busy.db"
      local stop = dir .. "/stop"
      local holder = h.spawn(child[2](([[
        local db = require("layerdb").load(%q)
        db:set("owner", "first")
        print("open")
        io.stdout:flush()
        while not io.open(%q) do os.execute("sleep 0.02") end
        db:close()
      ]]):format(path, stop)))
      assert.is_true(h.wait_line(holder, "open"))
      local _, err, status = h.sh(child[2](("require('layerdb').load(%q)"):format(path)))
      assert.are_not.equal(0, status)
      assert.truthy(err:find("database file '" .. path .. "' is in use by process " .. h.pid(holder), 1, true), err)
      h.write(stop, "")
      local _, holder_status = h.finish(holder)
      assert.equal(0, holder_status)
      local out = h.sh(child[2](("print(require('layerdb').load(%q):get('owner'))"):format(path)))
      assert.equal("first\n", out)
    end)

    it("a process (" .. child[1] .. ") with persistence = false leaves no file behind", function()
      local path = dir .. "/mem.db"
      local _, _, status = h.sh(child[2](([[
        local db = require("layerdb").load(%q, { persistence = false })
        for i = 1, 1000 do db:set("k" .. i, "v") end
        assert(#db == 1000)
      ]]):format(path)))
      assert.equal(0, status)
      assert.is_false(h.exists(path))
      assert.equal("", (h.sh("ls -A " .. h.q(dir))))
    end)
  end
end)
