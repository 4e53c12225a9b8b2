/* ll_sha256.c — see ll_sha256.h. A failure inside OpenSSL here can only
 * be out of memory or a broken installation; a record written with a wrong
 * digest or hash would be worse than stopping, so it aborts. */
#include "ll_sha256.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static EVP_MD *sha256_md;
static pthread_key_t ctx_key;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void free_ctx(void *ctx) {
  EVP_MD_CTX_free(ctx);
}

static void init_once(void) {
  sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
  if (!sha256_md || pthread_key_create(&ctx_key, free_ctx) != 0) {
    fprintf(stderr, "lotline: SHA-256 unavailable in OpenSSL\n");
    abort();
  }
}

static EVP_MD_CTX *thread_ctx(void) {
  pthread_once(&once, init_once);
  EVP_MD_CTX *ctx = pthread_getspecific(ctx_key);
  if (!ctx) {
    ctx = EVP_MD_CTX_new();
    if (!ctx || pthread_setspecific(ctx_key, ctx) != 0) {
      fprintf(stderr, "lotline: out of memory for a SHA-256 context\n");
      abort();
    }
  }
  return ctx;
}

void ll_sha256_parts(const ll_sha256_part *parts, size_t n_parts,
                     uint8_t out[LL_SHA256_BYTES]) {
  EVP_MD_CTX *ctx = thread_ctx();
  unsigned int len = 0;
  int ok = EVP_DigestInit_ex2(ctx, sha256_md, NULL);
  for (size_t i = 0; ok && i < n_parts; i++)
    ok = EVP_DigestUpdate(ctx, parts[i].p, parts[i].n);
  if (!ok || !EVP_DigestFinal_ex(ctx, out, &len) || len != LL_SHA256_BYTES) {
    fprintf(stderr, "lotline: SHA-256 failed in OpenSSL\n");
    abort();
  }
}

void ll_sha256(const void *p, size_t n, uint8_t out[LL_SHA256_BYTES]) {
  ll_sha256_part part = {p, n};
  ll_sha256_parts(&part, 1, out);
}
