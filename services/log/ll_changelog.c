/* ll_changelog.c — the records of lots.changelog (ll_changelog.h). Pure:
 * bytes in, bytes out. Decoders refuse trailing bytes, as the store's
 * own codecs do (ll_store_record.c). */
#include "ll_changelog.h"

#include <stdlib.h>
#include <string.h>

#include "ll_mem.h"
#include "ll_store.h"

static void put_head(ll_buf *out, char kind) {
  ll_buf_reset(out);
  ll_buf_put_u8(out, LL_CHANGELOG_VERSION);
  ll_buf_put_u8(out, (uint8_t)kind);
}

void ll_chg_encode_rejection(ll_buf *out, const ll_chg_rejection *r) {
  put_head(out, LL_CHANGELOG_REJECTION);
  ll_buf_put_svar(out, r->offset);
  ll_buf_put_svar(out, r->rejected_at_ms);
  ll_buf_put_str(out, r->event_id);
  ll_buf_put_str(out, ll_code_name(r->code));
  ll_buf_put_str(out, r->message);
  ll_buf_put_bytes(out, r->seen_key, r->seen_key_len);
  ll_buf_put_bytes(out, r->seen_value, r->seen_value_len);
}

void ll_chg_encode_mark(ll_buf *out, const ll_chg_mark *m) {
  put_head(out, LL_CHANGELOG_MARK);
  ll_buf_put_svar(out, m->offset);
  ll_buf_put_uvar(out, m->position);
  ll_buf_put_uvar(out, m->n_entries);
  ll_chg_entry prev = {0, 0, 0};
  for (size_t i = 0; i < m->n_entries; i++) {
    ll_buf_put_svar(out, m->entries[i].offset - prev.offset);
    ll_buf_put_svar(out, m->entries[i].recorded_at_ms - prev.recorded_at_ms);
    ll_buf_put_u8(out, m->entries[i].flags);
    prev = m->entries[i];
  }
}

char ll_chg_kind(const void *p, size_t n) {
  const uint8_t *v = p;
  if (n < 2 ||
      (v[0] != LL_CHANGELOG_VERSION && v[0] != LL_CHANGELOG_VERSION_NO_FLAGS))
    return 0;
  return v[1] == LL_CHANGELOG_REJECTION || v[1] == LL_CHANGELOG_MARK
             ? (char)v[1]
             : 0;
}

static uint8_t *copy_bytes(const uint8_t *p, size_t n) {
  if (n == 0)
    return NULL;
  uint8_t *out = ll_xmalloc(n);
  memcpy(out, p, n);
  return out;
}

bool ll_chg_decode_rejection(const void *p, size_t n, ll_chg_rejection *r) {
  memset(r, 0, sizeof *r);
  if (ll_chg_kind(p, n) != LL_CHANGELOG_REJECTION)
    return false;
  ll_rd rd;
  ll_rd_init(&rd, (const uint8_t *)p + 2, n - 2);
  char *code = NULL;
  const uint8_t *key = NULL, *value = NULL;
  bool ok =
      ll_rd_svar(&rd, &r->offset) && ll_rd_svar(&rd, &r->rejected_at_ms) &&
      ll_rd_str(&rd, &r->event_id) && ll_rd_str(&rd, &code) &&
      ll_rd_str(&rd, &r->message) && ll_rd_bytes(&rd, &key, &r->seen_key_len) &&
      ll_rd_bytes(&rd, &value, &r->seen_value_len) && ll_rd_left(&rd) == 0 &&
      code != NULL && ll_code_parse(code, &r->code) && r->code != LL_OK &&
      r->offset >= 0 && (r->seen_key_len == 0) == (r->seen_value_len == 0);
  free(code);
  if (ok) {
    r->seen_key = copy_bytes(key, r->seen_key_len);
    r->seen_value = copy_bytes(value, r->seen_value_len);
  } else {
    ll_chg_rejection_free(r);
  }
  return ok;
}

static bool decode_entries(ll_rd *rd, bool with_flags, ll_chg_mark *m) {
  ll_chg_entry prev = {0, 0, 0};
  m->entries =
      m->n_entries ? ll_xcalloc(m->n_entries, sizeof *m->entries) : NULL;
  for (size_t i = 0; i < m->n_entries; i++) {
    int64_t d_offset, d_clock;
    if (!ll_rd_svar(rd, &d_offset) || !ll_rd_svar(rd, &d_clock))
      return false;
    prev.offset += d_offset;
    prev.recorded_at_ms += d_clock;
    prev.flags = 0;
    if (with_flags && (!ll_rd_u8(rd, &prev.flags) ||
                       (prev.flags & ~LL_ENTRY_FLAGS_KNOWN) != 0))
      return false;
    m->entries[i] = prev;
  }
  return true;
}

bool ll_chg_decode_mark(const void *p, size_t n, ll_chg_mark *m) {
  memset(m, 0, sizeof *m);
  if (ll_chg_kind(p, n) != LL_CHANGELOG_MARK)
    return false;
  ll_rd rd;
  uint64_t k = 0;
  ll_rd_init(&rd, (const uint8_t *)p + 2, n - 2);
  bool ok = ll_rd_svar(&rd, &m->offset) && ll_rd_uvar(&rd, &m->position) &&
            ll_rd_uvar(&rd, &k) && k <= LL_CHANGELOG_MARK_ENTRIES_MAX &&
            k <= m->position && m->offset >= -1;
  if (ok) {
    m->n_entries = (size_t)k;
    bool with_flags = ((const uint8_t *)p)[0] != LL_CHANGELOG_VERSION_NO_FLAGS;
    ok = decode_entries(&rd, with_flags, m) && ll_rd_left(&rd) == 0;
  }
  if (!ok)
    ll_chg_mark_free(m);
  return ok;
}

void ll_chg_rejection_free(ll_chg_rejection *r) {
  free(r->event_id);
  free(r->message);
  free(r->seen_key);
  free(r->seen_value);
  memset(r, 0, sizeof *r);
}

void ll_chg_mark_free(ll_chg_mark *m) {
  free(m->entries);
  memset(m, 0, sizeof *m);
}
