/* test_state_cache.c — the command consumer's state cache must answer
 * exactly what RocksDB (here: a counting in-memory map) would, with the
 * pending batch on top, across commits, aborts and resets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "ll_event.h"
#include "state_cache.h"

#define BELOW_MAX 64

typedef struct below_map {
  char keys[BELOW_MAX][32];
  char values[BELOW_MAX][32];
  int n;
  int reads;
} below_map;

static int below_get(void *ctx, const void *key, size_t key_len, ll_buf *out,
                     bool *found, ll_err *err) {
  (void)err;
  below_map *m = ctx;
  m->reads++;
  ll_buf_reset(out);
  *found = false;
  for (int i = 0; i < m->n; i++) {
    if (strlen(m->keys[i]) == key_len &&
        memcmp(m->keys[i], key, key_len) == 0) {
      ll_buf_put(out, m->values[i], strlen(m->values[i]));
      *found = true;
    }
  }
  return 0;
}

static void below_put(below_map *m, const char *k, const char *v) {
  strcpy(m->keys[m->n], k);
  strcpy(m->values[m->n], v);
  m->n++;
}

/* Read key through the cache: "" when absent. */
static const char *get(ll_state_cache *c, const char *key, char *buf) {
  ll_state_reader r = ll_state_cache_reader(c);
  ll_buf out;
  bool found = false;
  ll_buf_init(&out);
  assert_int_equal(r.get(r.ctx, key, strlen(key), &out, &found, NULL), 0);
  buf[0] = '\0';
  if (found) {
    memcpy(buf, out.data, out.len);
    buf[out.len] = '\0';
  }
  ll_buf_free(&out);
  return found ? buf : "";
}

static void stage_put(ll_state_cache *c, const char *k, const char *v) {
  ll_mutations m;
  ll_mutations_init(&m);
  if (v)
    ll_mutations_put(&m, k, strlen(k), v, strlen(v));
  else
    ll_mutations_del(&m, k, strlen(k));
  ll_state_cache_stage(c, &m);
  ll_mutations_free(&m);
}

static void test_reads_through_and_caches(void **state) {
  (void)state;
  char buf[64];
  below_map m = {0};
  below_put(&m, "lA", "lot-a");
  ll_state_reader below = {.ctx = &m, .get = below_get};
  ll_state_cache *c = ll_state_cache_new(&below, 100);
  assert_string_equal(get(c, "lA", buf), "lot-a");
  assert_string_equal(get(c, "lA", buf), "lot-a");
  assert_string_equal(get(c, "lB", buf), "");
  assert_string_equal(get(c, "lB", buf), "");
  assert_int_equal(m.reads, 2); /* positives and negatives are cached */
  ll_state_cache_free(c);
}

static void
test_pending_writes_visible_then_committed_or_dropped(void **state) {
  (void)state;
  char buf[64];
  below_map m = {0};
  below_put(&m, "lA", "v1");
  ll_state_reader below = {.ctx = &m, .get = below_get};
  ll_state_cache *c = ll_state_cache_new(&below, 100);
  assert_string_equal(get(c, "lA", buf), "v1");
  stage_put(c, "lA", "v2");
  stage_put(c, "lN", "new");
  assert_string_equal(get(c, "lA", buf), "v2");
  assert_string_equal(get(c, "lN", buf), "new");
  ll_state_cache_abort(c); /* the batch failed: back to what is stored */
  assert_string_equal(get(c, "lA", buf), "v1");
  assert_string_equal(get(c, "lN", buf), "");
  stage_put(c, "lA", "v3");
  stage_put(c, "lA", NULL); /* a delete in the same batch */
  assert_string_equal(get(c, "lA", buf), "");
  ll_state_cache_commit(c);
  int reads = m.reads;
  assert_string_equal(get(c, "lA", buf), ""); /* from the cache */
  assert_int_equal(m.reads, reads);
  ll_state_cache_free(c);
}

static void test_event_ids_are_not_cached(void **state) {
  (void)state;
  char buf[64];
  below_map m = {0};
  ll_state_reader below = {.ctx = &m, .get = below_get};
  ll_state_cache *c = ll_state_cache_new(&below, 100);
  stage_put(c, "eID-1", "seen");
  assert_string_equal(get(c, "eID-1", buf), "seen"); /* same batch: seen */
  ll_state_cache_commit(c);
  below_put(&m, "eID-1", "seen"); /* as RocksDB now holds it */
  int reads = m.reads;
  assert_string_equal(get(c, "eID-1", buf), "seen");
  assert_int_equal(m.reads, reads + 1);
  ll_state_cache_stats st;
  ll_state_cache_get_stats(c, &st);
  assert_int_equal(st.entries, 0);
  ll_state_cache_free(c);
}

static void test_bounded(void **state) {
  (void)state;
  char buf[64], key[16];
  below_map m = {0};
  ll_state_reader below = {.ctx = &m, .get = below_get};
  ll_state_cache *c = ll_state_cache_new(&below, 10);
  for (int i = 0; i < 35; i++) {
    snprintf(key, sizeof key, "q%d", i);
    get(c, key, buf);
  }
  ll_state_cache_stats st;
  ll_state_cache_get_stats(c, &st);
  assert_true(st.entries <= 10);
  assert_true(st.resets >= 3);
  ll_state_cache_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reads_through_and_caches),
      cmocka_unit_test(test_pending_writes_visible_then_committed_or_dropped),
      cmocka_unit_test(test_event_ids_are_not_cached),
      cmocka_unit_test(test_bounded),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
