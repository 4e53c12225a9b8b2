/* command.c — the command consumer: lots.inbound -> rules -> the log.
 *
 * services/command/ owns the consumer's loop (this file), its decoder
 * thread (command_decode.c), its metrics (command_metrics.c) and the
 * sender of lots.rejected (rejection_outbox.c); lotlined's main.c starts it.
 *
 * Shape of the loop (after librdkafka's examples/consumer.c):
 *   poll messages into a batch, a chunk at a time (what the consumer has
 *   ready, up to CMD_CHUNK_MAX), until the consumer has nothing more ready
 *   (group commit: a lone event is synced at once, a burst shares one
 *   sync), batch_max_events, or batch_max_ms of messages that keep coming;
 *   the decoder thread (command_decode.c) decodes a chunk while this
 *   thread decides the one before: has the store fetch in one go the state
 *   its events will read (ll_store_batch_prefetch), then for each message
 *   checks the key, loads facts, decides, and stages the log append /
 *   state changes / rejection / next input offset in the store's batch;
 *   commit it with one synced write (group commit); then let the outbox
 *   send the new rejections (rejection_outbox.c) and commit offsets to
 *   Kafka. A rejection's lots.rejected record goes into the outbox in the
 *   same batch as the rejection itself.
 *
 * A chunk never outlives the assignment it was polled under: one polled
 * before a rebalance is dropped unprocessed (the new assignment starts
 * from the stored offsets, so its messages come again), and so are the
 * messages of a partition polled before that partition was sought back
 * after a retry (registry down): they come again after the one that
 * failed.

 * The offsets in RocksDB are the truth: on assignment the consumer starts
 * each partition at its stored offset (or the beginning), so a crash
 * between the RocksDB commit and the Kafka commit neither loses nor doubles
 * an event. Offsets are keyed by the cluster id, so a new embedded broker
 * (a new, empty cluster) starts from its beginning. The group's committed
 * offsets serve lag tools and standbys: an offset is committed only once
 * every rejection before it is acknowledged by Kafka (a gate per
 * partition), so a standby may forget the rejections it parked below it.
 *
 * Standbys (command_standby.c): a second consumer, outside the group,
 * follows the partitions this instance keeps warm copies of, and this loop
 * decides its messages too (the store keeps one writer), in the shadow:
 * the same decisions into the log, but their rejections parked instead of
 * sent, their offsets never committed to the group, the counters left to
 * the owner. A chunk's standby messages polled under an earlier standby
 * assignment are dropped like a rebalance's (they come again from the
 * stored offsets). When the group hands over a partition this instance
 * stood by for, the rebalance commits the open batch, starts it at its
 * stored offset (the promotion: only the tail is left) and sends what it
 * parked.
 *
 * Eager assignment with a rebalance callback: before partitions are taken
 * away the batch in flight is committed.
 *
 * The log clock: no wall-clock time goes into the log, so that the same
 * input replayed gives the same log byte for byte (docs/concepts.md, "Log
 * time").
 * An entry's recorded_at and a rejection's rejected_at are the log clock
 * after its record: clock = max(clock, the Kafka record's timestamp), a
 * record without one (-1) leaving the clock as it is. Only records that
 * leave a trace (an entry or a rejection) move it: a duplicate writes
 * nothing, so a clock it moved would be lost at the next start, and a
 * restart that re-reads the input from the stored offsets must arrive at
 * the same stamps as a run that never stopped. The clock is the task's (the
 * input partition's): the store keeps it with the task's last entry
 * (ll_store_task_last), so it resumes where the task left it, on this
 * instance or another, and no other partition's records can move it.
 *
 * A full disk stops the loop: a batch is not committed while the log's
 * filesystem has less than min_free_bytes free (a clean stop with room left
 * for RocksDB to close), and a failed commit stops it too. Either way
 * nothing of the batch is written and the stored offsets stay where the log
 * ends; the caller exits non-zero with the reason. */
#include "command.h"

#include <assert.h>
#include <librdkafka/rdkafka.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "command_decode.h"
#include "command_entry.h"
#include "command_metrics.h"
#include "command_restore.h"
#include "command_standby.h"
#include "command_topics.h"
#include "ll_changelog.h"
#include "ll_event.h"
#include "ll_hash.h"
#include "ll_logging.h"
#include "ll_mem.h"
#include "ll_time.h"

#define COMMAND_IDLE_POLL_MS 100
#define COMMAND_RETRY_SLEEP_MS 1000
#define COMMAND_CLUSTER_ID_WAIT_MS 2000
#define COMMAND_PARTITIONS_MAX 1024
#define COMMAND_RECONNECT_BACKOFF_MAX_MS "1000"
/* How long the broker may hold a fetch that finds nothing. Kafka answers as
 * soon as a message arrives, so this only paces an idle consumer's fetches.
 * librdkafka's mock cluster (the embedded broker) holds an empty fetch for
 * all of it even when a message arrives meanwhile, so there it is what a
 * lone event waits before it is read: keep it short. */
#define COMMAND_FETCH_WAIT_MAX_MS "10"
#define COMMAND_FETCH_WAIT_MAX_MS_EMBEDDED "1"
#define COMMAND_CLOSE_TIMEOUT_MS 1500   /* for leaving the group at shutdown */
#define COMMAND_DESTROY_TIMEOUT_MS 2000 /* then for its threads to end */
/* At shutdown, waiting for Kafka to acknowledge the last rejections: at
 * most this long, and no longer than this without any acknowledgement. */
#define COMMAND_DRAIN_MAX_MS 2000
#define COMMAND_DRAIN_STALL_MS 500
/* An idle consumer commits again, this often, the offsets Kafka refused
 * (during a rebalance): librdkafka does not retry an asynchronous commit,
 * and with no new input no later commit would cover it. */
#define COMMAND_RECOMMIT_IDLE_MS 2000
/* Offsets go to the group at most this often while batches follow each
 * other (each look at the gates reads the outbox's first record). */
#define COMMAND_COMMIT_EVERY_MS 100

typedef struct pending_offset {
  int32_t partition;
  int64_t next;
} pending_offset;

/* An owned partition's next offsets waiting to be committed to the group:
 * each may be committed once every rejection up to its barrier (the last
 * rejection sequence when its batch was durable) is acknowledged. Two
 * slots: the older waits, the newer is overwritten by later batches, so
 * a commit trails the acknowledgements by at most one step. */
typedef struct commit_gate {
  bool has[2];
  uint64_t barrier[2];
  int64_t next[2];
  int64_t passed; /* the last offset the gate let through (0: none) */
  bool refused;   /* Kafka refused its commit (a rebalance): again */
} commit_gate;

typedef struct loop {
  const ll_command_opts *o;
  ll_command_stats *stats;
  rd_kafka_t *rk;
  char *cluster_id;
  ll_store_batch *batch; /* NULL when no batch is open */
  size_t batch_msgs;
  uint64_t batch_started_ns;
  uint64_t batch_poll_ns;    /* time spent waiting for messages */
  uint64_t batch_process_ns; /* time spent deciding them */
  pending_offset offsets[COMMAND_PARTITIONS_MAX];
  size_t n_offsets;
  size_t batch_outbox; /* outbox records in the open batch */
  ll_buf scratch;
  cmd_decoder *decoder;
  cmd_chunk *chunks[2]; /* one being decided, one being decoded */
  ll_mutations muts;    /* one event's state changes, reused */
  uint64_t rebalances;  /* assignment changes seen, to drop stale chunks */
  uint64_t seeks;       /* retries that sought a partition back */
  uint64_t partition_seek[COMMAND_PARTITIONS_MAX]; /* `seeks` at its last */
  int32_t partitions; /* of the input topic, checked at start */
  uint8_t owned[COMMAND_PARTITIONS_MAX / 8]; /* assigned by the group */
  commit_gate *gates;   /* COMMAND_PARTITIONS_MAX of them */
  size_t gates_pending; /* partitions with an offset waiting */
  cmd_standby *standby; /* NULL until a first standby partition */
  bool shadow;          /* deciding a standby partition's message */
  bool closing;         /* finish(): no standby any more */
  bool standby_first;   /* which consumer the next poll starts with */
  uint64_t standby_checked_ns, standby_pruned_ns;
  uint64_t recommitted_ns;   /* the last idle commit again */
  uint64_t gates_checked_ns; /* the last look at the gates */
  bool fatal;
  ll_err fatal_err;
  command_metrics metrics;
} loop;

/* The kind of a failure a callee reported, to pass it on; INTERNAL when
 * the callee gave none. */
static ll_err_kind failure_kind(const ll_err *e) {
  return e->kind > LL_ERR_REJECTED && e->kind < LL_ERR_KIND_COUNT
             ? e->kind
             : LL_ERR_INTERNAL;
}

static void note_offset(loop *l, int32_t partition, int64_t next) {
  for (size_t i = 0; i < l->n_offsets; i++) {
    if (l->offsets[i].partition == partition) {
      if (next > l->offsets[i].next)
        l->offsets[i].next = next;
      return;
    }
  }
  /* Partition ids are bounded by the topic's partition count. */
  if (l->n_offsets == COMMAND_PARTITIONS_MAX) {
    l->fatal = true;
    ll_fail(&l->fatal_err, LL_ERR_FULL, "more than %d partitions in one batch",
            COMMAND_PARTITIONS_MAX);
    return;
  }
  l->offsets[l->n_offsets++] = (pending_offset){partition, next};
}

static bool owns(const loop *l, int32_t p) {
  return p >= 0 && p < COMMAND_PARTITIONS_MAX &&
         (l->owned[p / 8] & (1u << (p % 8))) != 0;
}

/* The rejection's lots.rejected record goes into the outbox, in the same
 * batch as the rejection itself; a standby parks it instead (the owner
 * sends it: command_standby.c). */
static void stage_rejection_record(loop *l, const rd_kafka_message_t *m,
                                   uint64_t sequence, const ll_rejection *r) {
  ll_err e = {0};
  ll_buf_reset(&l->scratch);
  if (ll_codec_encode_rejection(l->o->codec, r, &l->scratch, &e) != 0) {
    ll_log(LL_ERROR, "command", "cannot encode rejection at %s/%d@%lld: %s: %s",
           r->topic, r->partition, (long long)r->offset,
           ll_err_kind_name(e.kind), e.message);
    return;
  }
  if (l->shadow) {
    ll_store_batch_park(l->batch, m->partition, m->offset, sequence, m->key,
                        m->key_len, m->key != NULL, l->scratch.data,
                        l->scratch.len);
    return;
  }
  ll_store_batch_outbox(l->batch, sequence, m->key, m->key_len, m->key != NULL,
                        l->scratch.data, l->scratch.len);
  l->batch_outbox++;
}

/* The stamp of the entry or rejection m leaves: its task's clock moved to
 * m's Kafka timestamp if that is later (top of the file). The batch moves
 * the clock when it stores the entry or rejection. */
static int64_t stamp(loop *l, const rd_kafka_message_t *m) {
  rd_kafka_timestamp_type_t type;
  int64_t ts_ms = rd_kafka_message_timestamp(m, &type);
  return ll_log_clock_advance(ll_store_batch_task_clock(l->batch, m->partition),
                              ts_ms);
}

/* The rejection's lots.changelog record, in task order beside the
 * entries (services/log/ll_store_changelog.c): the publisher writes it to
 * lots.changelog with the task's entries, so that a new owner can restore
 * the rejection and its seen record (command_restore.c). */
static void stage_changelog(loop *l, const rd_kafka_message_t *m,
                            const ll_stored_rejection *sr,
                            const ll_mutations *seen) {
  ll_chg_rejection cr = {.offset = m->offset,
                         .rejected_at_ms = sr->rejected_at_ms,
                         .event_id = sr->event_id,
                         .code = sr->code,
                         .message = sr->message};
  /* A rejection the rules remember writes exactly its seen record. */
  assert(seen == NULL || seen->len <= 1);
  if (seen != NULL && seen->len == 1 && !seen->items[0].is_delete) {
    cr.seen_key = seen->items[0].key.data;
    cr.seen_key_len = seen->items[0].key.len;
    cr.seen_value = seen->items[0].value.data;
    cr.seen_value_len = seen->items[0].value.len;
  }
  ll_store_batch_changelog(l->batch, m->partition, &cr);
}

/* seen: the state changes the rejection made (its seen record), or NULL. */
static void reject(loop *l, const rd_kafka_message_t *m, const char *event_id,
                   ll_code code, const char *message,
                   const ll_mutations *seen) {
  const char *topic = rd_kafka_topic_name(m->rkt);
  int64_t at_ms = stamp(l, m);
  ll_stored_rejection sr = {.rejected_at_ms = at_ms,
                            .event_id = (char *)event_id,
                            .code = code,
                            .message = (char *)message,
                            .topic = (char *)topic,
                            .partition = m->partition,
                            .offset = m->offset};
  uint64_t sequence = ll_store_batch_reject(l->batch, &sr);
  stage_changelog(l, m, &sr, seen);
  ll_rejection r = {.event_id = (char *)event_id,
                    .code = code,
                    .message = (char *)message,
                    .topic = (char *)topic,
                    .partition = m->partition,
                    .offset = m->offset,
                    .rejected_at_ms = at_ms,
                    .key = m->key,
                    .key_len = m->key_len,
                    .value = m->payload,
                    .value_len = m->len};
  stage_rejection_record(l, m, sequence, &r);
  if (l->shadow)
    return; /* the counters are the owner's */
  atomic_fetch_add(&l->stats->rejected, 1);
  command_metrics_rejected(&l->metrics, code);
  ll_log(LL_DEBUG, "command", "rejected %s/%d@%lld %s: %s", topic, m->partition,
         (long long)m->offset, ll_code_name(code), message);
}

/* Decide one decoded event and stage its effects in the batch. */
static void decide_event(loop *l, const rd_kafka_message_t *m, ll_event *ev) {
  ll_state_reader reader = ll_store_batch_reader(l->batch);
  ll_facts facts;
  ll_decision d;
  ll_mutations *muts = &l->muts;
  ll_err e = {0};
  ll_facts_init(&facts);
  ll_decision_init(&d);
  ll_mutations_reset(muts);
  if (ll_facts_load(&reader, ev, &facts, &e) != 0) {
    l->fatal = true;
    ll_fail(&l->fatal_err, failure_kind(&e), "reading state: %s", e.message);
    goto out;
  }
  ll_decide(&facts, ev, &l->o->rule_opts, &d);
  if (d.duplicate) {
    if (!l->shadow) {
      atomic_fetch_add(&l->stats->duplicates, 1);
      ll_counter_add(l->metrics.duplicates, 1);
    }
    goto out;
  }
  if (d.accepted) {
    /* The log holds the event as validated: addressed by lot_id. */
    ll_event normalized;
    uint8_t flags;
    const ll_event *logged = cmd_entry_event(ev, &d, &normalized, &flags);
    ll_input in = {rd_kafka_topic_name(m->rkt), m->partition, m->offset};
    /* The quantities the move leaves go into the entry: the publisher
     * writes them to lots.quantities without a fold of its own. */
    ll_move_after after = {d.from_qty_micro, d.to_qty_micro};
    uint64_t position = ll_store_batch_append_decided(
        l->batch, logged, &in, stamp(l, m),
        ev->type == LL_EV_STOCK_MOVED ? &after : NULL, flags);
    if (logged != ev)
      ll_event_free(&normalized);
    ll_log_at at = {position, m->partition,
                    ll_store_batch_task_position(l->batch, m->partition)};
    ll_decision_mutations(ev, &d, &at, muts);
    ll_store_batch_mutate(l->batch, muts);
    if (!l->shadow) {
      atomic_fetch_add(&l->stats->accepted, 1);
      ll_counter_add(l->metrics.accepted, 1);
    }
  } else {
    ll_decision_mutations(ev, &d, NULL, muts);
    ll_store_batch_mutate(l->batch, muts);
    reject(l, m, ev->event_id, d.code, d.message, muts);
  }
out:
  ll_decision_free(&d);
  ll_facts_free(&facts);
}

/* The record is on the partition Kafka's default partitioner gives its
 * key (the key is the product: checked before). */
static bool on_own_partition(const loop *l, const rd_kafka_message_t *m) {
  return m->partition == ll_partition_of_key(m->key, m->key_len, l->partitions);
}

static void reject_wrong_partition(loop *l, const rd_kafka_message_t *m,
                                   const ll_event *ev) {
  char msg[LL_MESSAGE_MAX_BYTES];
  snprintf(msg, sizeof msg,
           "Product '%s' belongs to partition %d of %s (murmur2 of the key, "
           "Kafka's default partitioner, over %d partitions), but this event "
           "arrived on partition %d: all events of a product must be on its "
           "partition. Produce with Kafka's default partitioner (librdkafka "
           "clients: partitioner=murmur2_random).",
           ev->product_id,
           (int)ll_partition_of_key(m->key, m->key_len, l->partitions),
           rd_kafka_topic_name(m->rkt), (int)l->partitions, (int)m->partition);
  reject(l, m, ev->event_id, LL_WRONG_PARTITION, msg, NULL);
}

/* Decide one decoded message (code and e as the codec left them). */
static void process_decoded(loop *l, const rd_kafka_message_t *m, ll_event *ev,
                            ll_code code, const ll_err *e) {
  if (code != LL_OK) {
    reject(l, m, NULL, code, e->message, NULL);
  } else if (!cmd_key_matches(m, ev->product_id)) {
    char msg[LL_MESSAGE_MAX_BYTES];
    snprintf(msg, sizeof msg,
             "The Kafka key '%.*s' differs from the event's product_id "
             "'%s': events of one product must be keyed by that product.",
             m->key ? (int)(m->key_len > 100 ? 100 : m->key_len) : 6,
             m->key ? (const char *)m->key : "(none)", ev->product_id);
    reject(l, m, ev->event_id, LL_KEY_MISMATCH, msg, NULL);
  } else if (!on_own_partition(l, m)) {
    reject_wrong_partition(l, m, ev);
  } else {
    decide_event(l, m, ev);
  }
  note_offset(l, m->partition, m->offset + 1);
}

/* Hand the outbox's new and unacknowledged records to Kafka. A store that
 * cannot be read or written stops the loop like a failed commit. */
static void pump_outbox(loop *l) {
  ll_err e = {0};
  if (l->o->outbox && !l->fatal && ll_outbox_pump(l->o->outbox, &e) != 0) {
    l->fatal = true;
    ll_fail(&l->fatal_err, failure_kind(&e), "rejections outbox: %s",
            e.message);
  }
}

/* A durable batch's offsets of owned partitions wait at the gate for the
 * rejections up to now to be acknowledged. Standby partitions' offsets
 * are never committed: the group's offsets are the owner's. */
static void gate_note(loop *l, int32_t p, int64_t next, uint64_t barrier) {
  commit_gate *g = &l->gates[p];
  int slot = g->has[0] ? 1 : 0;
  if (!g->has[0])
    l->gates_pending++;
  g->has[slot] = true;
  g->barrier[slot] = barrier;
  g->next[slot] = next;
}

static void gate_offsets(loop *l) {
  uint64_t barrier = ll_store_last_rejection(l->o->store);
  for (size_t i = 0; i < l->n_offsets; i++)
    if (owns(l, l->offsets[i].partition))
      gate_note(l, l->offsets[i].partition, l->offsets[i].next, barrier);
}

/* The next offset of g that every acknowledgement before lowest allows
 * (-1: none yet); the gate moves on. */
static int64_t gate_pass(commit_gate *g, uint64_t lowest) {
  int64_t next = -1;
  while (g->has[0] && g->barrier[0] < lowest) {
    next = g->passed = g->next[0];
    g->has[0] = g->has[1];
    g->barrier[0] = g->barrier[1];
    g->next[0] = g->next[1];
    g->has[1] = false;
  }
  return next;
}

/* Commit to the group the offsets whose rejections Kafka has all
 * acknowledged. The log's offsets are the truth for this instance; the
 * group's serve lag tools and tell a standby which of its parked
 * rejections the owner has had acknowledged (command_standby.c). */
static void commit_kafka_offsets(loop *l, bool now) {
  uint64_t t = ll_mono_ns();
  if (l->gates_pending == 0 ||
      (!now && t - l->gates_checked_ns < COMMAND_COMMIT_EVERY_MS * 1000000ull))
    return;
  l->gates_checked_ns = t;
  uint64_t lowest = UINT64_MAX;
  ll_err e = {0};
  if (l->o->outbox &&
      ll_outbox_lowest_unacked(l->o->outbox, &lowest, &e) != 0) {
    l->fatal = true;
    ll_fail(&l->fatal_err, failure_kind(&e), "rejections outbox: %s",
            e.message);
    return;
  }
  rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(8);
  for (int32_t p = 0; p < l->partitions && p < COMMAND_PARTITIONS_MAX; p++) {
    commit_gate *g = &l->gates[p];
    int64_t next = g->has[0] ? gate_pass(g, lowest) : -1;
    if (next >= 0)
      rd_kafka_topic_partition_list_add(list, l->o->topics.inbound, p)->offset =
          next;
    if (next >= 0 && !g->has[0])
      l->gates_pending--;
  }
  rd_kafka_resp_err_t ce = list->cnt > 0
                               ? rd_kafka_commit(l->rk, list, 1 /* async */)
                               : RD_KAFKA_RESP_ERR_NO_ERROR;
  if (ce && ce != RD_KAFKA_RESP_ERR__NO_OFFSET)
    ll_log(LL_DEBUG, "command", "informational offset commit: %s",
           rd_kafka_err2str(ce));
  rd_kafka_topic_partition_list_destroy(list);
}

/* Kafka's answer to a commit (served by the consumer's poll, on this
 * thread): a partition it refused is committed again when idle. */
static void on_committed(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *offsets,
                         void *opaque) {
  (void)rk;
  loop *l = opaque;
  for (int i = 0; offsets != NULL && i < offsets->cnt; i++) {
    int32_t p = offsets->elems[i].partition;
    if ((err || offsets->elems[i].err) && p >= 0 &&
        p < COMMAND_PARTITIONS_MAX && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
      l->gates[p].refused = true;
  }
}

/* Idle: commit again what Kafka refused (see COMMAND_RECOMMIT_IDLE_MS). */
static void recommit_idle(loop *l) {
  uint64_t now = ll_mono_ns();
  if (now - l->recommitted_ns < COMMAND_RECOMMIT_IDLE_MS * 1000000ull)
    return;
  l->recommitted_ns = now;
  rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(8);
  for (int32_t p = 0; p < l->partitions && p < COMMAND_PARTITIONS_MAX; p++) {
    commit_gate *g = &l->gates[p];
    if (owns(l, p) && g->refused && g->passed > 0)
      rd_kafka_topic_partition_list_add(list, l->o->topics.inbound, p)->offset =
          g->passed;
    g->refused = false;
  }
  if (list->cnt > 0)
    rd_kafka_commit(l->rk, list, 1 /* async */);
  rd_kafka_topic_partition_list_destroy(list);
}

/* Forget the gates of partitions no longer owned. */
static void clear_gates(loop *l) {
  memset(l->gates, 0, COMMAND_PARTITIONS_MAX * sizeof *l->gates);
  l->gates_pending = 0;
}

/* Forget what the batch would have published and stored. */
static void drop_pending(loop *l) {
  l->batch_outbox = 0;
  l->n_offsets = 0;
  l->batch_msgs = 0;
}

/* False (and the loop stops) when the log's filesystem is nearly full. If
 * statvfs itself fails, RocksDB's own write error is the judge. */
static bool enough_space(loop *l) {
  struct statvfs st;
  if (l->o->min_free_bytes <= 0 || !l->o->log_dir ||
      statvfs(l->o->log_dir, &st) != 0)
    return true;
  uint64_t free_bytes = (uint64_t)st.f_bavail * (uint64_t)st.f_frsize;
  if (free_bytes >= (uint64_t)l->o->min_free_bytes)
    return true;
  l->fatal = true;
  ll_fail(&l->fatal_err, LL_ERR_FULL,
          "disk almost full: %.2f MiB free on the filesystem of %s, "
          "less than storage.min.free.mb (%lld MiB); stopped before "
          "writing the next batch",
          (double)free_bytes / (1024.0 * 1024.0), l->o->log_dir,
          (long long)(l->o->min_free_bytes / (1024 * 1024)));
  return false;
}

/* Make the open batch durable. On a storage error (or too little space)
 * nothing of the batch is kept and the loop stops: offsets never run ahead
 * of the log. */
static void commit_batch(loop *l) {
  if (!l->batch)
    return;
  if (l->fatal || !enough_space(l)) {
    ll_store_batch_abort(l->batch);
    l->batch = NULL;
    drop_pending(l);
    return;
  }
  for (size_t i = 0; i < l->n_offsets; i++)
    ll_store_batch_offset(l->batch, l->cluster_id, l->o->topics.inbound,
                          l->offsets[i].partition, l->offsets[i].next);
  ll_err e = {0};
  uint64_t t0 = ll_mono_ns();
  size_t n = l->batch_msgs;
  int rc = ll_store_batch_commit(l->batch, true, &e);
  l->batch = NULL;
  l->batch_msgs = 0;
  if (rc != 0) {
    l->fatal = true;
    ll_fail(&l->fatal_err, failure_kind(&e), "writing the log: %s", e.message);
    drop_pending(l);
    return;
  }
  atomic_fetch_add(&l->stats->batches, 1);
  command_metrics_batch(&l->metrics, n, ll_mono_ns() - t0);
  for (size_t i = 0; i < l->n_offsets; i++)
    command_metrics_committed(&l->metrics, l->offsets[i].partition,
                              l->offsets[i].next);
  ll_log(LL_DEBUG, "command",
         "batch of %zu message(s) synced in %.2f ms (polling %.2f ms, "
         "deciding %.2f ms)",
         n, (double)(ll_mono_ns() - t0) / 1e6, (double)l->batch_poll_ns / 1e6,
         (double)l->batch_process_ns / 1e6);
  l->batch_poll_ns = 0;
  l->batch_process_ns = 0;
  if (l->o->outbox)
    ll_outbox_committed(l->o->outbox, l->batch_outbox);
  l->batch_outbox = 0;
  gate_offsets(l);
  pump_outbox(l);
  commit_kafka_offsets(l, false);
  l->n_offsets = 0;
}

/* Tell the cluster directory what this consumer now holds. */
static void announce_assignment(const loop *l,
                                const rd_kafka_topic_partition_list_t *parts) {
  if (l->o->on_assignment == NULL)
    return;
  int32_t held[COMMAND_PARTITIONS_MAX];
  size_t n = 0;
  for (int i = 0; parts != NULL && i < parts->cnt && n < COMMAND_PARTITIONS_MAX;
       i++)
    held[n++] = parts->elems[i].partition;
  /* The group's assignor orders members by this id (docs/cluster-design.md,
   * "Standbys"): the directory places standbys by it. */
  char *member = rd_kafka_memberid(l->rk);
  l->o->on_assignment(l->o->assignment_ctx, held, n, l->partitions,
                      member != NULL ? member : "");
  rd_kafka_mem_free(l->rk, member);
}

/* Stand by for the partitions the directory names, less those the group
 * gave this instance. force: re-assign even when they did not change (a
 * rebalance dropped what was polled: it must come again). */
static void sync_standby(loop *l, bool force) {
  if (l->o->standby_of == NULL || l->fatal || !l->cluster_id || l->closing)
    return;
  int32_t want[COMMAND_PARTITIONS_MAX];
  size_t n =
      l->o->standby_of(l->o->assignment_ctx, want, COMMAND_PARTITIONS_MAX);
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (!owns(l, want[i]) && want[i] < l->partitions)
      want[k++] = want[i];
  if (l->standby == NULL && k == 0)
    return;
  if (l->standby == NULL) {
    cmd_standby_opts so = {.cfg = l->o->cfg,
                           .brokers = l->o->brokers,
                           .topic = l->o->topics.inbound,
                           .fetch_wait_max_ms =
                               l->o->embedded_broker
                                   ? COMMAND_FETCH_WAIT_MAX_MS_EMBEDDED
                                   : COMMAND_FETCH_WAIT_MAX_MS,
                           .allow_truncated = l->o->allow_truncated};
    l->standby = cmd_standby_new(&so);
  }
  bool differs = cmd_standby_differs(l->standby, want, k);
  if (!differs && (!force || k == 0))
    return;
  commit_batch(l); /* the standby starts again from the stored offsets */
  ll_err e = {0};
  if (cmd_standby_assign(l->standby, l->o->store, l->cluster_id, want, k, &e) !=
      0) {
    l->fatal = true;
    l->fatal_err = e;
  }
  command_metrics_standby(&l->metrics, want, k);
  for (size_t i = 0; i < k; i++) {
    int64_t next = 0;
    bool found = false;
    if (ll_store_get_offset(l->o->store, l->cluster_id, l->o->topics.inbound,
                            want[i], &next, &found, &e) == 0 &&
        found)
      command_metrics_committed(&l->metrics, want[i], next);
  }
  if (differs)
    ll_log(LL_INFO, "standby", "standing by for %zu partition(s) of %s",
           cmd_standby_count(l->standby), l->o->topics.inbound);
}

/* This instance kept a warm copy of the partition it now owns: say from
 * where it resumes and how far behind the partition's end that is. */
static void log_promotion(loop *l, const rd_kafka_topic_partition_t *tp,
                          int64_t next) {
  int64_t high = cmd_standby_high(l->standby, tp->partition);
  ll_task_last t;
  ll_store_task_last(l->o->store, tp->partition, &t);
  ll_log(LL_INFO, "command",
         "promoted: %s/%d resumes at offset %lld from its standby copy "
         "(task position %llu), %lld message(s) behind the partition's end",
         tp->topic, (int)tp->partition, (long long)next,
         (unsigned long long)t.position,
         high >= 0 && high > next ? (long long)(high - next) : 0LL);
  command_metrics_promoted(&l->metrics);
}

/* A new owner restores what Kafka holds of the task beyond its local copy
 * (command_restore.c): *found and *next become where the input resumes. */
static void restore_assigned(loop *l, int32_t p, bool *found, int64_t *next) {
  cmd_restore_opts ro = {.cfg = l->o->cfg,
                         .brokers = l->o->brokers,
                         .topics = &l->o->topics,
                         .store = l->o->store,
                         .codec = l->o->codec,
                         .rule_opts = &l->o->rule_opts,
                         .cluster_id = l->cluster_id,
                         .group = l->rk,
                         .allow_truncated = l->o->allow_truncated,
                         .metrics = &l->metrics};
  cmd_restore_task t = {.partition = p, .have_offset = *found, .next = *next};
  ll_err e = {0};
  if (cmd_restore(&ro, &t, &e) != 0) {
    l->fatal = true;
    ll_fail(&l->fatal_err, failure_kind(&e), "%s", e.message);
    return;
  }
  if (!t.restored)
    return;
  if (t.n_resend > 0 && l->o->outbox)
    ll_outbox_requeue(l->o->outbox, t.resend, t.n_resend);
  free(t.resend);
  *found = true;
  *next = t.next;
  command_metrics_committed(&l->metrics, p, t.next);
}

/* Start an assigned partition at its stored offset (or its beginning),
 * after restoring what Kafka holds beyond it. */
static void place_assigned(loop *l, rd_kafka_t *rk,
                           rd_kafka_topic_partition_t *tp) {
  if (tp->partition >= l->partitions) {
    l->fatal = true;
    ll_fail(&l->fatal_err, LL_ERR_CONFIG,
            "%s now has more than the %d partitions it had at start: a "
            "product's events now go to another partition than the one "
            "that holds its lots (docs/operations.md, \"Partition "
            "counts\")",
            tp->topic, (int)l->partitions);
  }
  int64_t next = 0;
  bool found = false;
  ll_err e;
  if (ll_store_get_offset(l->o->store, l->cluster_id, tp->topic, tp->partition,
                          &next, &found, &e) != 0) {
    l->fatal = true;
    l->fatal_err = e;
    found = false;
  }
  if (!l->fatal)
    restore_assigned(l, tp->partition, &found, &next);
  if (!found && !l->fatal &&
      cmd_check_start(rk, tp->topic, tp->partition, l->o->allow_truncated,
                      COMMAND_CLUSTER_ID_WAIT_MS, &next, &e) != 0) {
    l->fatal = true;
    l->fatal_err = e;
  }
  tp->offset = found ? next : RD_KAFKA_OFFSET_BEGINNING;
  if (found && l->standby && cmd_standby_holds(l->standby, tp->partition))
    log_promotion(l, tp, next);
  else
    ll_log(LL_INFO, "command", "assigned %s/%d from offset %s%lld", tp->topic,
           tp->partition, found ? "" : "beginning ",
           found ? (long long)next : 0LL);
}

/* The rejections this instance parked while it stood by for p go to the
 * outbox now that it owns p (the old owner may have sent some: repeats
 * are byte-identical, docs/streams.md). */
static void release_parked(loop *l, int32_t p) {
  uint64_t *seqs = NULL;
  size_t n = 0;
  ll_err e = {0};
  if (ll_store_parked_release(l->o->store, p, &seqs, &n, &e) != 0) {
    l->fatal = true;
    ll_fail(&l->fatal_err, failure_kind(&e), "parked rejections: %s",
            e.message);
  } else if (n > 0) {
    if (l->o->outbox)
      ll_outbox_requeue(l->o->outbox, seqs, n);
    ll_log(LL_INFO, "command",
           "%s/%d: %zu rejection(s) decided as its standby go to %s",
           l->o->topics.inbound, (int)p, n, l->o->topics.rejected);
  }
  free(seqs);
}

static void on_assigned(loop *l, rd_kafka_t *rk,
                        rd_kafka_topic_partition_list_t *parts) {
  commit_batch(l); /* the standby's decisions are durable: offsets current */
  for (int i = 0; i < parts->cnt; i++)
    place_assigned(l, rk, &parts->elems[i]);
  memset(l->owned, 0, sizeof l->owned);
  for (int i = 0; i < parts->cnt && !l->fatal; i++) {
    int32_t p = parts->elems[i].partition;
    if (p < 0 || p >= COMMAND_PARTITIONS_MAX)
      continue;
    l->owned[p / 8] |= (uint8_t)(1u << (p % 8));
    release_parked(l, p);
    /* What a standby decided is the owner's now: its offset goes to the
     * group like any batch's. */
    if (parts->elems[i].offset >= 0)
      gate_note(l, p, parts->elems[i].offset,
                ll_store_last_rejection(l->o->store));
  }
  rd_kafka_assign(rk, parts);
  command_metrics_assigned(&l->metrics, parts);
  atomic_store(&l->stats->assigned, parts->cnt > 0);
  announce_assignment(l, parts);
  sync_standby(l, true);
  /* The per-partition lines above can take a while (a partition without a
   * stored offset asks Kafka where it starts): this one says it is done. */
  ll_log(LL_INFO, "command", "assignment in place: consuming %d partition(s)",
         parts->cnt);
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque) {
  loop *l = opaque;
  l->rebalances++;
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    on_assigned(l, rk, parts);
  } else {
    commit_batch(l); /* finish what we have before losing partitions */
    commit_kafka_offsets(l, true);
    clear_gates(l);
    ll_log(LL_INFO, "command", "partitions revoked (%d)", parts->cnt);
    rd_kafka_assign(rk, NULL);
    memset(l->owned, 0, sizeof l->owned);
    command_metrics_revoked(&l->metrics);
    atomic_store(&l->stats->assigned, false);
    announce_assignment(l, NULL);
    sync_standby(l, true);
  }
}

static rd_kafka_t *make_consumer(loop *l, ll_err *err) {
  char errstr[512];
  const char *settings[][2] = {
      {"bootstrap.servers", l->o->brokers},
      {"group.id", ll_config_get(l->o->cfg, "group.id")},
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      /* An offset the broker no longer holds (retention deleted events
       * before they were decided) is an error, never a silent jump to
       * what remains, unless the operator allowed it (on_offset_lost). */
      {"auto.offset.reset", l->o->allow_truncated ? "earliest" : "error"},
      {"partition.assignment.strategy", "range,roundrobin"},
      {"client.id", "lotline-command"},
      {"fetch.wait.max.ms", l->o->embedded_broker
                                ? COMMAND_FETCH_WAIT_MAX_MS_EMBEDDED
                                : COMMAND_FETCH_WAIT_MAX_MS},
      /* A restarted consumer waits for its dead predecessor to time out of
       * the group: keep that short (Kafka's minimum allowed by default).
       * kafka.session.timeout.ms overrides it. */
      {"session.timeout.ms", "6000"},
      {"heartbeat.interval.ms", "1000"},
      /* Back within a second of Kafka: API writes wait for our decision. */
      {"reconnect.backoff.max.ms", COMMAND_RECONNECT_BACKOFF_MAX_MS},
  };
  rd_kafka_conf_t *conf =
      ll_kafka_conf_new(settings, sizeof settings / sizeof settings[0],
                        l->o->cfg, "consumer", err);
  if (conf == NULL)
    return NULL;
  rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
  rd_kafka_conf_set_offset_commit_cb(conf, on_committed);
  rd_kafka_conf_set_opaque(conf, l);
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
  if (!rk) {
    ll_fail(err, LL_ERR_KAFKA, "cannot create consumer: %s", errstr);
    return NULL;
  }
  rd_kafka_poll_set_consumer(rk);
  return rk;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Registry down: keep what is decided, rewind the partition to the message
 * that could not be read, and wait before trying it again. */
static void retry_later(loop *l, const rd_kafka_message_t *m, bool standby) {
  commit_batch(l);
  rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(list, rd_kafka_topic_name(m->rkt),
                                    m->partition)
      ->offset = m->offset;
  rd_kafka_t *rk = standby ? cmd_standby_consumer(l->standby) : l->rk;
  rd_kafka_error_t *e = rd_kafka_seek_partitions(rk, list, 5000);
  if (e) {
    ll_log(LL_WARN, "command", "seek back failed: %s",
           rd_kafka_error_string(e));
    rd_kafka_error_destroy(e);
  }
  rd_kafka_topic_partition_list_destroy(list);
  sleep_ms(COMMAND_RETRY_SLEEP_MS);
}

/* The next offset of a partition is no longer in Kafka: retention deleted
 * events this instance had not decided yet. Deciding on from what remains
 * would leave those events out of every lot they touch, silently, so the
 * owner stops with exit 2 (input.allow_truncated = true makes the
 * consumer go on from the oldest remaining event instead, and this is
 * never called). A standby's copy of the partition stops where it is: on
 * promotion the new owner finds its input gone past the copy and restores
 * or stops there (command_restore.c). */
static void on_offset_lost(loop *l, const rd_kafka_message_t *m, bool standby) {
  const char *topic = m->rkt ? rd_kafka_topic_name(m->rkt) : "?";
  if (standby) {
    ll_log(LL_ERROR, "standby",
           "%s/%d: the copy stops: %s (the broker dropped events it had not "
           "decided yet)",
           topic, (int)m->partition, rd_kafka_message_errstr(m));
    return;
  }
  l->fatal = true;
  ll_fail(&l->fatal_err, LL_ERR_CONFIG,
          "%s/%d: the broker no longer holds the events this instance was to "
          "decide next (%s): retention deleted them before they were "
          "decided, and deciding on from the oldest remaining event would "
          "leave them out. Give the topic a longer retention; to go on "
          "without them, set input.allow_truncated = true "
          "(docs/operations.md)",
          topic, (int)m->partition, rd_kafka_message_errstr(m));
}

/* Poll up to max messages from rk into c: the first poll waits up to
 * timeout_ms, then whatever else is ready. Messages polled before a
 * rebalance (the callback runs inside a poll of the group's consumer) are
 * dropped, the standby's too: see the top of the file. */
static void poll_from(loop *l, cmd_chunk *c, rd_kafka_t *rk, bool standby,
                      int timeout_ms, size_t max) {
  size_t first = c->n;
  while (c->n < max) {
    uint64_t rebalances = l->rebalances;
    rd_kafka_message_t *m =
        rd_kafka_consumer_poll(rk, c->n == first ? timeout_ms : 0);
    if (l->rebalances != rebalances) {
      for (size_t i = 0; i < c->n; i++)
        rd_kafka_message_destroy(c->msgs[i]);
      c->n = first = 0;
    }
    if (!m)
      break;
    if (m->err) {
      if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET)
        on_offset_lost(l, m, standby);
      else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
        ll_log(LL_WARN, standby ? "standby" : "command", "consumer: %s",
               rd_kafka_message_errstr(m));
      rd_kafka_message_destroy(m);
      if (c->n == first)
        break; /* back to the loop: it decides how long to wait */
      continue;
    }
    c->standby[c->n] = standby;
    c->msgs[c->n++] = m;
  }
}

/* Poll a chunk from the group's consumer and, with standbys, from the
 * standby consumer, taking turns at who goes first so that neither starves
 * the other; only the group's consumer is waited on. */
static void poll_chunk(loop *l, cmd_chunk *c, int timeout_ms, size_t max) {
  assert(c->n == 0 && max <= CMD_CHUNK_MAX);
  rd_kafka_t *shadow = l->standby && cmd_standby_count(l->standby) > 0
                           ? cmd_standby_consumer(l->standby)
                           : NULL;
  l->standby_first = !l->standby_first;
  if (shadow && l->standby_first)
    poll_from(l, c, shadow, true, 0, max);
  poll_from(l, c, l->rk, false, c->n > 0 ? 0 : timeout_ms, max);
  if (shadow && !l->standby_first)
    poll_from(l, c, shadow, true, 0, max);
  c->rebalances = l->rebalances;
  c->seeks = l->seeks;
  c->standby_epoch = l->standby ? cmd_standby_epoch(l->standby) : 0;
}

static void begin_batch(loop *l) {
  if (l->batch)
    return;
  l->batch = ll_store_batch_begin(l->o->store);
  l->batch_started_ns = ll_mono_ns();
}

/* Polled before its partition was sought back, or by the standby
 * consumer before it was re-assigned: it comes again. */
static bool stale(const loop *l, const cmd_chunk *c, size_t i) {
  const rd_kafka_message_t *m = c->msgs[i];
  if (c->standby[i] && c->standby_epoch != cmd_standby_epoch(l->standby))
    return true;
  return m->partition >= 0 && m->partition < COMMAND_PARTITIONS_MAX &&
         l->partition_seek[m->partition] > c->seeks;
}

/* Prefetch and decide a decoded chunk, then release it. */
static void process_chunk(loop *l, cmd_chunk *c) {
  if (c->rebalances != l->rebalances || l->fatal) {
    cmd_chunk_release(c); /* polled under an assignment now gone */
    return;
  }
  ll_err e = {0};
  begin_batch(l);
  if (c->prefetch_keys.len > 0 &&
      ll_store_batch_prefetch(l->batch, &c->prefetch_keys, &e) != 0) {
    l->fatal = true;
    ll_fail(&l->fatal_err, failure_kind(&e), "reading state: %s", e.message);
  }
  for (size_t i = 0; i < c->n && !l->fatal; i++) {
    rd_kafka_message_t *m = c->msgs[i];
    if (stale(l, c, i))
      continue;
    if (c->retry[i]) {
      ll_counter_add(l->metrics.retries, 1);
      ll_log(LL_WARN, "command", "%s/%d@%lld: %s: %s; will retry",
             rd_kafka_topic_name(m->rkt), m->partition, (long long)m->offset,
             ll_err_kind_name(c->errs[i].kind), c->errs[i].message);
      retry_later(l, m, c->standby[i]);
      if (m->partition >= 0 && m->partition < COMMAND_PARTITIONS_MAX)
        l->partition_seek[m->partition] = ++l->seeks;
      continue;
    }
    begin_batch(l);
    l->batch_msgs++;
    l->shadow = c->standby[i];
    process_decoded(l, m, &c->events[i], c->codes[i], &c->errs[i]);
    l->shadow = false;
  }
  cmd_chunk_release(c);
}

/* A consumer close left running in the background (close_consumer): its
 * queue, and through it the handle, stay referenced until the process
 * exits, so that LeakSanitizer sees them abandoned on purpose, not leaked
 * (volatile: the compiler keeps a store nothing reads). */
static rd_kafka_queue_t *volatile abandoned_close_queue;

/* Leave the group and close the consumer, giving Kafka timeout_ms. With
 * the brokers unreachable librdkafka 2.0's rd_kafka_consumer_close() never
 * returns (librdkafka issue 4519), so the close runs in the background
 * (rd_kafka_consumer_close_queue; its rebalance events go to on_rebalance
 * here) and we stop waiting at the deadline. Everything consumed is durable by
 * now; an unclosed consumer only leaves its membership to expire on the broker.
 * Returns true when closed (the handle may then be destroyed). */
static bool close_consumer(rd_kafka_t *rk, int timeout_ms) {
  rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
  rd_kafka_error_t *e = rd_kafka_consumer_close_queue(rk, q);
  if (e) {
    ll_log(LL_WARN, "command", "closing the consumer: %s",
           rd_kafka_error_string(e));
    rd_kafka_error_destroy(e);
  }
  uint64_t deadline_ns = ll_mono_ns() + (uint64_t)timeout_ms * 1000000ull;
  while (!e && !rd_kafka_consumer_closed(rk) && ll_mono_ns() < deadline_ns) {
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, COMMAND_IDLE_POLL_MS);
    if (ev && rd_kafka_event_type(ev) == RD_KAFKA_EVENT_REBALANCE)
      on_rebalance(rk, rd_kafka_event_error(ev),
                   rd_kafka_event_topic_partition_list(ev),
                   rd_kafka_opaque(rk));
    if (ev)
      rd_kafka_event_destroy(ev);
  }
  bool closed = !e && rd_kafka_consumer_closed(rk);
  if (closed) {
    rd_kafka_queue_destroy(q);
  } else {
    abandoned_close_queue = q;
    ll_log(LL_WARN, "command",
           "Kafka did not let the consumer close within %d ms; leaving "
           "without (the offsets are in the log store)",
           timeout_ms);
  }
  return closed;
}

/* Wait for the input topic, check it against the events topic and the
 * log (a count the log was not written under is refused), and keep its
 * partition count for WRONG_PARTITION. -1 (l->fatal) on a setup error or
 * when stopped first. */
static int check_topics(loop *l, volatile sig_atomic_t *stop) {
  const ll_command_opts *opts = l->o;
  ll_err e = {0};
  while (!*stop) {
    if (cmd_check_topics(l->rk, &opts->topics, COMMAND_CLUSTER_ID_WAIT_MS,
                         &l->partitions, &e) != 0 &&
        e.kind != LL_ERR_KAFKA)
      break;
    if (e.kind == LL_ERR_KAFKA)
      ll_log(LL_WARN, "command", "%s", e.message);
    else if (l->partitions > 0)
      break;
    else
      ll_log(LL_WARN, "command", "waiting for topic %s to exist",
             opts->topics.inbound);
    e = (ll_err){0};
    sleep_ms(COMMAND_CLUSTER_ID_WAIT_MS);
  }
  if (e.kind == LL_ERR_NONE && l->partitions > 0)
    ll_store_bind_partitions(opts->store, opts->topics.inbound, l->partitions,
                             &e);
  if (e.kind != LL_ERR_NONE || l->partitions == 0) {
    l->fatal = e.kind != LL_ERR_NONE;
    l->fatal_err = e;
    return -1;
  }
  return 0;
}

/* Wait for the cluster's id (the offsets are keyed by it), then
 * subscribe. Leaves l->cluster_id NULL when stopped first. */
static void join_cluster(loop *l, volatile sig_atomic_t *stop) {
  const ll_command_opts *opts = l->o;
  while (!*stop && !l->cluster_id) {
    l->cluster_id = rd_kafka_clusterid(l->rk, COMMAND_CLUSTER_ID_WAIT_MS);
    if (!l->cluster_id)
      ll_log(LL_WARN, "command", "waiting for Kafka at %s", opts->brokers);
  }
  if (!l->cluster_id || check_topics(l, stop) != 0)
    return;
  ll_log(LL_INFO, "command",
         "connected to cluster %s; consuming %s (%d partitions)", l->cluster_id,
         opts->topics.inbound, (int)l->partitions);
  rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(subs, opts->topics.inbound,
                                    RD_KAFKA_PARTITION_UA);
  rd_kafka_resp_err_t e = rd_kafka_subscribe(l->rk, subs);
  rd_kafka_topic_partition_list_destroy(subs);
  if (e) {
    l->fatal = true;
    ll_fail(&l->fatal_err, LL_ERR_KAFKA, "cannot subscribe to %s: %s",
            opts->topics.inbound, rd_kafka_err2str(e));
  }
}

/* Every CMD_STANDBY_CHECK_MS: follow the directory's standby partitions;
 * every CMD_STANDBY_PRUNE_MS: forget the parked rejections the owners have
 * had acknowledged. */
static void tend_standby(loop *l) {
  uint64_t now = ll_mono_ns();
  if (l->o->standby_of == NULL)
    return;
  if (now - l->standby_checked_ns >= CMD_STANDBY_CHECK_MS * 1000000ull) {
    l->standby_checked_ns = now;
    sync_standby(l, false);
  }
  if (l->standby == NULL ||
      now - l->standby_pruned_ns < CMD_STANDBY_PRUNE_MS * 1000000ull)
    return;
  l->standby_pruned_ns = now;
  uint64_t parked = 0;
  ll_err e = {0};
  if (cmd_standby_prune(l->standby, l->rk, l->o->store, l->owned, l->partitions,
                        &parked, &e) != 0) {
    l->fatal = true;
    ll_fail(&l->fatal_err, failure_kind(&e), "parked rejections: %s",
            e.message);
  }
  command_metrics_parked(&l->metrics, parked);
}

/* A batch is closed by the consumer running dry (group commit), by its
 * event count, or by batch_max_ms of messages that keep coming. */
static bool batch_must_close(const loop *l, uint64_t max_ns) {
  return l->batch_msgs >= (size_t)l->o->batch_max_events ||
         ll_mono_ns() - l->batch_started_ns >= max_ns;
}

/* The loop: poll a chunk while the decoder works on the one before, then
 * decide that one. With a batch open nothing is waited for: the batch is
 * committed as soon as the consumer has nothing more ready, so a lone
 * event is synced at once and a burst shares one sync (what arrives while
 * a batch syncs goes into the next). */
static void consume(loop *l, volatile sig_atomic_t *stop) {
  const ll_command_opts *opts = l->o;
  const uint64_t max_ns = (uint64_t)opts->batch_max_ms * 1000000ull;
  /* cur: polled and handed to the decoder, to be decided next. */
  cmd_chunk *cur = NULL;
  while (!*stop && !l->fatal && l->cluster_id) {
    command_metrics_refresh_lag(
        &l->metrics, l->rk,
        l->standby ? cmd_standby_consumer(l->standby) : NULL, opts->store);
    tend_standby(l);
    if (l->batch && batch_must_close(l, max_ns)) {
      commit_batch(l);
      continue;
    }
    /* Block only when there is nothing to decide and nothing to sync. */
    int timeout_ms = cur || l->batch ? 0 : COMMAND_IDLE_POLL_MS;
    size_t room =
        (size_t)opts->batch_max_events - l->batch_msgs - (cur ? cur->n : 0);
    cmd_chunk *next = cur == l->chunks[0] ? l->chunks[1] : l->chunks[0];
    uint64_t t_poll = ll_mono_ns();
    if (room > 0)
      poll_chunk(l, next, timeout_ms,
                 room < CMD_CHUNK_MAX ? room : CMD_CHUNK_MAX);
    uint64_t t_polled = ll_mono_ns();
    l->batch_poll_ns += t_polled - t_poll;
    if (next->n > 0)
      cmd_decoder_submit(l->decoder, next);
    if (cur) {
      cmd_decoder_wait(l->decoder, cur);
      process_chunk(l, cur);
      l->batch_process_ns += ll_mono_ns() - t_polled;
    } else if (next->n == 0 && l->batch) {
      commit_batch(l); /* ran dry: group commit */
    } else if (next->n == 0) {
      pump_outbox(l); /* idle: acknowledgements and retries */
      commit_kafka_offsets(l, false);
      recommit_idle(l);
    }
    cur = next->n > 0 ? next : NULL;
  }
  if (cur) { /* decoded, never decided: its messages come again */
    cmd_decoder_wait(l->decoder, cur);
    cmd_chunk_release(cur);
  }
}

/* Commit what is left, deliver the last rejections, leave the group. */
static void finish(loop *l) {
  commit_batch(l);
  l->closing = true;
  cmd_standby_free(l->standby); /* its messages are all released */
  l->standby = NULL;
  /* A clean stop delivers the last rejections rather than leaving them to
   * the next start, unless Kafka does not answer. */
  ll_err drain_err = {0};
  if (l->o->outbox && !l->fatal &&
      ll_outbox_drain(l->o->outbox, COMMAND_DRAIN_MAX_MS,
                      COMMAND_DRAIN_STALL_MS, &drain_err) != 0) {
    l->fatal = true;
    ll_fail(&l->fatal_err, failure_kind(&drain_err), "rejections outbox: %s",
            drain_err.message);
  }
  commit_kafka_offsets(l, true);
  ll_log(LL_INFO, "command", "closing consumer");
  if (close_consumer(l->rk, COMMAND_CLOSE_TIMEOUT_MS))
    ll_kafka_destroy_within(l->rk, COMMAND_DESTROY_TIMEOUT_MS, "command");
  ll_store_state_stats ss;
  ll_store_get_state_stats(l->o->store, &ss);
  ll_log(LL_INFO, "command",
         "state in memory: %zu entries (%zu not applied yet), %zu hits, %zu "
         "misses (%zu keys prefetched), %zu evictions, %zu applies",
         ss.entries, ss.dirty, ss.hits, ss.misses, ss.prefetched, ss.evictions,
         ss.applies);
}

int ll_command_run(const ll_command_opts *opts, ll_command_stats *stats,
                   volatile sig_atomic_t *stop, ll_err *err) {
  loop l = {.o = opts, .stats = stats};
  l.gates = ll_xcalloc(COMMAND_PARTITIONS_MAX, sizeof *l.gates);
  ll_buf_init(&l.scratch);
  ll_mutations_init(&l.muts);

  command_metrics_init(&l.metrics, opts->metrics, opts->topics.inbound);
  l.rk = make_consumer(&l, err);
  if (!l.rk) {
    free(l.gates);
    return -1;
  }
  l.decoder = cmd_decoder_start(opts->codec, err);
  if (!l.decoder) {
    rd_kafka_destroy(l.rk);
    free(l.gates);
    return -1;
  }
  for (int i = 0; i < 2; i++) {
    l.chunks[i] = ll_xcalloc(1, sizeof *l.chunks[i]);
    ll_buf_init(&l.chunks[i]->prefetch_keys);
  }
  join_cluster(&l, stop);
  pump_outbox(&l); /* rejections an earlier run left unpublished */
  consume(&l, stop);
  finish(&l);
  free(l.cluster_id);
  free(l.gates);
  ll_buf_free(&l.scratch);
  cmd_decoder_stop(l.decoder);
  ll_mutations_free(&l.muts);
  for (int i = 0; i < 2; i++) {
    ll_buf_free(&l.chunks[i]->prefetch_keys);
    free(l.chunks[i]);
  }
  if (l.fatal) {
    *err = l.fatal_err;
    return -1;
  }
  return 0;
}
