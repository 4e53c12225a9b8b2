/* command_decode.h — the command consumer's decode stage, on a thread of
 * its own.
 *
 * The command loop polls a chunk of messages and hands it over; the
 * decoder turns each message into an event (or the codec's verdict) and
 * lists the state keys the event will read (ll_facts_prefetch_keys), while
 * the loop decides the chunk before. Decoding is a pure function of the
 * bytes, so it can run ahead of the decisions; everything that touches the
 * state, the batch or Kafka stays on the loop's thread. At most two chunks
 * are in flight: the one being decided and the one being decoded. */
#ifndef COMMAND_DECODE_H
#define COMMAND_DECODE_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>

#include "ll_buf.h"
#include "ll_codec.h"
#include "ll_types.h"

/* Messages decoded and prefetched together: enough to make the store's
 * MultiGet worth it, few enough to keep a chunk's keys in cache. */
#define CMD_CHUNK_MAX 256

typedef struct cmd_chunk {
  rd_kafka_message_t *msgs[CMD_CHUNK_MAX];
  size_t n;
  /* Filled by the decoder; valid once cmd_decoder_wait() returned. */
  ll_event events[CMD_CHUNK_MAX];
  ll_code codes[CMD_CHUNK_MAX]; /* LL_OK or the codec's rejection code */
  bool retry[CMD_CHUNK_MAX];    /* registry unreachable: try again later */
  ll_err errs[CMD_CHUNK_MAX];
  ll_buf prefetch_keys; /* of the events worth deciding */
  /* The loop's own marks, taken when the chunk was polled. */
  bool standby[CMD_CHUNK_MAX]; /* from the standby consumer (a shadow task) */
  uint64_t rebalances;
  uint64_t seeks;
  uint64_t standby_epoch; /* the standby consumer's assignment then */
  bool done;              /* decoded (under the decoder's lock) */
} cmd_chunk;

typedef struct cmd_decoder cmd_decoder;

cmd_decoder *cmd_decoder_start(ll_codec *codec, ll_err *err);
/* Decode c (c->msgs[0..n)) in the background. At most two chunks may be
 * submitted and not yet waited for. */
void cmd_decoder_submit(cmd_decoder *d, cmd_chunk *c);
/* Until c is decoded. */
void cmd_decoder_wait(cmd_decoder *d, cmd_chunk *c);
/* Free c's events and destroy its messages; c can be reused. */
void cmd_chunk_release(cmd_chunk *c);
/* Stops the thread; every submitted chunk must have been waited for. */
void cmd_decoder_stop(cmd_decoder *d);

/* The Kafka key is the event's product (docs/events.md; KEY_MISMATCH in
 * docs/rejections.md). */
bool cmd_key_matches(const rd_kafka_message_t *m, const char *product_id);

#endif
