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

#endif
