/* harness.h — what integration tests need to drive real lotline processes:
 * a temp data dir, spawning lotlined, HTTP calls (libcurl), and a plain
 * librdkafka producer/consumer against the embedded broker. Everything is
 * on loopback with ports picked by the OS, so parallel runs never collide. */
#ifndef LL_TEST_HARNESS_H
#define LL_TEST_HARNESS_H

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "ll_codec.h"
#include "ll_types.h"

typedef struct h_proc {
  pid_t pid;
  char log_path[512];
} h_proc;

/* mkdtemp under $TMPDIR (or /tmp); h_rmrf removes it at the end. */
char *h_tempdir(const char *tag);
void h_rmrf(const char *path);

/* The codec a test program encodes its events with: the schemas of
 * $LOTLINE_SCHEMAS. NULL after saying why on stderr (a group setup then
 * returns -1). */
ll_codec *h_codec_open(void);

/* Path of a lotlined/lotline binary ($LOTLINE_BIN or build/bin). */
const char *h_bin(const char *name, char *buf, size_t n);

/* Start a program with args (NULL-terminated), stdout+stderr to log_path. */
h_proc h_spawn(const char *log_path, const char *const argv[]);
/* Like h_spawn, and the child is SIGKILLed when the test process dies
 * (PR_SET_PDEATHSIG), so an aborted test leaves no process behind. */
h_proc h_spawn_tied(const char *log_path, const char *const argv[]);
/* SIGTERM, wait up to timeout_ms; returns exit status, or -1 if it had to
 * be killed (then the test should fail). */
int h_stop(h_proc *p, int timeout_ms);
void h_kill9(h_proc *p);
/* Dump the tail of a process log to stderr (on failure). */
void h_dump_log(const h_proc *p);

/* Wait for <dir>/<name> to exist and hold a line; returns malloc'd line. */
char *h_wait_file(const char *dir, const char *name, int timeout_ms);

/* `lotlined all --data dir --http 127.0.0.1:0 [extra...]` on its embedded
 * broker, output to log, tied to the test process (h_spawn_tied): started
 * once it wrote its broker and HTTP addresses; the test program aborts
 * (after the log's tail) when it did not within timeout_ms. */
typedef struct h_all {
  h_proc proc;
  char *brokers; /* "127.0.0.1:port" (malloc'd) */
  char *http;    /* "http://127.0.0.1:port" (malloc'd) */
} h_all;
h_all h_start_all(const char *dir, const char *log, const char *const extra[],
                  int timeout_ms);
/* SIGTERM and wait (h_stop); the log's tail when it did not exit 0; the
 * addresses freed. Returns the exit status. */
int h_stop_all(h_all *a, int timeout_ms);

/* HTTP: returns status (or -1 on connection failure); body parsed as JSON
 * (NULL if not JSON) into *json (caller json_decref). */
int h_http(const char *method, const char *base, const char *path,
           const char *body, const char *extra_header, json_t **json);

/* The value of an unlabelled metric in base's /metrics (Prometheus text),
 * or -1 when the listener does not answer or the metric is not there. */
long h_metric(const char *base, const char *name);

/* Repeat GET until pred(json) is true or timeout; returns last json. */
json_t *h_http_wait(const char *base, const char *path,
                    bool (*pred)(json_t *, const void *), const void *arg,
                    int timeout_ms);

/* A plain idempotent librdkafka producer (order kept across retries)
 * calling dr for each delivery report; fails the test if it cannot be
 * made. For tests that send their own records with rd_kafka_producev. */
/* The id of the Kafka cluster at brokers (malloc'd: free()); fails the
 * test, or ends the program, when it does not answer within timeout_ms.
 * The command consumer keys its stored offsets by it. */
char *h_cluster_id(const char *brokers, int timeout_ms);

rd_kafka_t *h_idempotent_producer(const char *brokers,
                                  void (*dr)(rd_kafka_t *rk,
                                             const rd_kafka_message_t *m,
                                             void *opaque));

/* librdkafka producer: send and wait for delivery. */
typedef struct h_producer h_producer;
h_producer *h_producer_new(const char *brokers);
void h_produce(h_producer *p, const char *topic, const char *key,
               const void *value, size_t len);
void h_producer_free(h_producer *p);

/* Consume everything currently in a topic (all partitions, from the
 * beginning) until `want` messages were read or timeout. Calls fn for each. */
int h_consume_all(const char *brokers, const char *topic, int want,
                  int timeout_ms,
                  void (*fn)(const void *key, size_t key_len, const void *value,
                             size_t len, void *arg),
                  void *arg);

/* Read a topic exactly to the end it has now: every partition from offset
 * 0 to its high watermark, fn for each record. Strict: a partition that no
 * longer starts at 0 (the embedded broker dropped records), a read error
 * (never a silent skip past a gap) or the timeout return -1 with the reason
 * in why. */
int h_read_topic(const char *brokers, const char *topic, int timeout_ms,
                 void (*fn)(const rd_kafka_message_t *m, void *arg), void *arg,
                 char *why, size_t why_len);

/* Events to play with. */
void h_ev_create(ll_event *ev, const char *event_id, const char *product,
                 const char *lot_id, const char *name, ll_tracking tracking);
void h_ev_move(ll_event *ev, const char *event_id, const char *product,
               const char *lot_id, const char *qty, const char *from,
               ll_usage from_usage, const char *to, ll_usage to_usage);

#endif
