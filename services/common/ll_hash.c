/* ll_hash.c — see ll_hash.h. */
#include "ll_hash.h"

#include <assert.h>
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

/* Kafka's Utils.murmur2, byte for byte: 4-byte little-endian words, then
 * the tail, then the final mix. Unsigned arithmetic wraps as Java's int
 * does. */
uint32_t ll_murmur2(const void *key, size_t n) {
  const uint8_t *p = key;
  const uint32_t m = 0x5bd1e995u;
  uint32_t h = 0x9747b28cu ^ (uint32_t)n;
  size_t words = n / 4;
  for (size_t i = 0; i < words; i++) {
    const uint8_t *w = p + i * 4;
    uint32_t k = (uint32_t)w[0] | (uint32_t)w[1] << 8 | (uint32_t)w[2] << 16 |
                 (uint32_t)w[3] << 24;
    k *= m;
    k ^= k >> 24;
    k *= m;
    h *= m;
    h ^= k;
  }
  const uint8_t *tail = p + words * 4;
  switch (n % 4) {
  case 3:
    h ^= (uint32_t)tail[2] << 16;
    /* fall through */
  case 2:
    h ^= (uint32_t)tail[1] << 8;
    /* fall through */
  case 1:
    h ^= tail[0];
    h *= m;
    break;
  default:
    break;
  }
  h ^= h >> 13;
  h *= m;
  h ^= h >> 15;
  return h;
}

int32_t ll_partition_of_key(const void *key, size_t n, int32_t partitions) {
  assert(partitions >= 1);
  return (int32_t)((ll_murmur2(key, n) & 0x7fffffffu) % (uint32_t)partitions);
}
