/* test_chain.c — the log's tamper evidence: every entry carries a SHA-256
 * hash chained to the one before it in its task (ll_store.h), and
 * ll_store_verify() names the first position where a chain, the positions
 * or the meta records stop adding up. The entries alternate between two
 * tasks (input partitions 0 and 1), so each chain skips every other
 * entry of the log.
 *
 * The chain is recomputed here from the raw stored bytes with OpenSSL, as
 * the format documents it, so the test pins the format rather than the
 * code's own idea of it. Damage is done the way an attacker or a broken
 * disk would: by writing the RocksDB database directly, one byte at a
 * time. */
#include <errno.h>
#include <openssl/evp.h>
#include <rocksdb/c.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "ll_event.h"
#include "ll_mem.h"
#include "ll_store.h"
#include "ll_store_internal.h"
#include "log_fixture.h"

#define N_ENTRIES 300 /* in batches of 1, 7, 92 and 200 */
#define TAMPERED 157  /* a position in the middle of a batch */
#define TASKS 2       /* entry i is from partition i % TASKS */

static void make_event(ll_event *ev, int i) {
  char text[64];
  ll_event_init(ev);
  ev->type = LL_EV_STOCK_MOVED;
  snprintf(text, sizeof text, "ev-%d", i);
  ev->event_id = ll_strdup(text);
  ev->occurred_at_ms = 1800000000000LL + i;
  ev->product_id = ll_strdup("P-1");
  snprintf(text, sizeof text, "lot-%d", i % 5);
  ev->lot_id = ll_strdup(text);
  ev->quantity_valid = true;
  ev->quantity_micro = (int64_t)(i + 1) * LL_MICRO;
  ev->from.id = ll_strdup("Partners/Vendors");
  ev->from.usage = LL_USAGE_SUPPLIER;
  ev->to.id = ll_strdup("WH/Stock");
  ev->to.usage = LL_USAGE_INTERNAL;
}

/* Every third entry as if its event had named its lot by lot_name. */
static uint8_t entry_flags(int i) {
  return i % 3 == 0 ? LL_ENTRY_LOT_ID_FILLED : 0;
}

static void append(ll_store *s, int first, int n) {
  ll_err err = {0};
  ll_store_batch *b = ll_store_batch_begin(s);
  for (int i = first; i < first + n; i++) {
    ll_event ev;
    make_event(&ev, i);
    ll_input in = {
        .topic = "lots.inbound", .partition = i % TASKS, .offset = i / TASKS};
    ll_move_after after = {.from_after_micro = -(int64_t)(i + 1) * LL_MICRO,
                           .to_after_micro = (int64_t)(i + 1) * LL_MICRO / 2};
    ll_store_batch_append_decided(b, &ev, &in, 1900000000000LL + i, &after,
                                  entry_flags(i));
    ll_event_free(&ev);
  }
  if (ll_store_batch_commit(b, false, &err) != 0)
    fail_msg("commit: %s", err.message);
}

/* N_ENTRIES entries in batches of different sizes. */
static void write_log(const char *dir) {
  ll_store *s = log_open_ok(dir, LL_STORE_PRIMARY);
  append(s, 0, 1);
  append(s, 1, 7);
  append(s, 8, 92);
  append(s, 100, 200);
  assert_int_equal(ll_store_last_position(s), N_ENTRIES);
  ll_store_close(s);
}

/* ---- raw access ---- */

enum { CF_DEFAULT, CF_LOG, CF_COUNT = 6 };

typedef struct raw {
  rocksdb_t *db;
  rocksdb_column_family_handle_t *cf[CF_COUNT];
  rocksdb_readoptions_t *ro;
  rocksdb_writeoptions_t *wo;
} raw;

static void raw_open(raw *r, const char *dir) {
  const char *names[CF_COUNT] = {"default", "log",        "state",
                                 "offsets", "rejections", "journal"};
  rocksdb_options_t *o = rocksdb_options_create();
  const rocksdb_options_t *cf_opts[CF_COUNT] = {o, o, o, o, o, o};
  char *rerr = NULL;
  r->db = rocksdb_open_column_families(o, dir, CF_COUNT, names, cf_opts, r->cf,
                                       &rerr);
  rocksdb_options_destroy(o);
  if (!r->db)
    fail_msg("raw open: %s", rerr);
  r->ro = rocksdb_readoptions_create();
  r->wo = rocksdb_writeoptions_create();
}

static void raw_close(raw *r) {
  for (int i = 0; i < CF_COUNT; i++)
    rocksdb_column_family_handle_destroy(r->cf[i]);
  rocksdb_readoptions_destroy(r->ro);
  rocksdb_writeoptions_destroy(r->wo);
  rocksdb_close(r->db);
}

static void be64(uint64_t v, char out[8]) {
  for (int i = 0; i < 8; i++)
    out[i] = (char)(v >> (56 - 8 * i));
}

/* The stored value at position (malloc'd), or NULL. */
static char *raw_get(raw *r, uint64_t position, size_t *n) {
  char key[8];
  be64(position, key);
  char *rerr = NULL;
  char *v = rocksdb_get_cf(r->db, r->ro, r->cf[CF_LOG], key, 8, n, &rerr);
  assert_null(rerr);
  return v;
}

static void raw_put(raw *r, int cf, const char *key, size_t key_len,
                    const char *value, size_t n) {
  char *rerr = NULL;
  rocksdb_put_cf(r->db, r->wo, r->cf[cf], key, key_len, value, n, &rerr);
  assert_null(rerr);
}

/* Flip one bit of the byte at `offset` in the value at `position`. */
static void flip_byte(const char *dir, uint64_t position, size_t offset) {
  raw r;
  raw_open(&r, dir);
  size_t n = 0;
  char *v = raw_get(&r, position, &n);
  assert_non_null(v);
  assert_true(offset < n);
  v[offset] ^= 0x01;
  char key[8];
  be64(position, key);
  raw_put(&r, CF_LOG, key, 8, v, n);
  rocksdb_free(v);
  raw_close(&r);
}

static void sha256(const void *p, size_t n, uint8_t out[32]) {
  unsigned int len = 32;
  assert_true(EVP_Digest(p, n, out, &len, EVP_sha256(), NULL));
}

static ll_verify_report verify(const char *dir) {
  ll_verify_report r;
  ll_err err = {0};
  if (ll_store_verify(dir, NULL, NULL, &r, &err) != 0)
    fail_msg("verify: %s", err.message);
  return r;
}

/* ---- tests ---- */

/* The meta record of a task: "task/" + be32(partition) -> u8 1, uvar task
 * position, uvar local position, 32-byte hash, svar clock. *hash points
 * into rec. Positions here are below 2^14: two-byte uvars at most. */
static void parse_task_record(const char *rec, size_t n, uint64_t *task_pos,
                              uint64_t *local, const char **hash) {
  const uint8_t *p = (const uint8_t *)rec;
  assert_true(n > 1 + 32);
  assert_int_equal(p[0], 1);
  size_t i = 1;
  uint64_t *outs[2] = {task_pos, local};
  for (int k = 0; k < 2; k++) {
    *outs[k] = p[i] & 0x7f;
    if (p[i++] & 0x80)
      *outs[k] |= (uint64_t)(p[i++] & 0x7f) << 7;
  }
  *hash = rec + i;
}

static uint64_t read_uvar(const uint8_t *p, size_t n, size_t *i) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    assert_true(*i < n);
    uint8_t byte = p[(*i)++];
    v |= (uint64_t)(byte & 0x7f) << shift;
    if (!(byte & 0x80))
      return v;
  }
  fail_msg("uvar too long");
  return 0;
}

static int64_t read_svar(const uint8_t *p, size_t n, size_t *i) {
  uint64_t z = read_uvar(p, n, i);
  return (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
}

/* The fields after the hash, as ll_store_record.c documents them: svar
 * recorded_at, svar partition, svar offset, uvar task position, u8 flags,
 * uvar 2 and the two quantities a move left (what the publisher writes
 * downstream), then the packed event. */
static void check_value_fields(const char *v, size_t n, uint64_t pos,
                               uint64_t task_pos) {
  const uint8_t *p = (const uint8_t *)v;
  size_t i = 33;
  int64_t entry = (int64_t)pos - 1; /* the i of make_event and append */
  assert_int_equal(read_svar(p, n, &i), 1900000000000LL + entry);
  assert_int_equal(read_svar(p, n, &i), entry % TASKS);
  assert_int_equal(read_svar(p, n, &i), entry / TASKS);
  assert_int_equal(read_uvar(p, n, &i), task_pos);
  assert_true(i < n);
  assert_int_equal(p[i++], entry_flags((int)entry));
  assert_int_equal(read_uvar(p, n, &i), 2);
  assert_int_equal(read_svar(p, n, &i), -(entry + 1) * LL_MICRO);
  assert_int_equal(read_svar(p, n, &i), (entry + 1) * LL_MICRO / 2);
  assert_true(i < n);
}

/* The task index: "tix/" + be32(partition) + be64(task position) ->
 * be64(local position), for every entry. */
static void check_task_index(raw *r, int task, uint64_t task_pos,
                             uint64_t pos) {
  char key[16] = {'t', 'i', 'x', '/', 0, 0, 0, (char)task};
  be64(task_pos, key + 8);
  size_t n = 0;
  char *rerr = NULL;
  char *v = rocksdb_get_cf(r->db, r->ro, r->cf[CF_DEFAULT], key, sizeof key, &n,
                           &rerr);
  assert_null(rerr);
  assert_non_null(v);
  char want[8];
  be64(pos, want);
  assert_int_equal(n, 8);
  assert_memory_equal(v, want, 8);
  rocksdb_free(v);
}

/* The documented format, recomputed independently: per task, hash_0 =
 * zeros, hash_n = SHA-256(hash_{n-1} || be64(task position n) || value
 * without bytes 1..32). The store's entries, its meta and the verifier all
 * agree with it. */
static void test_chain_matches_documented_format(void **state) {
  log_fixture *f = *state;
  write_log(f->dir);

  raw r;
  raw_open(&r, f->dir);
  uint8_t prev[TASKS][32] = {{0}};
  uint64_t task_pos[TASKS] = {0};
  for (uint64_t pos = 1; pos <= N_ENTRIES; pos++) {
    int task = (int)((pos - 1) % TASKS);
    uint64_t n_in_task = ++task_pos[task];
    size_t n = 0;
    char *v = raw_get(&r, pos, &n);
    assert_non_null(v);
    assert_true(n > 33);
    assert_int_equal((unsigned char)v[0], 4); /* value version */
    size_t in_len = 32 + 8 + (n - 32);
    uint8_t *in = malloc(in_len);
    memcpy(in, prev[task], 32);
    be64(n_in_task, (char *)in + 32);
    in[40] = (uint8_t)v[0];
    memcpy(in + 41, v + 33, n - 33);
    uint8_t want[32];
    sha256(in, in_len, want);
    free(in);
    assert_memory_equal(v + 1, want, 32);
    memcpy(prev[task], want, 32);
    check_value_fields(v, n, pos, n_in_task);
    check_task_index(&r, task, n_in_task, pos);
    rocksdb_free(v);
  }
  for (int task = 0; task < TASKS; task++) {
    char key[9] = {'t', 'a', 's', 'k', '/', 0, 0, 0, (char)task};
    size_t n = 0;
    char *rerr = NULL;
    char *meta = rocksdb_get_cf(r.db, r.ro, r.cf[CF_DEFAULT], key, sizeof key,
                                &n, &rerr);
    assert_null(rerr);
    assert_non_null(meta);
    uint64_t last_task_pos, local;
    const char *hash;
    parse_task_record(meta, n, &last_task_pos, &local, &hash);
    assert_int_equal(last_task_pos, N_ENTRIES / TASKS);
    assert_int_equal(local, N_ENTRIES - (TASKS - 1) + task);
    assert_memory_equal(hash, prev[task], 32);
    rocksdb_free(meta);
  }
  raw_close(&r);
  ll_verify_report rep = verify(f->dir);
  assert_true(rep.ok);
  assert_int_equal(rep.tasks, TASKS);
  /* Read back through the store: the entry and the index agree. */
  ll_store *s = log_open_ok(f->dir, LL_STORE_SECONDARY);
  ll_err err = {0};
  uint64_t local = 0;
  bool found = false;
  assert_int_equal(ll_store_task_local(s, 1, 10, &local, &found, &err), 0);
  assert_true(found);
  ll_entry e;
  size_t n = 0;
  assert_int_equal(ll_store_read_log(s, local, &e, 1, &n, &err), 0);
  assert_int_equal(n, 1);
  assert_int_equal(e.partition, 1);
  assert_int_equal(e.task_position, 10);
  assert_int_equal(e.from_after_micro, -(int64_t)local * LL_MICRO);
  assert_int_equal(e.to_after_micro, (int64_t)local * LL_MICRO / 2);
  assert_int_equal(e.flags, entry_flags((int)local - 1));
  ll_entry_free(&e);
  assert_int_equal(
      ll_store_task_local(s, 1, N_ENTRIES / TASKS + 1, &local, &found, &err),
      0);
  assert_false(found);
  ll_store_close(s);
}

/* A version 3 value (written before entries had flags) is read as it is:
 * the same fields, flags 0, its stored hash where it was. Built from a
 * version 4 value by dropping the flags byte. */
static void test_version_3_value_is_read(void **state) {
  (void)state;
  ll_event ev;
  make_event(&ev, 4);
  ll_input in = {.topic = "lots.inbound", .partition = 1, .offset = 77};
  ll_move_after after = {.from_after_micro = 5, .to_after_micro = 6};
  uint8_t prev[LL_ENTRY_HASH_BYTES] = {0}, hash[LL_ENTRY_HASH_BYTES];
  ll_buf v4;
  ll_buf_init(&v4);
  ll_store_encode_log_value(&v4, 3, prev, &ev, &in, 1900000000000LL, &after,
                            LL_ENTRY_LOT_ID_FILLED, hash);
  ll_entry e;
  memset(&e, 0, sizeof e);
  assert_true(ll_store_decode_log_value(v4.data, v4.len, &e));
  assert_int_equal(e.flags, LL_ENTRY_LOT_ID_FILLED);
  ll_entry_free(&e);
  /* After the hash: svar clock (6 bytes here), svar partition, svar
   * offset, uvar task position (1 byte each), then the flags byte. */
  size_t flags_at = 33;
  for (int field = 0; field < 4; field++)
    while (v4.data[flags_at++] & 0x80)
      ;
  assert_int_equal(v4.data[flags_at], LL_ENTRY_LOT_ID_FILLED);
  ll_buf v3;
  ll_buf_init(&v3);
  ll_buf_put(&v3, v4.data, flags_at);
  ll_buf_put(&v3, v4.data + flags_at + 1, v4.len - flags_at - 1);
  v3.data[0] = 3;
  memset(&e, 0, sizeof e);
  assert_true(ll_store_decode_log_value(v3.data, v3.len, &e));
  assert_int_equal(e.flags, 0);
  assert_int_equal(e.offset, 77);
  assert_int_equal(e.task_position, 3);
  assert_int_equal(e.to_after_micro, 6);
  assert_string_equal(e.event.event_id, "ev-4");
  assert_non_null(ll_store_log_value_hash(v3.data, v3.len));
  ll_entry_free(&e);
  /* An unknown flag is not read as if it were known. */
  v4.data[flags_at] = 0x80;
  memset(&e, 0, sizeof e);
  assert_false(ll_store_decode_log_value(v4.data, v4.len, &e));
  ll_buf_free(&v3);
  ll_buf_free(&v4);
  ll_event_free(&ev);
}

/* The chain continues across restarts and over aborted batches. */
static void test_chain_survives_reopen_and_abort(void **state) {
  log_fixture *f = *state;
  ll_store *s = log_open_ok(f->dir, LL_STORE_PRIMARY);
  append(s, 0, 10);
  ll_store_batch *b = ll_store_batch_begin(s);
  ll_event ev;
  make_event(&ev, 999);
  ll_store_batch_append(b, &ev, NULL, 0);
  ll_event_free(&ev);
  ll_store_batch_abort(b);
  append(s, 10, 5);
  ll_store_close(s);

  s = log_open_ok(f->dir, LL_STORE_PRIMARY);
  append(s, 15, 5);
  ll_store_close(s);

  ll_verify_report rep = verify(f->dir);
  assert_true(rep.ok);
  assert_int_equal(rep.entries, 20);
}

static void test_empty_log_verifies(void **state) {
  log_fixture *f = *state;
  ll_store_close(log_open_ok(f->dir, LL_STORE_PRIMARY));
  ll_verify_report rep = verify(f->dir);
  assert_true(rep.ok);
  assert_int_equal(rep.entries, 0);
  static const uint8_t zeros[32];
  assert_memory_equal(rep.last_hash, zeros, 32);
}

/* One flipped bit anywhere in an entry's value — the event, the input
 * offset, the version byte, the stored hash — is caught at that position,
 * and only the first broken position is reported. */
static void test_one_flipped_byte_is_found(void **state) {
  log_fixture *f = *state;
  write_log(f->dir);
  size_t n = 0;
  raw r;
  raw_open(&r, f->dir);
  char *v = raw_get(&r, TAMPERED, &n);
  rocksdb_free(v);
  raw_close(&r);

  /* offsets: first hash byte, inside the hash, first body byte, last */
  const size_t offsets[] = {1, 20, 33, n - 1};
  for (size_t i = 0; i < sizeof offsets / sizeof offsets[0]; i++) {
    flip_byte(f->dir, TAMPERED, offsets[i]);
    ll_verify_report rep = verify(f->dir);
    assert_false(rep.ok);
    if (rep.bad_position != TAMPERED)
      fail_msg("byte %zu: reported position %llu (%s)", offsets[i],
               (unsigned long long)rep.bad_position, rep.why);
    assert_int_equal(rep.entries, TAMPERED - 1);
    assert_non_null(strstr(rep.why, "hash mismatch"));
    flip_byte(f->dir, TAMPERED, offsets[i]); /* undo */
    assert_true(verify(f->dir).ok);
  }

  /* The version byte: no longer a value that holds a hash. */
  flip_byte(f->dir, TAMPERED, 0);
  ll_verify_report rep = verify(f->dir);
  assert_false(rep.ok);
  assert_int_equal(rep.bad_position, TAMPERED);
  assert_non_null(strstr(rep.why, "no chain hash"));
}

/* An attacker who rewrites an entry and recomputes its hash still breaks
 * the next link of its task. */
static void test_rehashed_entry_breaks_next_link(void **state) {
  log_fixture *f = *state;
  write_log(f->dir);
  raw r;
  raw_open(&r, f->dir);
  size_t n = 0;
  char *v = raw_get(&r, TAMPERED, &n);
  char *prev_v = NULL;
  size_t prev_n = 0;
  prev_v = raw_get(&r, TAMPERED - TASKS, &prev_n); /* its task's previous */
  v[n - 1] ^= 0x01;
  /* Recompute this entry's hash from the (good) previous one. */
  size_t in_len = 32 + 8 + (n - 32);
  uint8_t *in = malloc(in_len);
  memcpy(in, prev_v + 1, 32);
  be64((TAMPERED - 1) / TASKS + 1, (char *)in + 32); /* its task position */
  in[40] = (uint8_t)v[0];
  memcpy(in + 41, v + 33, n - 33);
  uint8_t h[32];
  sha256(in, in_len, h);
  free(in);
  memcpy(v + 1, h, 32);
  char key[8];
  be64(TAMPERED, key);
  raw_put(&r, CF_LOG, key, 8, v, n);
  rocksdb_free(v);
  rocksdb_free(prev_v);
  raw_close(&r);

  ll_verify_report rep = verify(f->dir);
  assert_false(rep.ok);
  assert_int_equal(rep.bad_position, TAMPERED + TASKS);
}

static void test_missing_entry_is_found(void **state) {
  log_fixture *f = *state;
  write_log(f->dir);
  raw r;
  raw_open(&r, f->dir);
  char key[8];
  be64(TAMPERED, key);
  char *rerr = NULL;
  rocksdb_delete_cf(r.db, r.wo, r.cf[CF_LOG], key, 8, &rerr);
  assert_null(rerr);
  raw_close(&r);
  ll_verify_report rep = verify(f->dir);
  assert_false(rep.ok);
  assert_int_equal(rep.bad_position, TAMPERED);
  assert_non_null(strstr(rep.why, "missing"));
}

/* The task index key of the entry at log position pos (entry pos - 1 is
 * from partition (pos - 1) % TASKS, at its task position (pos - 1) /
 * TASKS + 1). */
static void index_key_of(uint64_t pos, uint64_t task_pos_delta, char key[16]) {
  memset(key, 0, 16);
  memcpy(key, "tix/", 4);
  key[7] = (char)((pos - 1) % TASKS);
  be64((pos - 1) / TASKS + 1 + task_pos_delta, key + 8);
}

/* A task position must lead to its entry, and only entries have keys. */
static void test_task_index_is_checked(void **state) {
  log_fixture *f = *state;
  write_log(f->dir);
  raw r;
  raw_open(&r, f->dir);
  char key[16], value[8];
  index_key_of(TAMPERED, 0, key);
  be64(TAMPERED + TASKS, value); /* the next entry of the same task */
  raw_put(&r, CF_DEFAULT, key, sizeof key, value, 8);
  raw_close(&r);
  ll_verify_report rep = verify(f->dir);
  assert_false(rep.ok);
  assert_int_equal(rep.bad_position, TAMPERED);
  assert_non_null(strstr(rep.why, "task index"));

  raw_open(&r, f->dir);
  be64(TAMPERED, value);
  raw_put(&r, CF_DEFAULT, key, sizeof key, value, 8); /* undo */
  index_key_of(N_ENTRIES, TASKS, key); /* beyond the last entry's task */
  raw_put(&r, CF_DEFAULT, key, sizeof key, value, 8);
  raw_close(&r);
  rep = verify(f->dir);
  assert_false(rep.ok);
  assert_int_equal(rep.entries, N_ENTRIES);
  assert_non_null(strstr(rep.why, "task index holds"));

  raw_open(&r, f->dir);
  char *rerr = NULL;
  rocksdb_delete_cf(r.db, r.wo, r.cf[CF_DEFAULT], key, sizeof key, &rerr);
  assert_null(rerr);
  index_key_of(TAMPERED, 0, key);
  rocksdb_delete_cf(r.db, r.wo, r.cf[CF_DEFAULT], key, sizeof key, &rerr);
  assert_null(rerr);
  raw_close(&r);
  rep = verify(f->dir);
  assert_false(rep.ok);
  assert_int_equal(rep.bad_position, TAMPERED);
  assert_non_null(strstr(rep.why, "to nothing"));
}

static void test_meta_must_name_the_last_entry(void **state) {
  log_fixture *f = *state;
  write_log(f->dir);
  raw r;
  raw_open(&r, f->dir);
  char last[8];
  be64(N_ENTRIES + 2, last);
  raw_put(&r, CF_DEFAULT, "last_position", 13, last, 8);
  raw_close(&r);
  ll_verify_report rep = verify(f->dir);
  assert_false(rep.ok);
  assert_int_equal(rep.bad_position, N_ENTRIES + 1);
  assert_non_null(strstr(rep.why, "missing"));

  raw_open(&r, f->dir);
  be64(N_ENTRIES - 2, last);
  raw_put(&r, CF_DEFAULT, "last_position", 13, last, 8);
  raw_close(&r);
  rep = verify(f->dir);
  assert_false(rep.ok);
  assert_int_equal(rep.bad_position, N_ENTRIES - 1);
  assert_non_null(strstr(rep.why, "beyond"));

  /* Task 1's record with another hash for its last entry. */
  raw_open(&r, f->dir);
  be64(N_ENTRIES, last);
  raw_put(&r, CF_DEFAULT, "last_position", 13, last, 8);
  const char key[9] = {'t', 'a', 's', 'k', '/', 0, 0, 0, 1};
  size_t n = 0;
  char *rerr = NULL;
  char *rec =
      rocksdb_get_cf(r.db, r.ro, r.cf[CF_DEFAULT], key, sizeof key, &n, &rerr);
  assert_non_null(rec);
  uint64_t task_pos, local;
  const char *hash;
  parse_task_record(rec, n, &task_pos, &local, &hash);
  rec[hash - rec] ^= 0x01;
  raw_put(&r, CF_DEFAULT, key, sizeof key, rec, n);
  rocksdb_free(rec);
  raw_close(&r);
  rep = verify(f->dir);
  assert_false(rep.ok);
  assert_int_equal(rep.bad_position, N_ENTRIES);
  assert_non_null(strstr(rep.why, "meta says task 1 ends"));

  /* The command consumer refuses to append on such a chain. */
  ll_err err = {0};
  assert_null(ll_store_open(f->dir, LL_STORE_PRIMARY, &err));
  assert_non_null(strstr(err.message, "meta says task 1 ends"));
}

/* A damaged last entry is refused at open too: the next batch would chain
 * on it. */
static void test_damaged_last_entry_refuses_open(void **state) {
  log_fixture *f = *state;
  write_log(f->dir);
  flip_byte(f->dir, N_ENTRIES, 5); /* inside the stored hash */
  ll_err err = {0};
  assert_null(ll_store_open(f->dir, LL_STORE_PRIMARY, &err));
  assert_non_null(strstr(err.message, "meta says task 1 ends"));
  ll_verify_report rep = verify(f->dir);
  assert_false(rep.ok);
  assert_int_equal(rep.bad_position, N_ENTRIES);
}

static void count_progress(void *ctx, uint64_t checked, uint64_t total) {
  uint64_t *calls = ctx;
  assert_true(checked <= total);
  (*calls)++;
}

/* Verify runs next to the primary that keeps appending, and sees the log as
 * it stood when it began. */
static void test_verify_next_to_live_primary(void **state) {
  log_fixture *f = *state;
  ll_store *s = log_open_ok(f->dir, LL_STORE_PRIMARY);
  for (int i = 0; i < 10; i++)
    append(s, i * 1000, 1000);
  ll_verify_report rep;
  ll_err err = {0};
  uint64_t calls = 0;
  assert_int_equal(ll_store_verify(f->dir, count_progress, &calls, &rep, &err),
                   0);
  assert_true(rep.ok);
  assert_int_equal(rep.entries, 10000);
  assert_int_equal(calls, 10000 / LL_VERIFY_PROGRESS_EVERY + 1);
  append(s, 10000, 5);
  rep = verify(f->dir);
  assert_true(rep.ok);
  assert_int_equal(rep.entries, 10005);
  ll_store_close(s);
}

static void test_checkpoint_is_a_verified_copy(void **state) {
  log_fixture *f = *state;
  ll_store *s = log_open_ok(f->dir, LL_STORE_PRIMARY);
  append(s, 0, 50);
  char cp[700];
  snprintf(cp, sizeof cp, "%s/checkpoint", f->root);
  uint64_t position = 0;
  ll_err err = {0};
  if (ll_store_checkpoint(s, cp, &position, &err) != 0)
    fail_msg("checkpoint: %s", err.message);
  assert_int_equal(position, 50);
  append(s, 50, 5); /* after the checkpoint: not in it */
  ll_store_close(s);

  ll_verify_report rep = verify(cp);
  assert_true(rep.ok);
  assert_int_equal(rep.entries, 50);
  s = log_open_ok(cp, LL_STORE_PRIMARY);
  assert_int_equal(ll_store_last_position(s), 50);
  append(s, 50, 1); /* the copy is a store of its own */
  ll_store_close(s);
  assert_true(verify(cp).ok);

  /* A secondary cannot. */
  s = log_open_ok(f->dir, LL_STORE_SECONDARY);
  char cp2[700];
  snprintf(cp2, sizeof cp2, "%s/checkpoint2", f->root);
  assert_int_equal(ll_store_checkpoint(s, cp2, &position, &err), -1);
  assert_non_null(strstr(err.message, "owns the log"));
  ll_store_close(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
#define T(fn)                                                                  \
  cmocka_unit_test_setup_teardown(fn, log_fixture_setup, log_fixture_teardown)
      T(test_chain_matches_documented_format),
      T(test_version_3_value_is_read),
      T(test_chain_survives_reopen_and_abort),
      T(test_empty_log_verifies),
      T(test_one_flipped_byte_is_found),
      T(test_rehashed_entry_breaks_next_link),
      T(test_missing_entry_is_found),
      T(test_task_index_is_checked),
      T(test_meta_must_name_the_last_entry),
      T(test_damaged_last_entry_refuses_open),
      T(test_verify_next_to_live_primary),
      T(test_checkpoint_is_a_verified_copy),
#undef T
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
