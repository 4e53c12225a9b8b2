/* ll_mem.h — the one way lotline allocates. */
#ifndef LL_MEM_H
#define LL_MEM_H

#include <stddef.h>

/* Heap copy of s (NULL-safe). Aborts on out-of-memory: lotline does not try
 * to run on after malloc fails. */
char *ll_strdup(const char *s);
void *ll_xmalloc(size_t n);
void *ll_xcalloc(size_t n, size_t size);
void *ll_xrealloc(void *p, size_t n);

#endif
