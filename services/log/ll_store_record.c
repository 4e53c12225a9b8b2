/* ll_store_record.c — the bytes the log store keeps, one codec per column
 * family. Everything uses the ll_buf encoding (ll_buf.h: LEB128 varints,
 * zig-zag signed varints, NULL-preserving strings).
 *
 *   log         key   position, 8-byte big-endian, dense from 1
 *               value u8 version (4)
 *                     32 bytes: the task's chain hash (ll_store.h),
 *                       SHA-256 of the task's previous hash || the task
 *                       position as 8 bytes big-endian || this value
 *                       without these 32 bytes (the version byte and
 *                       everything after)
 *                     svar recorded_at_ms
 *                     svar partition   (-1 when not from Kafka): the task
 *                     svar offset      (-1 when not from Kafka)
 *                     uvar task position (dense from 1 within the task)
 *                     u8 flags (LL_ENTRY_*, ll_store.h; version 4 on:
 *                       version 3 values have none and read as 0)
 *                     uvar n: 2 for a StockMoved, 0 for other events
 *                     n svars: the lot's quantity (micro) after the move
 *                       at the source, then at the destination
 *                     ll_event_pack() bytes, to the end of the value
 *   rejections  key   sequence, 8-byte big-endian, dense from 1
 *               value u8 version (1)
 *                     str event_id (may be NULL)
 *                     str code name ("INSUFFICIENT_STOCK": names are the
 *                         contract, docs/rejections.md; enum numbers are
 *                         not)
 *                     str message, str topic
 *                     svar partition, svar offset, svar rejected_at_ms
 *   offsets     key   "<cluster>\x1f<topic>\x1f<partition as decimal>"
 *               value svar next offset
 *   state       keys and values owned by rules/ll_state.c
 *   default     meta (ll_store_internal.h)
 *
 * Decoders reject trailing bytes as well as short input: a value that does
 * not parse exactly is corrupt, not "probably fine".
 *
 * The hash sits at a fixed offset right after the version byte, so a
 * verifier can check the chain before (and whether or not) the rest of the
 * value parses. The local position (the key) is not hashed: a task's
 * entries hash the same on every instance that holds them, whatever else
 * its log holds. Versions 1 and 2 (no hash; one chain over the whole log)
 * were never deployed: stores of those formats are refused at open.
 * Version 3 values (no flags) are read as they are and keep their hashes;
 * new entries are written as version 4. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ll_buf.h"
#include "ll_event.h"
#include "ll_sha256.h"
#include "ll_store_internal.h"

#define LOG_VALUE_VERSION 4
#define LOG_VALUE_VERSION_NO_FLAGS 3
#define LOG_HASH_OFFSET 1 /* after the version byte */
#define LOG_BODY_OFFSET (LOG_HASH_OFFSET + LL_ENTRY_HASH_BYTES)
#define REJECTION_VERSION 1
#define LOG_MOVE_QUANTITIES 2 /* a StockMoved's: source, destination */

const uint8_t *ll_store_log_value_hash(const void *p, size_t n) {
  const uint8_t *v = p;
  if (n < LOG_BODY_OFFSET ||
      (v[0] != LOG_VALUE_VERSION && v[0] != LOG_VALUE_VERSION_NO_FLAGS))
    return NULL;
  return v + LOG_HASH_OFFSET;
}

void ll_store_chain_hash(const void *p, size_t n, uint64_t task_position,
                         const uint8_t prev_hash[LL_ENTRY_HASH_BYTES],
                         uint8_t out[LL_ENTRY_HASH_BYTES]) {
  const uint8_t *v = p;
  assert(n >= LOG_BODY_OFFSET);
  uint8_t key[8];
  ll_be64_encode(key, task_position);
  ll_sha256_part parts[4] = {
      {prev_hash, LL_ENTRY_HASH_BYTES},
      {key, sizeof key},
      {v, LOG_HASH_OFFSET},
      {v + LOG_BODY_OFFSET, n - LOG_BODY_OFFSET},
  };
  ll_sha256_parts(parts, 4, out);
}

void ll_store_encode_log_value(ll_buf *out, uint64_t task_position,
                               const uint8_t prev_hash[LL_ENTRY_HASH_BYTES],
                               const ll_event *ev, const ll_input *in,
                               int64_t recorded_at_ms,
                               const ll_move_after *after, uint8_t flags,
                               uint8_t hash_out[LL_ENTRY_HASH_BYTES]) {
  /* Room for the chain hash, filled in once the rest is encoded. */
  static const uint8_t hash_slot[LL_ENTRY_HASH_BYTES];
  assert(task_position >= 1);
  assert((flags & ~LL_ENTRY_FLAGS_KNOWN) == 0);
  ll_buf_reset(out);
  ll_buf_put_u8(out, LOG_VALUE_VERSION);
  ll_buf_put(out, hash_slot, sizeof hash_slot);
  ll_buf_put_svar(out, recorded_at_ms);
  ll_buf_put_svar(out, in ? in->partition : -1);
  ll_buf_put_svar(out, in ? in->offset : -1);
  ll_buf_put_uvar(out, task_position);
  ll_buf_put_u8(out, flags);
  if (ev->type == LL_EV_STOCK_MOVED) {
    static const ll_move_after none;
    const ll_move_after *a = after ? after : &none;
    ll_buf_put_uvar(out, LOG_MOVE_QUANTITIES);
    ll_buf_put_svar(out, a->from_after_micro);
    ll_buf_put_svar(out, a->to_after_micro);
  } else {
    ll_buf_put_uvar(out, 0);
  }
  ll_event_pack(ev, out); /* appends */
  ll_store_chain_hash(out->data, out->len, task_position, prev_hash, hash_out);
  memcpy(out->data + LOG_HASH_OFFSET, hash_out, LL_ENTRY_HASH_BYTES);
}

bool ll_store_decode_log_value(const void *p, size_t n, ll_entry *e) {
  ll_rd rd;
  int64_t partition;
  const uint8_t *hash = ll_store_log_value_hash(p, n);
  if (hash == NULL)
    return false;
  memcpy(e->hash, hash, LL_ENTRY_HASH_BYTES);
  ll_rd_init(&rd, (const uint8_t *)p + LOG_BODY_OFFSET, n - LOG_BODY_OFFSET);
  if (!ll_rd_svar(&rd, &e->recorded_at_ms) || !ll_rd_svar(&rd, &partition) ||
      !ll_rd_svar(&rd, &e->offset) || !ll_rd_uvar(&rd, &e->task_position) ||
      e->task_position == 0)
    return false;
  e->flags = 0;
  if (((const uint8_t *)p)[0] == LOG_VALUE_VERSION &&
      (!ll_rd_u8(&rd, &e->flags) || (e->flags & ~LL_ENTRY_FLAGS_KNOWN) != 0))
    return false;
  if (partition < INT32_MIN || partition > INT32_MAX)
    return false;
  e->partition = (int32_t)partition;
  uint64_t quantities;
  e->from_after_micro = e->to_after_micro = 0;
  if (!ll_rd_uvar(&rd, &quantities) ||
      (quantities != 0 && quantities != LOG_MOVE_QUANTITIES))
    return false;
  if (quantities == LOG_MOVE_QUANTITIES &&
      (!ll_rd_svar(&rd, &e->from_after_micro) ||
       !ll_rd_svar(&rd, &e->to_after_micro)))
    return false;
  ll_event_init(&e->event);
  if (!ll_event_unpack(rd.p, ll_rd_left(&rd), &e->event) ||
      (e->event.type == LL_EV_STOCK_MOVED) !=
          (quantities == LOG_MOVE_QUANTITIES)) {
    ll_event_free(&e->event);
    return false;
  }
  return true;
}

void ll_store_encode_rejection(ll_buf *out, const ll_stored_rejection *r) {
  ll_buf_reset(out);
  ll_buf_put_u8(out, REJECTION_VERSION);
  ll_buf_put_str(out, r->event_id);
  ll_buf_put_str(out, ll_code_name(r->code));
  ll_buf_put_str(out, r->message);
  ll_buf_put_str(out, r->topic);
  ll_buf_put_svar(out, r->partition);
  ll_buf_put_svar(out, r->offset);
  ll_buf_put_svar(out, r->rejected_at_ms);
}

bool ll_store_decode_rejection(const void *p, size_t n,
                               ll_stored_rejection *r) {
  ll_rd rd;
  uint8_t version;
  char *code_name = NULL;
  int64_t partition = 0;
  bool ok = false;

  memset(r, 0, sizeof *r);
  ll_rd_init(&rd, p, n);
  if (!ll_rd_u8(&rd, &version) || version != REJECTION_VERSION)
    goto done;
  if (!ll_rd_str(&rd, &r->event_id) || !ll_rd_str(&rd, &code_name) ||
      !ll_rd_str(&rd, &r->message) || !ll_rd_str(&rd, &r->topic) ||
      !ll_rd_svar(&rd, &partition) || !ll_rd_svar(&rd, &r->offset) ||
      !ll_rd_svar(&rd, &r->rejected_at_ms))
    goto done;
  if (ll_rd_left(&rd) != 0 || partition < INT32_MIN || partition > INT32_MAX)
    goto done;
  if (!ll_code_parse(code_name, &r->code))
    goto done;
  r->partition = (int32_t)partition;
  ok = true;
done:
  free(code_name);
  if (!ok)
    ll_stored_rejection_free(r);
  return ok;
}

void ll_store_offset_key(ll_buf *out, const char *cluster, const char *topic,
                         int32_t partition) {
  assert(cluster && topic);
  /* The separator cannot occur in Kafka topic names or cluster ids; a key
   * that could be read two ways would mix up two partitions' offsets. */
  assert(!strchr(cluster, 0x1f) && !strchr(topic, 0x1f));
  ll_buf_reset(out);
  ll_buf_printf(out, "%s\x1f%s\x1f%d", cluster, topic, (int)partition);
}

void ll_store_encode_offset(ll_buf *out, int64_t next_offset) {
  ll_buf_reset(out);
  ll_buf_put_svar(out, next_offset);
}

bool ll_store_decode_offset(const void *p, size_t n, int64_t *next_offset) {
  ll_rd rd;
  ll_rd_init(&rd, p, n);
  return ll_rd_svar(&rd, next_offset) && ll_rd_left(&rd) == 0;
}

void ll_entry_hash_hex(const uint8_t hash[LL_ENTRY_HASH_BYTES],
                       char out[2 * LL_ENTRY_HASH_BYTES + 1]) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < LL_ENTRY_HASH_BYTES; i++) {
    out[2 * i] = digits[hash[i] >> 4];
    out[2 * i + 1] = digits[hash[i] & 0xf];
  }
  out[2 * LL_ENTRY_HASH_BYTES] = '\0';
}
