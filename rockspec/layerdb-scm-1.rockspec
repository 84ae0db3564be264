-- rockspec/layerdb-scm-1.rockspec -- the layerdb rock: the C module
-- (require("layerdb")) and the layerdb-run host, built by lua.mk's `rock`
-- and `rock-install` targets. From the repository root:
--
--   luarocks --lua-version 5.4 make rockspec/layerdb-scm-1.rockspec
--   luarocks --lua-version 5.4 --tree /tmp/t make rockspec/layerdb-scm-1.rockspec
--
-- It needs a C compiler, make, and libxxhash (Debian: libxxhash-dev); it
-- fetches nothing. layerdb-run embeds Lua 5.4 (liblua5.4-dev): for a rock
-- built for Lua 5.1 or LuaJIT it is installed only if Lua 5.4 is there too.
rockspec_format = "3.0"
package = "layerdb"
version = "scm-1"

source = {
   -- A placeholder until the repository is public: `luarocks make` builds
   -- the checked-out tree and never fetches it. Set the real URL before
   -- uploading to luarocks.org.
   url = "git+https://example.invalid/layerdb.git",
}

description = {
   summary = "An embedded key-value database: Lua strings to Lua strings, on disk",
   detailed = [[
layerdb keeps its data in memory and appends every write to a log file
from a background thread, so a write never waits on the disk. Load a file
with layerdb.load("game.db"), then db:set, db:get, db:remove, db:close.
The rock also installs layerdb-run, a Lua 5.4 host with layerdb built in.
]],
   license = "MIT",
   labels = { "database", "key-value", "storage", "gamedev" },
}

dependencies = {
   "lua >= 5.1, < 5.5",
}

external_dependencies = {
   XXHASH = {
      header = "xxhash.h",
      library = "xxhash",
   },
}

build = {
   type = "make",
   build_target = "rock",
   build_variables = {
      B = "build/rock",
      CC = "$(CC)",
      CFLAGS = "$(CFLAGS)",
      LUA_INCDIR = "$(LUA_INCDIR)",
      DEP_CFLAGS = "-I$(XXHASH_INCDIR)",
      DEP_LIBS = "-L$(XXHASH_LIBDIR) -lxxhash",
   },
   install_target = "rock-install",
   install_variables = {
      B = "build/rock",
      LUA_INCDIR = "$(LUA_INCDIR)",
      INST_LIBDIR = "$(LIBDIR)",
      INST_BINDIR = "$(BINDIR)",
   },
   copy_directories = { "examples" },
}
