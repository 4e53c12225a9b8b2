/* ll_mem.h — the one way lotline allocates. */
#ifndef LL_MEM_H
#define LL_MEM_H

#include <stddef.h>

/* Heap copy of s (NULL-safe). Aborts on out-of-memory: lotline does not try
 * to run on after malloc fails. */
char *ll_strdup(const char *s);
/* The n bytes at p as a NUL-terminated heap string (a key's part, say). */
char *ll_strndup(const void *p, size_t n);
void *ll_xmalloc(size_t n);
void *ll_xcalloc(size_t n, size_t size);
void *ll_xrealloc(void *p, size_t n);

#endif
