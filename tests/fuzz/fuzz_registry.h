/* fuzz_registry.h — a Schema Registry on loopback for the fuzz target, so
 * that Confluent-framed inputs reach the same decoding as single-object
 * ones instead of stopping at "no registry".
 *
 * GET /schemas/ids/{id} answers {"schema": "<text>"} for the ids of
 * fuzz_registry_ids[] (production schemas and the codec tests' older and
 * newer writer versions, so schema resolution gets fuzzed too) and 404 for
 * every other id. libmicrohttpd serves it from its own thread. */
#ifndef LL_FUZZ_REGISTRY_H
#define LL_FUZZ_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

/* One registered schema: id -> file under the source tree. */
typedef struct fuzz_registry_id {
  uint32_t id;
  const char *path; /* relative to the source tree */
} fuzz_registry_id;

extern const fuzz_registry_id fuzz_registry_ids[];
extern const size_t fuzz_registry_id_count;

/* Ids of the production event schemas (version 1), for seeds. */
#define FUZZ_ID_LOT_CREATED 1
#define FUZZ_ID_LOT_UPDATED 2
#define FUZZ_ID_STOCK_MOVED 3

typedef struct fuzz_registry fuzz_registry;

/* Start serving the schemas found under source_dir; url (at least 64
 * bytes) receives "http://127.0.0.1:PORT". NULL on failure (a message on
 * stderr). */
fuzz_registry *fuzz_registry_start(const char *source_dir, char *url,
                                   size_t url_len);
void fuzz_registry_stop(fuzz_registry *r);

#endif
