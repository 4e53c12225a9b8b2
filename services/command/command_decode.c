/* command_decode.c — see command_decode.h. One thread, a queue of at most
 * two chunks, a mutex and a condition variable: the chunk's done flag is
 * the hand-over (set under the lock once every field is written, read
 * under the lock by the waiter). */
#include "command_decode.h"

#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ll_event.h"
#include "ll_mem.h"
#include "ll_state.h"

#define QUEUE_MAX 2

struct cmd_decoder {
  ll_codec *codec;
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  cmd_chunk *queue[QUEUE_MAX]; /* submitted, not yet decoded, oldest first */
  size_t queued;
  bool stop;
};

bool cmd_key_matches(const rd_kafka_message_t *m, const char *product_id) {
  if (!product_id)
    return false;
  size_t n = strlen(product_id);
  return m->key && m->key_len == n && memcmp(m->key, product_id, n) == 0;
}

static void decode_chunk(ll_codec *codec, cmd_chunk *c) {
  ll_buf_reset(&c->prefetch_keys);
  for (size_t i = 0; i < c->n; i++) {
    const rd_kafka_message_t *m = c->msgs[i];
    ll_event_init(&c->events[i]);
    c->errs[i].code = LL_OK;
    c->errs[i].message[0] = '\0';
    c->retry[i] = false;
    c->codes[i] = ll_codec_decode(codec, m->payload, m->len, &c->events[i],
                                  &c->retry[i], &c->errs[i]);
    if (!c->retry[i] && c->codes[i] == LL_OK &&
        cmd_key_matches(m, c->events[i].product_id))
      ll_facts_prefetch_keys(&c->events[i], &c->prefetch_keys);
  }
}

static void *decoder_main(void *arg) {
  cmd_decoder *d = arg;
  pthread_mutex_lock(&d->mu);
  for (;;) {
    while (!d->stop && d->queued == 0)
      pthread_cond_wait(&d->cv, &d->mu);
    if (d->queued == 0)
      break; /* stop, and nothing left */
    cmd_chunk *c = d->queue[0];
    pthread_mutex_unlock(&d->mu);
    decode_chunk(d->codec, c);
    pthread_mutex_lock(&d->mu);
    memmove(&d->queue[0], &d->queue[1], (QUEUE_MAX - 1) * sizeof d->queue[0]);
    d->queued--;
    c->done = true;
    pthread_cond_broadcast(&d->cv);
  }
  pthread_mutex_unlock(&d->mu);
  return NULL;
}

cmd_decoder *cmd_decoder_start(ll_codec *codec, ll_err *err) {
  cmd_decoder *d = ll_xcalloc(1, sizeof *d);
  d->codec = codec;
  pthread_mutex_init(&d->mu, NULL);
  pthread_cond_init(&d->cv, NULL);
  int e = pthread_create(&d->thread, NULL, decoder_main, d);
  if (e != 0) {
    pthread_cond_destroy(&d->cv);
    pthread_mutex_destroy(&d->mu);
    free(d);
    ll_fail(err, LL_ERR_INTERNAL, "cannot start the decoder thread: %s",
            strerror(e));
    return NULL;
  }
  return d;
}

void cmd_decoder_submit(cmd_decoder *d, cmd_chunk *c) {
  assert(c->n > 0 && c->n <= CMD_CHUNK_MAX);
  pthread_mutex_lock(&d->mu);
  assert(d->queued < QUEUE_MAX);
  c->done = false;
  d->queue[d->queued++] = c;
  pthread_cond_broadcast(&d->cv);
  pthread_mutex_unlock(&d->mu);
}

void cmd_decoder_wait(cmd_decoder *d, cmd_chunk *c) {
  pthread_mutex_lock(&d->mu);
  while (!c->done)
    pthread_cond_wait(&d->cv, &d->mu);
  pthread_mutex_unlock(&d->mu);
}

void cmd_chunk_release(cmd_chunk *c) {
  for (size_t i = 0; i < c->n; i++) {
    ll_event_free(&c->events[i]);
    rd_kafka_message_destroy(c->msgs[i]);
  }
  c->n = 0;
}

void cmd_decoder_stop(cmd_decoder *d) {
  if (!d)
    return;
  pthread_mutex_lock(&d->mu);
  assert(d->queued == 0);
  d->stop = true;
  pthread_cond_broadcast(&d->cv);
  pthread_mutex_unlock(&d->mu);
  pthread_join(d->thread, NULL);
  pthread_cond_destroy(&d->cv);
  pthread_mutex_destroy(&d->mu);
  free(d);
}
