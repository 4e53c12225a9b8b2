/* ll_changelog.h — the records of lots.changelog: what a task remembers
 * beyond its accepted entries, so that a new owner can restore it from
 * Kafka (docs/cluster-design.md, decision 4; docs/streams.md).
 *
 * Partition p of lots.changelog belongs to task p. Two kinds of record:
 *   - a rejection: everything the task stored when it rejected the input
 *     record at one offset (the stored rejection, and the seen record
 *     that makes a later redelivery a no-op and a reuse EVENT_ID_REUSED);
 *   - a mark: "decided up to input offset o, last task position n", with
 *     the input offset and log clock of each entry the same transaction
 *     published (lots.events does not carry them, the log's hash chain
 *     does).
 * The publisher writes a task's rejections and then its mark in the same
 * Kafka transaction as the task's entries, so a mark never claims what is
 * not in Kafka.
 *
 * Value: u8 version (LL_CHANGELOG_VERSION), u8 kind ('R' or 'M'), then
 *   R  svar input offset, svar rejected_at_ms, str event_id (NULL: none),
 *      str code name, str message, bytes seen key, bytes seen value (both
 *      empty when the rejection is not remembered under its event id)
 *   M  svar o, uvar n, uvar k (the entries n-k+1..n this mark carries),
 *      then per entry: svar input offset, svar recorded_at_ms, each as
 *      the difference from the entry before (the first from 0), and u8
 *      the entry's flags (LL_ENTRY_*, log/ll_store.h: how the event as
 *      received differs from the one on lots.events)
 * Marks carry the header lotline-position = n; rejections carry none.
 * Version 1 records (marks without flags) are still read, their entries'
 * flags 0; they are written as version 2. The format is internal:
 * consumers must not rely on it. Pure code. */
#ifndef LL_CHANGELOG_H
#define LL_CHANGELOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ll_buf.h"
#include "ll_types.h"

#define LL_CHANGELOG_VERSION 2
#define LL_CHANGELOG_VERSION_NO_FLAGS 1
#define LL_CHANGELOG_REJECTION 'R'
#define LL_CHANGELOG_MARK 'M'
/* Entries one mark carries: a publisher run's, at most. */
#define LL_CHANGELOG_MARK_ENTRIES_MAX 10000

/* A rejection as the changelog keeps it. Strings and bytes are borrowed
 * when encoding; decoding fills them malloc'd (ll_chg_rejection_free). */
typedef struct ll_chg_rejection {
  int64_t offset; /* the input record's, in the task's partition */
  int64_t rejected_at_ms;
  char *event_id; /* NULL: none */
  ll_code code;
  char *message;
  /* The seen record (rules/ll_state.c's key and value), or both empty. */
  uint8_t *seen_key;
  size_t seen_key_len;
  uint8_t *seen_value;
  size_t seen_value_len;
} ll_chg_rejection;

/* One entry a mark carries. */
typedef struct ll_chg_entry {
  int64_t offset;
  int64_t recorded_at_ms;
  uint8_t flags; /* LL_ENTRY_* */
} ll_chg_entry;

typedef struct ll_chg_mark {
  int64_t offset;    /* o: every decision up to it is in Kafka */
  uint64_t position; /* n: the task's last entry in lots.events */
  size_t n_entries;  /* k: entries n-k+1..n, in entries (malloc'd) */
  ll_chg_entry *entries;
} ll_chg_mark;

void ll_chg_encode_rejection(ll_buf *out, const ll_chg_rejection *r);
void ll_chg_encode_mark(ll_buf *out, const ll_chg_mark *m);
/* The kind of a record ('R', 'M'), or 0 when it is not a record of a
 * version this code reads. */
char ll_chg_kind(const void *p, size_t n);
/* False when the bytes are not exactly one record of that kind. */
bool ll_chg_decode_rejection(const void *p, size_t n, ll_chg_rejection *r);
bool ll_chg_decode_mark(const void *p, size_t n, ll_chg_mark *m);
void ll_chg_rejection_free(ll_chg_rejection *r);
void ll_chg_mark_free(ll_chg_mark *m);

#endif
