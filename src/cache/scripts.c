// See scripts.h. The version comparison is on decimal strings (shorter is
// smaller, then lexical), exact for every uint64, where Lua numbers (doubles)
// are not beyond 2^53. The write scripts repair a key of the wrong type or a
// non-integer generation (dropping it) instead of failing: a write that
// failed would keep the cache down until it succeeds.
#include "cache/scripts.h"

const char *const cache_scripts[CACHE_SCRIPT_N] = {
    [CACHE_SCRIPT_PUT] = "local t = redis.call('TYPE', KEYS[1])['ok']\n"
                         "local cur = false\n"
                         "if t == 'string' then cur = redis.call('GET', KEYS[1])\n"
                         "elseif t ~= 'none' then redis.call('DEL', KEYS[1]) end\n"
                         "if cur then\n"
                         "  local k, v = string.match(cur, '^([FPD])(%d+):')\n"
                         "  if k then\n"
                         "    local nv = ARGV[1]\n"
                         "    if #v > #nv or (#v == #nv and v > nv) then return 0 end\n"
                         "    if v == nv then\n"
                         "      local rank = ({F = 0, P = 1, D = 2})[k]\n"
                         "      if rank >= tonumber(ARGV[2]) then return 0 end\n"
                         "    end\n"
                         "  end\n"
                         "end\n"
                         "redis.call('SET', KEYS[1], ARGV[3], 'EX', ARGV[4])\n"
                         "return 1\n",
    [CACHE_SCRIPT_OWNER_PUT] = "local g = redis.call('GET', KEYS[2]) or '0'\n"
                               "if g ~= ARGV[1] then return 0 end\n"
                               "redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])\n"
                               "redis.call('EXPIRE', KEYS[1], ARGV[4])\n"
                               "return 1\n",
    [CACHE_SCRIPT_OWNER_INVALIDATE] = "local g = redis.pcall('INCR', KEYS[2])\n"
                                      "if type(g) == 'table' then\n"
                                      "  redis.call('DEL', KEYS[2])\n"
                                      "  g = redis.call('INCR', KEYS[2])\n"
                                      "end\n"
                                      "redis.call('EXPIRE', KEYS[2], ARGV[1])\n"
                                      "redis.call('DEL', KEYS[1])\n"
                                      "return g\n",
    [CACHE_SCRIPT_DEL_IF] = "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
                            "  return redis.call('DEL', KEYS[1])\n"
                            "end\n"
                            "return 0\n",
    [CACHE_SCRIPT_PURGE] = "for _, k in ipairs(KEYS) do\n"
                           "  if string.sub(k, -4) == ':gen' then\n"
                           "    if type(redis.pcall('INCR', k)) == 'table' then\n"
                           "      redis.call('DEL', k)\n"
                           "      redis.call('INCR', k)\n"
                           "    end\n"
                           "    redis.call('EXPIRE', k, ARGV[1])\n"
                           "  else\n"
                           "    redis.call('UNLINK', k)\n"
                           "  end\n"
                           "end\n"
                           "return #KEYS\n",
};
