/* ll_hash.c — see ll_hash.h. */
#include "ll_hash.h"

#include <string.h>

/* 64-bit hash, eight bytes at a time (the finalizer of MurmurHash3 as the
 * mixer). Keys are ids chosen by producers, not by an attacker who sees the
 * table; a flood of colliding ids would slow the command down, not break it. */
uint64_t ll_hash64(const void *key, size_t n) {
  const uint8_t *p = key;
  uint64_t h = 0x9E3779B97F4A7C15ull ^ (uint64_t)n;
  while (n >= 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    h = (h ^ w) * 0xFF51AFD7ED558CCDull;
    h ^= h >> 32;
    p += 8;
    n -= 8;
  }
  uint64_t w = 0;
  memcpy(&w, p, n);
  h = (h ^ w) * 0xC4CEB9FE1A85EC53ull;
  h ^= h >> 29;
  h *= 0xFF51AFD7ED558CCDull;
  h ^= h >> 32;
  return h;
}
