/* views_txn.c — what the read models share: key builders, the packed
 * quantity values, and the run's reads and writes (ll_views_txn_*).
 *
 * Each read model (lot_details.c, lot_locations.c, ...) reads and writes
 * rows through the run it is applied in: a read sees what earlier entries
 * of the same run wrote (views_rows.h keeps them in memory), and a write
 * lands in RocksDB only when the run commits (views_write.c). Key layout:
 * views_internal.h. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "ll_buf.h"
#include "ll_mem.h"
#include "ll_rocks.h"
#include "ll_types.h"
#include "views_internal.h"

/* ---- keys and values shared by the read models ---- */

bool ll_views_key1(ll_buf *key, const char *prefix, const char *a) {
  ll_buf_reset(key);
  if (a == NULL || strchr(a, LL_VK_SEP) != NULL)
    return false;
  ll_buf_put(key, prefix, strlen(prefix));
  ll_buf_put(key, a, strlen(a));
  return true;
}

bool ll_views_key_append(ll_buf *key, const char *part) {
  if (part == NULL || strchr(part, LL_VK_SEP) != NULL) {
    ll_buf_reset(key);
    return false;
  }
  ll_buf_put_u8(key, (uint8_t)LL_VK_SEP);
  ll_buf_put(key, part, strlen(part));
  return true;
}

bool ll_views_key2(ll_buf *key, const char *prefix, const char *a,
                   const char *b) {
  return ll_views_key1(key, prefix, a) && ll_views_key_append(key, b);
}

bool ll_views_key3(ll_buf *key, const char *prefix, const char *a,
                   const char *b, const char *c) {
  return ll_views_key2(key, prefix, a, b) && ll_views_key_append(key, c);
}

bool ll_views_split2(const char *p, size_t n, char **a, char **b) {
  const char *sep = memchr(p, LL_VK_SEP, n);
  if (sep == NULL || sep == p || sep == p + n - 1 ||
      memchr(sep + 1, LL_VK_SEP, n - (size_t)(sep - p) - 1) != NULL)
    return false;
  *a = ll_strndup(p, (size_t)(sep - p));
  *b = ll_strndup(sep + 1, n - (size_t)(sep - p) - 1);
  return true;
}

void ll_lot_cursor_parse(const char *text, ll_lot_cursor *c) {
  memset(c, 0, sizeof *c);
  if (text == NULL || text[0] == '\0')
    return;
  char *end = NULL;
  unsigned long n =
      text[0] >= '0' && text[0] <= '9' ? strtoul(text, &end, 10) : 0;
  if (end != NULL && *end == ':' && n > 0 && strlen(end + 1) > n) {
    c->lot_id = ll_strndup(end + 1, n);
    c->product_id = ll_strdup(end + 1 + n);
    return;
  }
  c->lot_id = ll_strdup(text);
}

void ll_lot_cursor_free(ll_lot_cursor *c) {
  free(c->lot_id);
  free(c->product_id);
  memset(c, 0, sizeof *c);
}

char *ll_lot_cursor_format(const char *lot_id, const char *product_id) {
  ll_buf b;
  ll_buf_init(&b);
  ll_buf_printf(&b, "%zu:%s%s", strlen(lot_id), lot_id, product_id);
  char *out = ll_strndup((const char *)b.data, b.len);
  ll_buf_free(&b);
  return out;
}

char *ll_views_lot_page_cursor(const char *lot_id, const char *product_id) {
  return ll_lot_cursor_format(lot_id, product_id);
}

static int compare_part(const char *a, size_t alen, const char *b) {
  return ll_views_compare_keys((const uint8_t *)a, alen, (const uint8_t *)b,
                               strlen(b));
}

bool ll_lot_cursor_before(const ll_lot_cursor *c, const char *lot_id,
                          size_t lot_len, const char *product_id,
                          size_t product_len) {
  if (c->lot_id == NULL)
    return false;
  int by_lot = compare_part(lot_id, lot_len, c->lot_id);
  if (by_lot != 0 || c->product_id == NULL)
    return by_lot <= 0;
  return compare_part(product_id, product_len, c->product_id) <= 0;
}

int ll_views_compare_keys(const uint8_t *a, size_t alen, const uint8_t *b,
                          size_t blen) {
  size_t n = alen < blen ? alen : blen;
  int c = memcmp(a, b, n);
  if (c != 0)
    return c;
  return alen < blen ? -1 : alen > blen ? 1 : 0;
}

void ll_views_qty_pack(ll_usage usage, int64_t quantity_micro, ll_buf *out) {
  assert(usage >= 0 && usage < LL_USAGE_COUNT);
  ll_buf_reset(out);
  ll_buf_put_u8(out, (uint8_t)usage);
  ll_buf_put_svar(out, quantity_micro);
}

bool ll_views_qty_unpack(const void *p, size_t n, ll_usage *usage,
                         int64_t *quantity_micro) {
  ll_rd rd;
  uint8_t u = 0;
  ll_rd_init(&rd, p, n);
  if (!ll_rd_u8(&rd, &u) || !ll_rd_svar(&rd, quantity_micro) ||
      ll_rd_left(&rd) != 0 || u >= LL_USAGE_COUNT)
    return false;
  *usage = (ll_usage)u;
  return true;
}

void ll_views_tree_pack(int64_t quantity_micro, int64_t on_hand_micro,
                        ll_buf *out) {
  ll_buf_reset(out);
  ll_buf_put_svar(out, quantity_micro);
  ll_buf_put_svar(out, on_hand_micro);
}

bool ll_views_tree_unpack(const void *p, size_t n, int64_t *quantity_micro,
                          int64_t *on_hand_micro) {
  ll_rd rd;
  ll_rd_init(&rd, p, n);
  return ll_rd_svar(&rd, quantity_micro) && ll_rd_svar(&rd, on_hand_micro) &&
         ll_rd_left(&rd) == 0;
}

/* ---- the run in progress ---- */

/* The families ll_views_txn_scan() may scan (genealogy.c looks up the
 * other side of a production reference). Their rows in the run are linked
 * per group so a scan finds them without walking the run. */
static const char *const scan_families[] = {LL_VK_CONSUMED, LL_VK_PRODUCED};

size_t ll_views_scan_group_len(const void *key, size_t key_len) {
  const char *k = key;
  for (size_t f = 0; f < sizeof scan_families / sizeof scan_families[0]; f++) {
    size_t n = strlen(scan_families[f]);
    if (key_len <= n || memcmp(k, scan_families[f], n) != 0)
      continue;
    const char *sep = memchr(k + n, LL_VK_SEP, key_len - n);
    return sep != NULL ? (size_t)(sep - k) + 1 : 0;
  }
  return 0;
}

int ll_views_txn_get(ll_views_txn *t, const ll_buf *key, ll_buf *value,
                     bool *found, ll_err *err) {
  ll_views *v = t->v;
  ll_buf_reset(value);
  *found = false;
  uint64_t h = ll_hash64(key->data, key->len);
  const ll_vrow *r = ll_views_rows_get(&v->rows, h, key->data, key->len);
  if (r != NULL) {
    *found = ll_vrow_present(r);
    if (*found)
      ll_buf_put(value, ll_vrow_value(r), r->value_len);
    return 0;
  }
  /* Quantity rows: the compact index knows them, or says it does not
   * (then the row table's completeness says nothing either: the index's
   * rows are not in it). */
  bool quant = ll_views_quant_covers(key->data, key->len);
  if (quant) {
    ll_vq_answer a = ll_views_quant_get(&v->quant, key->data, key->len, value);
    if (a != LL_VQ_UNKNOWN) {
      *found = a == LL_VQ_FOUND;
      return 0;
    }
  }
  if (v->rows.complete && !quant) {
    ll_views_rows_fill(&v->rows, h, key->data, key->len, NULL, 0, false);
    return 0;
  }
  if (ll_rocks_get(v->db, v->read_opts, key->data, key->len, value, found,
                   "views", err) != 0)
    return -1;
  ll_views_rows_fill(&v->rows, h, key->data, key->len, value->data, value->len,
                     *found);
  return 0;
}

static void txn_write(ll_views_txn *t, const ll_buf *key, const void *value,
                      size_t value_len, bool present) {
  ll_views_rows_put(&t->v->rows, ll_hash64(key->data, key->len), key->data,
                    key->len, value, value_len, present,
                    ll_views_scan_group_len(key->data, key->len));
}

void ll_views_txn_put(ll_views_txn *t, const ll_buf *key, const void *value,
                      size_t value_len) {
  txn_write(t, key, value, value_len, true);
}

void ll_views_txn_del(ll_views_txn *t, const ll_buf *key) {
  txn_write(t, key, NULL, 0, false);
}
