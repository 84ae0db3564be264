# lua.mk -- the Lua side of the build, included by the Makefile: the Lua 5.4
# and LuaJIT modules, the layerdb-run host, the targets LuaRocks calls, and
# the Lua benchmark.
#
#   make lua          build/lua54/layerdb.so   require("layerdb") for lua5.4
#                     build/luajit/layerdb.so  the same source for LuaJIT 2.1,
#                                              when LuaJIT's headers are present
#                     build/layerdb-run        Lua 5.4 host, layerdb built in
#   make install-lua  (part of make install) those three into BINDIR,
#                     LUA_CMODDIR and LUAJIT_CMODDIR; uninstall-lua removes them
#   make lua-check    the busted specs (Lua 5.4, LuaJIT) and the rockspec, as
#                     TAP (scripts/tap-lua54.sh, tap-luajit.sh, tap-rockspec.sh)
#   make lua-bench    bench/lua_bench.lua: set/get per second for 1M keys,
#                     layerdb against a plain Lua table, under Lua 5.4 and
#                     then LuaJIT (LUA_BENCH_KEYS=N for fewer keys)
#   make rock         what rockspec/layerdb-scm-1.rockspec builds (LuaRocks
#   make rock-install passes LUA_INCDIR, INST_LIBDIR and INST_BINDIR)
#
# Every module links the engine objects $(LIB_OBJ) (built -fPIC and
# -fvisibility=hidden; the binding exports luaopen_layerdb alone) and not
# liblua: the interpreter that loads it provides the Lua API.

LUA54_CFLAGS := $(shell pkg-config --cflags lua5.4 2>/dev/null || echo -I/usr/include/lua5.4)
LUA54_LIBS := $(shell pkg-config --libs lua5.4 2>/dev/null || echo -llua5.4)
LUAJIT_CFLAGS := $(shell pkg-config --cflags luajit 2>/dev/null || echo -I/usr/include/luajit-2.1)
HAVE_LUAJIT := $(shell pkg-config --exists luajit 2>/dev/null && echo yes)
LUAJIT_MOD := $(if $(HAVE_LUAJIT),$(B)/luajit/layerdb.so)
LUA_BENCH_KEYS ?= 1000000

.PHONY: lua lua-check lua-bench rock rock-install install-lua uninstall-lua

lua: $(B)/lua54/layerdb.so $(LUAJIT_MOD) $(B)/layerdb-run
	$(if $(HAVE_LUAJIT),,@echo "note: no LuaJIT headers (pkg-config luajit): the LuaJIT module is not built")

$(B)/lua54 $(B)/luajit:
	mkdir -p $@

$(B)/lua54/%.o: src/%.c src/*.h | $(B)/lua54
	$(CC) $(ALL_CFLAGS) $(LUA54_CFLAGS) -c $< -o $@

$(B)/luajit/%.o: src/%.c src/*.h | $(B)/luajit
	$(CC) $(ALL_CFLAGS) $(LUAJIT_CFLAGS) -c $< -o $@

$(B)/lua54/layerdb.so: $(B)/lua54/lua_layerdb.o $(LIB_OBJ)
	$(CC) $(CFLAGS) -shared -o $@ $^ $(LIBS)

$(B)/luajit/layerdb.so: $(B)/luajit/lua_layerdb.o $(LIB_OBJ)
	$(CC) $(CFLAGS) -shared -o $@ $^ $(LIBS)

$(B)/layerdb-run: $(B)/lua54/layerdb_run.o $(B)/lua54/lua_layerdb.o $(LIB_OBJ)
	$(CC) $(CFLAGS) -o $@ $^ $(LUA54_LIBS) $(LIBS)

install-lua: lua
	install -d '$(DESTDIR)$(BINDIR)' '$(DESTDIR)$(LUA_CMODDIR)'
	install -m 755 $(B)/layerdb-run '$(DESTDIR)$(BINDIR)/layerdb-run'
	install -m 755 $(B)/lua54/layerdb.so '$(DESTDIR)$(LUA_CMODDIR)/layerdb.so'
	$(if $(HAVE_LUAJIT),install -d '$(DESTDIR)$(LUAJIT_CMODDIR)' && \
	    install -m 755 $(LUAJIT_MOD) '$(DESTDIR)$(LUAJIT_CMODDIR)/layerdb.so')

uninstall-lua:
	rm -f '$(DESTDIR)$(BINDIR)/layerdb-run' '$(DESTDIR)$(LUA_CMODDIR)/layerdb.so' \
	    '$(DESTDIR)$(LUAJIT_CMODDIR)/layerdb.so'

lua-check: lua
	scripts/tap-lua54.sh
	scripts/tap-luajit.sh
	scripts/tap-rockspec.sh

lua-bench: lua
	LUA_CPATH='$(B)/lua54/?.so' LUA_BENCH_KEYS=$(LUA_BENCH_KEYS) lua5.4 bench/lua_bench.lua
	@echo
	LUA_CPATH='$(B)/luajit/?.so' LUA_BENCH_KEYS=$(LUA_BENCH_KEYS) luajit bench/lua_bench.lua

# ---- LuaRocks (build type "make") ----
# The rockspec runs `make rock` and `make rock-install` with B=build/rock,
# its CC and CFLAGS, LUA_INCDIR of the Lua the rock is for (5.4, 5.1 or
# LuaJIT) and the install directories. The module goes in a directory named
# after that Lua's headers, so rocks for two Luas never share an object.
# layerdb-run always embeds Lua 5.4; without Lua 5.4's headers it is left
# out, with a note.
LUA_INCDIR ?= $(patsubst -I%,%,$(firstword $(LUA54_CFLAGS)))
ROCK_MOD := $(B)/rock-$(notdir $(LUA_INCDIR))
HAVE_LUA54 := $(shell pkg-config --exists lua5.4 2>/dev/null && echo yes)
ROCK_BIN := $(if $(HAVE_LUA54),$(B)/layerdb-run)

$(ROCK_MOD):
	mkdir -p $@

$(ROCK_MOD)/lua_layerdb.o: src/lua_layerdb.c src/*.h | $(ROCK_MOD)
	$(CC) $(ALL_CFLAGS) -I$(LUA_INCDIR) -c $< -o $@

$(ROCK_MOD)/layerdb.so: $(ROCK_MOD)/lua_layerdb.o $(LIB_OBJ)
	$(CC) $(CFLAGS) -shared -o $@ $^ $(LIBS)

rock: $(ROCK_MOD)/layerdb.so $(ROCK_BIN)
	$(if $(ROCK_BIN),,@echo "note: no Lua 5.4 (pkg-config lua5.4): layerdb-run not built")

rock-install: rock
	install -d '$(INST_LIBDIR)'
	install -m 755 $(ROCK_MOD)/layerdb.so '$(INST_LIBDIR)/layerdb.so'
	$(if $(ROCK_BIN),install -d '$(INST_BINDIR)' && \
	    install -m 755 $(ROCK_BIN) '$(INST_BINDIR)/layerdb-run')
