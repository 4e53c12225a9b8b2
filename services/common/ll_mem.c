/* ll_mem.c — allocation that never returns NULL (see ll_mem.h). */
#include "ll_mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *ll_xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) {
    fprintf(stderr, "lotline: out of memory (%zu bytes)\n", n);
    abort();
  }
  return p;
}

void *ll_xcalloc(size_t n, size_t size) {
  void *p = calloc(n ? n : 1, size ? size : 1);
  if (!p) {
    fprintf(stderr, "lotline: out of memory (%zu x %zu bytes)\n", n, size);
    abort();
  }
  return p;
}

void *ll_xrealloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (!q) {
    fprintf(stderr, "lotline: out of memory (%zu bytes)\n", n);
    abort();
  }
  return q;
}

char *ll_strdup(const char *s) {
  if (!s)
    return NULL;
  size_t n = strlen(s) + 1;
  char *d = ll_xmalloc(n);
  memcpy(d, s, n);
  return d;
}

char *ll_strndup(const void *p, size_t n) {
  char *d = ll_xmalloc(n + 1);
  memcpy(d, p, n);
  d[n] = '\0';
  return d;
}
