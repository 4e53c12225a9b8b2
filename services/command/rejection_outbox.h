/* rejection_outbox.h — publishes the log store's rejections outbox to
 * lots.rejected (see rejection_outbox.c). */
#ifndef LL_REJECTION_OUTBOX_H
#define LL_REJECTION_OUTBOX_H

#include <stdint.h>

#include "ll_kafka.h"
#include "ll_metrics.h"
#include "ll_store.h"

/* Records read from the store per read; also the most sent per call. */
#define LL_OUTBOX_READ_MAX 1024
/* Records sent but not yet acknowledged, at most (the rest wait in the
 * store: memory stays bounded however long Kafka is away). */
#define LL_OUTBOX_INFLIGHT_MAX 20000

typedef struct ll_outbox ll_outbox;

/* metrics may be NULL. Counts what the outbox holds (records left by an
 * earlier run are sent by the first ll_outbox_pump()). */
ll_outbox *ll_outbox_new(ll_store *store, ll_producer *producer,
                         const char *topic, ll_metrics *metrics, ll_err *err);
/* A batch holding n new outbox records was committed. */
void ll_outbox_committed(ll_outbox *o, uint64_t n);
/* From the store's owner thread, after commits and when idle: forget what
 * Kafka acknowledged, send again what it refused, send what is new. Errors
 * are the store's (the caller stops). */
int ll_outbox_pump(ll_outbox *o, ll_err *err);
/* At a clean stop: pump until Kafka has acknowledged everything, for at
 * most max_ms, giving up early when no acknowledgement came for stall_ms
 * (Kafka unreachable: the rest stays for the next start). Returns the
 * pump's error, else 0. */
int ll_outbox_drain(ll_outbox *o, int max_ms, int stall_ms, ll_err *err);
/* From the store's owner thread: records were moved into the store's
 * outbox under these sequences (a standby promoted:
 * ll_store_parked_release): send them too. */
void ll_outbox_requeue(ll_outbox *o, const uint64_t *seqs, size_t n);
/* From the store's owner thread: the lowest sequence the outbox still
 * holds (UINT64_MAX: none): every rejection before it was acknowledged by
 * Kafka. Store errors. */
int ll_outbox_lowest_unacked(ll_outbox *o, uint64_t *sequence, ll_err *err);
/* Records not yet acknowledged by Kafka (thread-safe). */
uint64_t ll_outbox_unpublished(ll_outbox *o);
/* After the producer is freed (no delivery report can come any more). */
void ll_outbox_free(ll_outbox *o);

#endif
