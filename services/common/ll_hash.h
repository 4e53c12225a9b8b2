/* ll_hash.h — the 64-bit hash of byte strings behind lotline's in-memory
 * hash tables (the command's state table, the projector's row table).
 *
 * Stable: the state journal stores these hashes (ll_store_journal.c), so
 * the function must never change for stores already written. */
#ifndef LL_HASH_H
#define LL_HASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t ll_hash64(const void *key, size_t n);

/* Kafka's murmur2 of a key, as its Java client's default partitioner and
 * librdkafka's `murmur2` partitioners compute it (seed 0x9747b28c). */
uint32_t ll_murmur2(const void *key, size_t n);

/* The partition Kafka's default partitioner gives a keyed record:
 * (murmur2(key) & 0x7fffffff) mod partitions. All events of a product must
 * be on this partition of lots.inbound (docs/events.md, WRONG_PARTITION).
 * partitions >= 1. */
int32_t ll_partition_of_key(const void *key, size_t n, int32_t partitions);

#endif
