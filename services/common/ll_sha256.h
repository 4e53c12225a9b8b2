/* ll_sha256.h — SHA-256, the one way lotline computes it (event digests,
 * event-id keys, the log's hash chain).
 *
 * OpenSSL underneath. Two costs are avoided that dominate for the short
 * inputs hashed here (tens to hundreds of bytes): looking the algorithm up
 * on every call (EVP_sha256() in OpenSSL 3 is fetched again each time) and
 * allocating a digest context per call. The algorithm is fetched once; each
 * thread keeps one context, freed when the thread exits. Thread-safe. */
#ifndef LL_SHA256_H
#define LL_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define LL_SHA256_BYTES 32

/* One input made of parts, hashed as if concatenated. */
typedef struct ll_sha256_part {
  const void *p;
  size_t n;
} ll_sha256_part;

void ll_sha256_parts(const ll_sha256_part *parts, size_t n_parts,
                     uint8_t out[LL_SHA256_BYTES]);
void ll_sha256(const void *p, size_t n, uint8_t out[LL_SHA256_BYTES]);

#endif
