/* crash_rig.h — the processes of a crash test and how to drive them.
 *
 * A rig is a temp directory with three kinds of process in it:
 *   the broker    `lotlined broker` on its own (it must survive the kills
 *                 of the service, and keeps the stream in memory);
 *   the producer  crash_producer, streaming a seeded mix of events and
 *                 writing the expected outcome of each;
 *   the service   `lotlined all|command` on <dir>/svc, killed, stopped and
 *                 restarted at will; each run logs to <dir>/svc-<n>.log;
 *                 optionally `lotlined project` beside it (proj-<n>.log).
 * Between runs the rig reads what the service left durable (a snapshot of
 * the log store, opened read-only) so that the end of the test can check
 * that at every crash the stored offsets matched the log exactly.
 *
 * Test-only code: a failure the test cannot go on from aborts with a
 * message (the directory is kept for a look). */
#ifndef CRASH_RIG_H
#define CRASH_RIG_H

#include <stdint.h>

#include "crash_check.h"
#include "harness.h"

#define RIG_PARTITIONS 32
#define RIG_SNAPSHOTS_MAX 256
/* Short consumer-group sessions: a killed member leaves the group after
 * this long, so a restarted service gets its partitions sooner (the
 * default, 45 s, would make each restart wait that long). Not shorter: the
 * embedded broker holds a group's first JoinGroup for 3 s, and a session
 * shorter than that expires while the member waits. */
#define RIG_SESSION_TIMEOUT_MS "3500"
#define RIG_HEARTBEAT_MS "500"

typedef struct rig {
  char *dir;
  char svc_dir[512], expect_path[512];
  h_proc broker;
  char *brokers;
  char *cluster_id;
  h_proc producer;
  int producer_status; /* -1 while running */
  h_proc svc;
  int runs;
  h_proc proj; /* `lotlined project` when the service is split in two */
  int proj_runs;
  cc_snapshot *snaps;
  size_t n_snaps;
  uint64_t started_ns;
} rig;

/* Temp dir, broker (RIG_PARTITIONS partitions), cluster id. */
void rig_start(rig *r, const char *tag);
/* Stop everything; remove the directory when the test passed. */
void rig_finish(rig *r, bool passed);

/* crash_producer with these settings; rate in messages/s (0 = flat out). */
void rig_start_producer(rig *r, uint64_t seed, int64_t events, int products,
                        int64_t rate);
bool rig_producer_running(rig *r);
/* Wait for the producer to exit; returns its exit status (-1 on timeout). */
int rig_wait_producer(rig *r, int timeout_ms);

/* `lotlined MODE` on <dir>/svc (mode: "all" or "command"). */
void rig_start_service(rig *r, const char *mode);
/* ... with more arguments (NULL-terminated), e.g. "--set", "k=v". */
void rig_start_service_with(rig *r, const char *mode,
                            const char *const extra[]);
bool rig_service_running(rig *r);
/* `lotlined project` on the same data directory: the projection and the
 * API in a process of their own, following the log as a secondary. */
void rig_start_projector(rig *r);
bool rig_projector_running(rig *r);
/* Wait until the run's log says its assignment is in place (every
 * partition placed at its offset and handed to librdkafka). */
bool rig_wait_assigned(rig *r, int timeout_ms);
/* Wait for the service to exit by itself; its status, -1 on timeout. */
int rig_wait_service_exit(rig *r, int timeout_ms);
/* Does the current run's log contain text? */
bool rig_log_contains(rig *r, const char *text);
bool rig_file_contains(const char *path, const char *text);

/* Read what the (stopped) service left durable; kept for rig_verify. */
void rig_snapshot(rig *r);
/* Wait until the stored offsets cover every message of x and Kafka has
 * acknowledged every stored rejection (lotline_rejections_unpublished is
 * 0), so that a clean stop right after leaves nothing in the outbox. */
bool rig_wait_consumed(rig *r, const cc_expect *x, int timeout_ms);
/* Wait until the running service's views have applied `position`. */
bool rig_wait_views(rig *r, uint64_t position, int timeout_ms);
/* Wait until the running service's log holds more than `position`
 * entries (its metrics): the run is at work. False when it does not within
 * timeout_ms or stops. */
bool rig_wait_log_past(rig *r, uint64_t position, int timeout_ms);

/* Messages of x past snapshot s's stored offsets: input left to consume. */
int64_t rig_unconsumed(const cc_snapshot *s, const cc_expect *x);
/* The log position the run that snapshot i ended started from: the
 * previous snapshot's, 0 for the first. */
uint64_t rig_run_start(const rig *r, size_t i);
/* Was snapshot i taken mid-stream: the run it ended had appended (its
 * position above rig_run_start) and input remained (below x's accepted
 * count, messages past its offsets)? If not, why goes to `why`. */
bool rig_mid_stream(const rig *r, size_t i, const cc_expect *x, char *why,
                    size_t why_len);

/* With the service stopped: every check of crash_check.h against x, on the
 * log, every snapshot, the views (when with_views) and a rebuild of them.
 * Returns the number of mismatches (their details go to stderr). */
int rig_verify(rig *r, const cc_expect *x, bool with_views);
/* The same for a stream consumed only in part (the broker died): what is
 * stored must be right, every snapshot consistent; nothing about the rest. */
int rig_verify_prefix(rig *r, const cc_expect *x);

double rig_elapsed_s(const rig *r);
uint64_t rig_rand(uint64_t *state); /* splitmix64 */

#endif
