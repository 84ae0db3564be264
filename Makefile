# Makefile -- builds liblayerdb (static and shared), the Lua modules,
# layerdb-run, the admin tool layerdb, the tests and the benchmarks.
#
#   make                 the libraries, the Lua 5.4 module, the LuaJIT module
#                        (when LuaJIT's headers are present), layerdb-run and
#                        the admin tool layerdb (check, repair, compact,
#                        stats, export, import; src/tool/), all in build/
#   make check           every test suite, plain and under ASan+UBSan and TSan;
#                        ends with one line "N passed, N failed"
#   make bench           the benchmark tables (bench/)
#   make install         PREFIX=/usr/local by default; DESTDIR for staging;
#                        each directory below can be set on its own
#   make uninstall       removes what make install put there (same variables)
#   make deps            install missing Debian packages (scripts/deps.sh)
#   make demo            build and run the C example against a real file

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
# Where stock Lua 5.4 and Debian's package.cpath look under /usr/local,
# and where LuaJIT (a Lua 5.1) looks.
LUA_CMODDIR ?= $(LIBDIR)/lua/5.4
LUAJIT_CMODDIR ?= $(LIBDIR)/lua/5.1
CC ?= cc
PKG_DEPS := libxxhash
DEP_CFLAGS := $(shell pkg-config --cflags $(PKG_DEPS) 2>/dev/null)
DEP_LIBS := $(shell pkg-config --libs $(PKG_DEPS) 2>/dev/null || echo -lxxhash)
WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
CFLAGS ?= -O2 -g
ALL_CFLAGS := -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) $(DEP_CFLAGS) -Isrc -fvisibility=hidden -fPIC
LIBS := $(DEP_LIBS) -lpthread

# Every C file in src/ is the engine, but the Lua binding and the host.
LIB_SRC := $(filter-out src/lua_layerdb.c src/layerdb_run.c,$(wildcard src/*.c)) \
           $(wildcard src/commands/*.c)
B := build
LIB_OBJ := $(LIB_SRC:src/%.c=$(B)/obj/%.o)
TEST_SRC := $(wildcard spec/c/*_test.c)
TESTS := $(TEST_SRC:spec/c/%.c=$(B)/test/%)

.PHONY: all lib tool check check-plain check-asan check-tsan valgrind bench install \
        uninstall deps demo clean fuzz

all: lib lua tool
lib: $(B)/liblayerdb.a $(B)/liblayerdb.so $(B)/layerdb.pc
tool: $(B)/layerdb

$(B)/obj/%.o: src/%.c src/*.h | $(B)/obj
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(B)/obj $(B)/test $(B)/bench:
	mkdir -p $@

$(B)/liblayerdb.a: $(LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

$(B)/liblayerdb.so: $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,liblayerdb.so.0 -o $@ $^ $(LIBS)

# The admin tool: src/tool/*.c linked against the static library, whose
# internal functions (recovery, the syscall layer) it uses.
TOOL_SRC := $(wildcard src/tool/*.c)
TOOL_OBJ := $(TOOL_SRC:src/tool/%.c=$(B)/obj/tool/%.o)

$(B)/obj/tool/%.o: src/tool/%.c src/tool/*.h src/*.h | $(B)/obj
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(B)/layerdb: $(TOOL_OBJ) $(B)/liblayerdb.a
	$(CC) $(CFLAGS) -o $@ $(TOOL_OBJ) $(B)/liblayerdb.a $(LIBS)

VERSION := $(shell sed -n 's/^\#define LAYERDB_VERSION "\(.*\)"/\1/p' src/layerdb.h)
PC_SUBST = sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|'
$(B)/layerdb.pc: layerdb.pc.in Makefile | $(B)/obj
	$(PC_SUBST) $< > $@

# Test programs link the static library plus the fault-injecting syscall seam
# (src/os.c built with LAYERDB_FAULTS), so EIO, ENOSPC and failed fsyncs can be
# forced from a test.
$(B)/obj/os_faults.o: src/os.c src/*.h | $(B)/obj
	$(CC) $(ALL_CFLAGS) -DLAYERDB_FAULTS -c $< -o $@

TEST_LIB_OBJ := $(filter-out $(B)/obj/os.o,$(LIB_OBJ)) $(B)/obj/os_faults.o

$(B)/test/%: spec/c/%.c spec/c/*.h $(TEST_LIB_OBJ) | $(B)/test
	$(CC) -std=c11 -D_GNU_SOURCE -DLAYERDB_FAULTS $(WARN) -Wno-missing-prototypes $(CFLAGS) $(DEP_CFLAGS) -Isrc $< $(TEST_LIB_OBJ) -o $@ $(LIBS)

# ---- Install: the C library and the tool, then the Lua side (lua.mk: install-lua) ----
install: lib tool install-lua
	install -d '$(DESTDIR)$(INCLUDEDIR)' '$(DESTDIR)$(LIBDIR)' '$(DESTDIR)$(PKGCONFIGDIR)' \
	    '$(DESTDIR)$(BINDIR)'
	install -m 755 $(B)/layerdb '$(DESTDIR)$(BINDIR)/layerdb'
	install -m 644 src/layerdb.h '$(DESTDIR)$(INCLUDEDIR)/'
	install -m 644 $(B)/liblayerdb.a '$(DESTDIR)$(LIBDIR)/'
	install -m 755 $(B)/liblayerdb.so '$(DESTDIR)$(LIBDIR)/liblayerdb.so.0'
	ln -sf liblayerdb.so.0 '$(DESTDIR)$(LIBDIR)/liblayerdb.so'
	$(PC_SUBST) layerdb.pc.in > '$(DESTDIR)$(PKGCONFIGDIR)/layerdb.pc'

uninstall: uninstall-lua
	rm -f '$(DESTDIR)$(BINDIR)/layerdb' \
	    '$(DESTDIR)$(INCLUDEDIR)/layerdb.h' '$(DESTDIR)$(LIBDIR)/liblayerdb.a' \
	    '$(DESTDIR)$(LIBDIR)/liblayerdb.so.0' '$(DESTDIR)$(LIBDIR)/liblayerdb.so' \
	    '$(DESTDIR)$(PKGCONFIGDIR)/layerdb.pc'

# ---- Tests ----
# check-plain runs every suite with this build; check-asan and check-tsan
# rebuild everything under the sanitizers in their own build dirs and run the
# C suites again. scripts/check.sh prints the TAP and the final count.
check:
	@scripts/check.sh

# tool_test runs $(B)/layerdb, so the tests build it too (sanitized in the
# sanitizer builds).
check-plain: $(TESTS) $(B)/layerdb

tests: $(TESTS) $(B)/layerdb

SAN_FLAGS_asan := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
SAN_FLAGS_tsan := -O1 -g -fsanitize=thread
tests-asan:
	$(MAKE) B=build-asan CC=clang CFLAGS="$(SAN_FLAGS_asan)" tests
tests-tsan:
	$(MAKE) B=build-tsan CC=clang CFLAGS="$(SAN_FLAGS_tsan)" tests

# ---- Fuzzing: libFuzzer (clang) on the log reader; FUZZ_SECONDS to taste ----
FUZZ_SECONDS ?= 60
build-fuzz/fuzz_log: spec/c/fuzz_log_main.c spec/c/fuzz_log.h $(LIB_SRC) src/*.h
	mkdir -p build-fuzz
	clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	    -Isrc spec/c/fuzz_log_main.c $(LIB_SRC) -o $@ $(LIBS)
fuzz: build-fuzz/fuzz_log $(B)/test/fuzz_log_test
	mkdir -p build-fuzz/corpus build-fuzz/seeds
	LAYERDB_FUZZ_CORPUS=build-fuzz/seeds $(B)/test/fuzz_log_test >/dev/null || true
	build-fuzz/fuzz_log -max_total_time=$(FUZZ_SECONDS) -max_len=8192 \
	    -artifact_prefix=build-fuzz/ build-fuzz/corpus build-fuzz/seeds

# ---- Lua: the module, layerdb-run, the rockspec (lua.mk) ----
-include lua.mk

# ---- Benchmarks ----
bench: lib
	$(MAKE) -C bench

demo: lib
	$(CC) -std=c11 $(WARN) -O2 -Isrc examples/quickstart.c $(B)/liblayerdb.a -o $(B)/quickstart $(LIBS)
	cd $(B) && ./quickstart quickstart.db

deps:
	scripts/deps.sh

clean:
	rm -rf build build-asan build-tsan build-fuzz
