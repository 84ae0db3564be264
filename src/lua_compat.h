/* lua_compat.h -- the Lua 5.4 API that lua_layerdb.c uses, on LuaJIT 2.1
 * and Lua 5.1.
 *
 * lua_layerdb.c is written against Lua 5.4. This header fills in what
 * LuaJIT 2.1 (the Lua of LÖVE and Defold) and Lua 5.1 lack, and nothing
 * else:
 *  - lua_newuserdatauv: 5.1 userdata have no user values; none are used.
 *  - lua_warning: 5.1 has no warning system; a warning is dropped there.
 *  - luaL_setfuncs: LuaJIT 2.1 has it, plain Lua 5.1 does not.
 *  - compat_tointeger: a number that is an exact integer; 5.1 numbers are
 *    all doubles.
 * What 5.1 cannot do is not faked: to-be-closed variables (<close>, so
 * __close is never called) and the __pairs metamethod (use db:pairs()) exist
 * only in 5.4. The module's documentation says so. */
#ifndef LUA_COMPAT_H
#define LUA_COMPAT_H

#include <lauxlib.h>
#include <lua.h>

#ifndef LUA_OK
#define LUA_OK 0
#endif

#if LUA_VERSION_NUM < 504
#define lua_newuserdatauv(L, size, nuvalue) lua_newuserdata((L), (size))
#define lua_warning(L, msg, tocont) ((void)(L), (void)(msg), (void)(tocont))
#endif

/* LuaJIT 2.1 says LUA_VERSION_NUM 501 but has luaL_setfuncs; it also
 * defines the macro luaL_newlib, which plain Lua 5.1 lacks: that tells the
 * two apart. */
#if LUA_VERSION_NUM < 502 && !defined(luaL_newlib)
static inline void luaL_setfuncs(lua_State *L, const luaL_Reg *l, int nup) { /* [-nup, +0, m] */
    for (; l->name != NULL; l++) {
        for (int i = 0; i < nup; i++) lua_pushvalue(L, -nup);
        lua_pushcclosure(L, l->func, nup);
        lua_setfield(L, -(nup + 2), l->name);
    }
    lua_pop(L, nup);
}
#endif

/* The value at idx as an integer if it is a number with an integral value
 * (strings are not converted); *ok says whether it was. [-0, +0, -] */
static inline lua_Integer compat_tointeger(lua_State *L, int idx, int *ok) {
    *ok = 0;
    if (lua_type(L, idx) != LUA_TNUMBER) return 0;
#if LUA_VERSION_NUM >= 503
    return lua_tointegerx(L, idx, ok);
#else
    lua_Number n = lua_tonumber(L, idx);
    lua_Integer i = (lua_Integer)n;
    *ok = n >= -9.2e18 && n <= 9.2e18 && (lua_Number)i == n;
    return *ok ? i : 0;
#endif
}

#endif /* LUA_COMPAT_H */
