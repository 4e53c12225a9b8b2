/* views_fixture.h — helpers shared by the projection tests: a scratch directory
 * removed at the end, and a hand-built log (ll_entry array with
 * consecutive positions) of validated, normalized events. */
#ifndef LL_TEST_VIEWS_FIXTURE_H
#define LL_TEST_VIEWS_FIXTURE_H

#include <setjmp.h> /* cmocka needs these first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ll_event.h"
#include "ll_mem.h"
#include "ll_views.h"
#include "support.h"

#define T_EPOCH_MS 1798761600000LL /* 2027-01-01T00:00:00Z */

/* A scratch directory under $TMPDIR (or /tmp); the caller removes it with
 * rm_tree. Both are the test-support library's (tests/support). */
static inline char *scratch_dir(void) {
  return ts_tempdir("views");
}

static inline void rm_tree(char *dir) {
  ts_rmtree(dir);
  free(dir);
}

/* A hand-made log. Positions run 1, 2, 3, ...; event k occurs at
 * T_EPOCH_MS + k seconds. */
typedef struct tlog {
  ll_entry *e;
  size_t n, cap;
} tlog;

static inline void tlog_free(tlog *l) {
  for (size_t i = 0; i < l->n; i++)
    ll_event_free(&l->e[i].event);
  free(l->e);
  memset(l, 0, sizeof *l);
}

static inline ll_event *tlog_push(tlog *l, ll_event_type type,
                                  const char *lot_id, const char *product_id) {
  if (l->n == l->cap) {
    l->cap = l->cap ? l->cap * 2 : 16;
    l->e = realloc(l->e, l->cap * sizeof *l->e);
  }
  ll_entry *e = &l->e[l->n++];
  memset(e, 0, sizeof *e);
  e->position = l->n;
  e->recorded_at_ms = 0;
  e->partition = -1;
  e->offset = -1;
  ll_event_init(&e->event);
  ll_event *ev = &e->event;
  ev->type = type;
  char id[64];
  snprintf(id, sizeof id, "ev-%zu", l->n);
  ev->event_id = ll_strdup(id);
  ev->occurred_at_ms = T_EPOCH_MS + (int64_t)l->n * 1000;
  ev->lot_id = ll_strdup(lot_id);
  ev->product_id = ll_strdup(product_id);
  return ev;
}

static inline ll_event *tlog_created(tlog *l, const char *lot_id,
                                     const char *product_id, const char *name,
                                     const char *reference) {
  ll_event *ev = tlog_push(l, LL_EV_LOT_CREATED, lot_id, product_id);
  ev->name = ll_strdup(name);
  ev->tracking = LL_TRACK_LOT;
  ev->reference = ll_strdup(reference);
  return ev;
}

/* new values: NULL = unchanged */
static inline ll_event *tlog_updated(tlog *l, const char *lot_id,
                                     const char *product_id, const char *name,
                                     const char *new_product_id,
                                     const char *reference,
                                     const char *description) {
  ll_event *ev = tlog_push(l, LL_EV_LOT_UPDATED, lot_id, product_id);
  ev->name = ll_strdup(name);
  ev->new_product_id = ll_strdup(new_product_id);
  ev->reference = ll_strdup(reference);
  ev->description = ll_strdup(description);
  return ev;
}

static inline ll_event *tlog_moved(tlog *l, const char *lot_id,
                                   const char *product_id,
                                   int64_t quantity_micro, const char *from,
                                   ll_usage from_usage, const char *to,
                                   ll_usage to_usage) {
  ll_event *ev = tlog_push(l, LL_EV_STOCK_MOVED, lot_id, product_id);
  ev->quantity_valid = true;
  ev->quantity_micro = quantity_micro;
  ev->from.id = ll_strdup(from);
  ev->from.usage = from_usage;
  ev->to.id = ll_strdup(to);
  ev->to.usage = to_usage;
  return ev;
}

/* Every key and value of the views in key order (ll_views_dump()'s text):
 * two views hold the same rows when their dumps are the same bytes. */
static inline void views_dump(ll_views *v, ll_buf *out) {
  char *text = NULL;
  size_t len = 0;
  ll_err err = {0};
  FILE *f = open_memstream(&text, &len);
  int rc = f != NULL ? ll_views_dump(v, f, &err) : -1;
  if (f != NULL)
    fclose(f);
  if (rc != 0) {
    fprintf(stderr, "views_dump: %s\n", f ? err.message : "no memory");
    abort();
  }
  ll_buf_reset(out);
  ll_buf_put(out, text, len);
  free(text);
}

/* One line of a dump, from `at` to its end, for a message. */
static inline int views_dump_line(const ll_buf *d, size_t at,
                                  const uint8_t **line) {
  *line = d->data + at;
  const uint8_t *nl = at < d->len ? memchr(*line, '\n', d->len - at) : NULL;
  return (int)((nl != NULL ? nl : d->data + d->len) - *line);
}

/* v holds exactly the rows of the dump want (views_dump()): the test
 * fails otherwise, after printing the first line where the two differ. */
static inline void assert_views_dump(ll_views *v, const ll_buf *want) {
  ll_buf got;
  ll_buf_init(&got);
  views_dump(v, &got);
  size_t n = got.len < want->len ? got.len : want->len, at = 0;
  while (at < n && got.data[at] == want->data[at])
    at++;
  if (at < n || got.len != want->len) {
    while (at > 0 && want->data[at - 1] != '\n')
      at--;
    const uint8_t *w, *g;
    int wn = views_dump_line(want, at, &w), gn = views_dump_line(&got, at, &g);
    print_error("the views differ from byte %zu of the dump on:\n"
                "want: %.*s\ngot:  %.*s\n",
                at, wn, (const char *)w, gn, (const char *)g);
    ll_buf_free(&got);
    fail();
  }
  ll_buf_free(&got);
}

#endif
