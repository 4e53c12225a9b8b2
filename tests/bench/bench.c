/* bench.c — lotline's benchmark: figures, and the ceilings they are
 * measured against, in one run on one machine.
 *
 *   1. generate a deterministic workload (workload.c) and PRE-PRODUCE it
 *      into lots.inbound on an embedded broker hosted in this process, with
 *      enough partitions that the broker's per-partition retention (~5 MB)
 *      keeps every message, and no more partitions than that takes
 *      (backlog_partitions);
 *   2. ceilings: a bare librdkafka consumer reading the same messages, and
 *      synced, batched RocksDB appends of the same bytes;
 *   3. durable ingest: `lotlined command` consumes everything (rate from its
 *      first to its last durable batch, watched through a RocksDB secondary);
 *   4. projection: `lotlined project` catches up from zero;
 *   5. rebuild: `lotline rebuild` (when the CLI has it);
 *   6. API: wrk on GET /v1/lots/{id}/locations, random lots, concurrent,
 *      once the publisher has caught up and the views' compaction settled;
 *   7. freshness: a fixed offered load (2,000, 10,000 and 20,000
 *      events/s, each on a fresh start once the publisher has caught up
 *      and the views' compaction settled), produced -> visible through the
 *      API for sampled new lots, on each deployment --fresh-mode names:
 *      `split`, `lotlined command` + `project` (the projector follows the
 *      log as a RocksDB secondary), and `all`, one `lotlined all --brokers`
 *      (the projector reads the consumer's primary store, woken by each
 *      commit: what a user runs) on this process's broker;
 *      LOTLINE_BENCH_FRESH_TRACE=<file> keeps every sample with the time
 *      it was produced;
 *   8. write latency (bench_write.c): POST /v1/moves on a fresh `lotlined
 *      all`, one client, then 32 at once;
 *   and the peak RSS of each process, bytes on disk per event.
 * Prints a table and writes JSON (--out). */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <math.h>
#include <pthread.h>
#include <rocksdb/c.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_http.h"
#include "bench_write.h"
#include "harness.h"
#include "ll_buf.h"
#include "ll_kafka.h"
#include "ll_mem.h"
#include "ll_store.h"
#include "ll_time.h"
#include "ll_types.h"
#include "workload.h"

#define BENCH_POLL_MS 20
#define BENCH_BACKLOG_LINGER_MS "20" /* pre-produced: big requests */
/* The offered load's producer lingers this long to fill a batch (the time
 * counts in every freshness sample: its clock starts at produce()). Not
 * librdkafka's 5 ms: the embedded broker finds the batch a fetch asks for
 * by walking the partition's batches from the oldest, so its cost grows
 * with the square of the batches a phase leaves, and at 5 ms (about 2,000
 * batches a partition in a 10 s phase at 10,000 events/s) it took 0.2-0.3
 * of a core from the service (docs/performance.md, sixth round). */
#define BENCH_FRESH_LINGER_MS 20
/* The pre-produced backlog must stay in the embedded broker until the
 * command consumer has read it: each partition keeps its last 5 MiB. An
 * event takes about 100 bytes there (87 of them Avro, on average: a
 * partition kept about 54,000 of them), counted as 128; the backlog may
 * fill 80 % of what the partitions keep. More partitions than that cost
 * the freshness phases: a fetch finds each partition's batch by walking
 * that partition's batches from the oldest, and every produce request of
 * the offered load leaves one batch in each partition it touches, so the
 * walks grow with the partitions times the batches the phases left
 * (docs/performance.md, tenth round). */
#define BENCH_BROKER_PARTITION_BYTES (5 << 20)
#define BENCH_BACKLOG_RECORD_BYTES 128
#define BENCH_BACKLOG_FILL_PCT 80
#define BENCH_PARTITIONS_MIN 8
#define BENCH_PARTITIONS_MAX 256
#define BENCH_FRESH_LINGER_MAX_MS 1000
#define BENCH_PHASE_TIMEOUT_S 1800
#define BENCH_ROCKS_BATCH 2000
#define BENCH_FRESH_SAMPLES_MAX 100000
#define BENCH_FRESH_POLL_US 1000 /* between polls of a lot not visible yet */
#define BENCH_FRESH_POLL_TIMEOUT_MS 5000 /* for one poll's answer */
/* The offered load is sent in what came due since the last tick, not one
 * wake-up per event (every 50 µs at 20,000 events/s) on the cores the
 * service under test needs; the producer's linger.ms
 * (BENCH_FRESH_LINGER_MS) gathers the events anyway. */
#define BENCH_OFFER_TICK_US 1000
#define BENCH_FRESH_RATES_MAX 3
/* The deployments the freshness phase measures (--fresh-mode). */
#define BENCH_FRESH_SPLIT 0 /* lotlined command + lotlined project */
#define BENCH_FRESH_ALL 1   /* lotlined all */
#define BENCH_FRESH_MODES 2
#define BENCH_ALL_SETS_MAX 4   /* --all-set settings passed to lotlined all */
#define BENCH_WRITE_ONE 500    /* one client's sequential writes */
#define BENCH_WRITE_CLIENTS 32 /* clients writing at once */
#define BENCH_WRITE_SECONDS 5  /* how long they write */
/* RSS is sampled every BENCH_RSS_STEP log entries (at least 5 samples). */
#define BENCH_RSS_STEP 1000000
#define BENCH_RSS_MARKS_MAX 64

/* The phases --phases can leave out (the others feed them all). */
#define BENCH_PHASE_CEILINGS (1u << 0)
#define BENCH_PHASE_REBUILD (1u << 1)
#define BENCH_PHASE_API (1u << 2)
#define BENCH_PHASE_FRESH (1u << 3)
#define BENCH_PHASE_WRITE (1u << 4)
#define BENCH_PHASE_ALL 0x1fu

/* A process's peak RSS as the log grows: kb[i] at entries at[i]. */
typedef struct rss_marks {
  int64_t at[BENCH_RSS_MARKS_MAX];
  int64_t kb[BENCH_RSS_MARKS_MAX];
  int n;
  int64_t step, next;
} rss_marks;

typedef struct opts {
  int64_t events;
  uint64_t seed;
  int partitions;
  const char *out;
  const char *workdir;
  int api_seconds;
  int api_connections;
  int fresh_rates[BENCH_FRESH_RATES_MAX]; /* offered loads, events/s */
  int n_fresh_rates;
  int fresh_seconds;
  int fresh_linger_ms;  /* the offered load's producer linger.ms */
  unsigned fresh_modes; /* bit BENCH_FRESH_SPLIT, BENCH_FRESH_ALL */
  const char *all_sets[BENCH_ALL_SETS_MAX]; /* "KEY=VALUE", for --set */
  int n_all_sets;
  int write_one, write_clients, write_seconds;
  unsigned phases; /* BENCH_PHASE_* to run; ingest and projection always */
  bool keep;
} opts;

/* Produced -> visible at one offered load. */
typedef struct fresh_figures {
  int rate;
  double offered_eps;
  double p50_ms, p99_ms, max_ms;
  int64_t samples;
  /* CPU of each process per log entry over the phase: what the machine's
   * other load does not change much, unlike the latencies. split: command
   * and project; all: the one process. */
  double command_cpu_us, project_cpu_us, all_cpu_us;
} fresh_figures;

typedef struct results {
  double produce_eps;
  double consume_ceiling_eps;
  double rocks_ceiling_eps;
  double ingest_eps;
  double ingest_startup_s;
  double projection_eps;
  double rebuild_s;
  double api_rps;
  double api_p50_ms, api_p99_ms;
  fresh_figures fresh[BENCH_FRESH_MODES][BENCH_FRESH_RATES_MAX];
  write_figures write_one, write_many, write_keyed;
  int64_t rss_command_kb, rss_project_kb, rss_all_project_kb;
  rss_marks rss_command_marks, rss_project_marks;
  double disk_bytes_per_event;
  int64_t log_entries, rejections;
} results;

static double now_s(void) {
  return (double)ll_mono_ns() / 1e9;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static void die(const char *what, const char *why) {
  fprintf(stderr, "bench: %s: %s\n", what, why);
  exit(1);
}

static void die_err(const char *what, const ll_err *e) {
  fprintf(stderr, "bench: %s: %s: %s\n", what, ll_err_kind_name(e->kind),
          e->message);
  exit(1);
}

static int64_t rss_peak_kb(pid_t pid) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  FILE *f = fopen(path, "r");
  int64_t kb = -1;
  if (!f)
    return -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "VmHWM: %" SCNd64, &kb) == 1)
      break;
  fclose(f);
  return kb;
}

/* User + system CPU a process has used, in seconds (/proc/<pid>/stat,
 * fields 14 and 15, in clock ticks); -1 when it cannot be read. */
static double cpu_seconds(pid_t pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  /* The command name, in parentheses, may hold spaces: fields count from
   * after its closing one (field 3 first). */
  const char *at = strrchr(buf, ')');
  unsigned long long utime = 0, stime = 0;
  if (at == NULL || sscanf(at + 2,
                           "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
                           "%llu %llu",
                           &utime, &stime) != 2)
    return -1;
  return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

static void rss_marks_init(rss_marks *m, int64_t total) {
  memset(m, 0, sizeof *m);
  m->step = total / 5 < BENCH_RSS_STEP ? total / 5 : BENCH_RSS_STEP;
  if (m->step < 1)
    m->step = 1;
  m->next = m->step;
}

/* Record the peak RSS at each step the process has passed. */
static void rss_marks_note(rss_marks *m, pid_t pid, int64_t done) {
  while (done >= m->next && m->n < BENCH_RSS_MARKS_MAX) {
    m->at[m->n] = m->next;
    m->kb[m->n] = rss_peak_kb(pid);
    m->n++;
    m->next += m->step;
  }
}

static void rss_marks_print(const char *who, const rss_marks *m) {
  printf("  peak RSS of %s as the log grows:", who);
  for (int i = 0; i < m->n; i++)
    printf(" %" PRId64 ":%.0fMB", m->at[i], m->kb[i] / 1024.0);
  printf("\n");
}

static void rss_marks_json(FILE *f, const char *name, const rss_marks *m) {
  fprintf(f, ",\"%s\":[", name);
  for (int i = 0; i < m->n; i++)
    fprintf(f, "%s{\"entries\":%" PRId64 ",\"mb\":%.1f}", i ? "," : "",
            m->at[i], m->kb[i] / 1024.0);
  fprintf(f, "]");
}

static int64_t dir_bytes(const char *dir) {
  char cmd[2048], buf[64];
  snprintf(cmd, sizeof cmd, "du -sb '%s' 2>/dev/null", dir);
  FILE *p = popen(cmd, "r");
  int64_t n = -1;
  if (p && fgets(buf, sizeof buf, p))
    n = strtoll(buf, NULL, 10);
  if (p)
    pclose(p);
  return n;
}

/* ---- 1. produce ---- */

typedef struct stored_msg {
  uint32_t off; /* into the arena */
  uint32_t len;
} stored_msg;

typedef struct corpus {
  uint8_t *arena;
  size_t arena_len, arena_cap;
  stored_msg *msgs;
  int64_t n;
} corpus;

/* linger_ms: what the producer waits to fill a request (the pre-produced
 * backlog wants big requests, the offered load a client's latency, and
 * batches the embedded broker can serve: BENCH_FRESH_LINGER_MS). */
static rd_kafka_t *make_producer(const char *brokers, const char *linger_ms) {
  char err[256];
  rd_kafka_conf_t *c = rd_kafka_conf_new();
  const char *kv[][2] = {{"bootstrap.servers", brokers},
                         {"linger.ms", linger_ms},
                         {"batch.num.messages", "10000"},
                         {"queue.buffering.max.messages", "2000000"},
                         {"queue.buffering.max.kbytes", "2000000"},
                         {"enable.idempotence", "true"},
                         {"partitioner", "murmur2_random"}};
  for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
    if (rd_kafka_conf_set(c, kv[i][0], kv[i][1], err, sizeof err))
      die("producer config", err);
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
  if (!rk)
    die("producer", err);
  return rk;
}

static void produce_one(rd_kafka_t *rk, const char *key, const void *v,
                        size_t n) {
  for (;;) {
    rd_kafka_resp_err_t e = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC("lots.inbound"),
        RD_KAFKA_V_KEY((void *)key, strlen(key)),
        RD_KAFKA_V_VALUE((void *)v, n),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      rd_kafka_poll(rk, 5);
      continue;
    }
    if (e)
      die("produce", rd_kafka_err2str(e));
    return;
  }
}

/* Every pre-produced event is still in the broker: no partition's start
 * moved (its retention dropped nothing) and the partitions hold n. */
static void check_backlog_kept(rd_kafka_t *rk, int partitions, int64_t n) {
  int64_t held = 0;
  for (int p = 0; p < partitions; p++) {
    int64_t lo = 0, hi = 0;
    rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(
        rk, "lots.inbound", p, &lo, &hi, 10000);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
      die("produce", rd_kafka_err2str(e));
    if (lo != 0) {
      char why[160];
      snprintf(why, sizeof why,
               "lots.inbound [%d] dropped its first %" PRId64
               " events (the embedded broker keeps ~5 MB a partition): "
               "give more --partitions",
               p, lo);
      die("produce", why);
    }
    held += hi;
  }
  if (held != n)
    die("produce", "the broker holds a different number of events");
}

static void produce_workload(workload *wl, const char *brokers, int partitions,
                             corpus *c, results *r) {
  rd_kafka_t *rk = make_producer(brokers, BENCH_BACKLOG_LINGER_MS);
  ll_buf v;
  const char *key;
  ll_buf_init(&v);
  double t0 = now_s();
  int64_t n = 0;
  while (wl_next(wl, &key, &v)) {
    produce_one(rk, key, v.data, v.len);
    if (c->arena_len + v.len > c->arena_cap) {
      c->arena_cap = c->arena_cap ? c->arena_cap * 2 : (64u << 20);
      c->arena = ll_xrealloc(c->arena, c->arena_cap);
    }
    memcpy(c->arena + c->arena_len, v.data, v.len);
    c->msgs[n] = (stored_msg){(uint32_t)c->arena_len, (uint32_t)v.len};
    c->arena_len += v.len;
    n++;
    if (n % 200000 == 0)
      fprintf(stderr, "  produced %" PRId64 " events\n", n);
    rd_kafka_poll(rk, 0);
  }
  if (rd_kafka_flush(rk, 120000))
    die("produce", "flush timed out");
  check_backlog_kept(rk, partitions, n);
  c->n = n;
  r->produce_eps = (double)n / (now_s() - t0);
  rd_kafka_destroy(rk);
  ll_buf_free(&v);
}

/* ---- 2. ceilings ---- */

static void assign_all(rd_kafka_t *rk, int partitions) {
  rd_kafka_topic_partition_list_t *l =
      rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; p++)
    rd_kafka_topic_partition_list_add(l, "lots.inbound", p)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
  rd_kafka_assign(rk, l);
  rd_kafka_topic_partition_list_destroy(l);
}

static void consume_ceiling(const char *brokers, const opts *o, int64_t total,
                            results *r) {
  char err[256];
  rd_kafka_conf_t *c = rd_kafka_conf_new();
  rd_kafka_conf_set(c, "bootstrap.servers", brokers, err, sizeof err);
  rd_kafka_conf_set(c, "group.id", "bench-raw", err, sizeof err);
  rd_kafka_conf_set(c, "enable.auto.commit", "false", err, sizeof err);
  rd_kafka_conf_set(c, "fetch.wait.max.ms", "10", err, sizeof err);
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err);
  if (!rk)
    die("consumer", err);
  rd_kafka_poll_set_consumer(rk);
  assign_all(rk, o->partitions);
  int64_t got = 0;
  uint64_t bytes = 0;
  double t0 = 0, deadline = now_s() + BENCH_PHASE_TIMEOUT_S;
  while (got < total && now_s() < deadline) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
    if (!m)
      continue;
    if (!m->err) {
      if (got == 0)
        t0 = now_s();
      got++;
      bytes += m->len;
    }
    rd_kafka_message_destroy(m);
  }
  double dt = now_s() - t0;
  r->consume_ceiling_eps = (double)got / dt;
  if (got != total)
    die("consume ceiling", "did not read every message back");
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
}

static void rocks_ceiling(const corpus *c, const char *dir, results *r) {
  char *err = NULL, path[1024];
  snprintf(path, sizeof path, "%s/rocks-ceiling", dir);
  rocksdb_options_t *op = rocksdb_options_create();
  rocksdb_options_set_create_if_missing(op, 1);
  rocksdb_t *db = rocksdb_open(op, path, &err);
  if (!db)
    die("rocksdb ceiling", err);
  rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
  rocksdb_writeoptions_set_sync(wo, 1);
  rocksdb_writebatch_t *b = rocksdb_writebatch_create();
  double t0 = now_s();
  for (int64_t i = 0; i < c->n; i++) {
    uint8_t key[8];
    for (int k = 0; k < 8; k++)
      key[k] = (uint8_t)((uint64_t)(i + 1) >> (56 - 8 * k));
    rocksdb_writebatch_put(b, (const char *)key, 8,
                           (const char *)c->arena + c->msgs[i].off,
                           c->msgs[i].len);
    if ((i + 1) % BENCH_ROCKS_BATCH == 0 || i + 1 == c->n) {
      rocksdb_write(db, wo, b, &err);
      if (err)
        die("rocksdb ceiling write", err);
      rocksdb_writebatch_clear(b);
    }
  }
  r->rocks_ceiling_eps = (double)c->n / (now_s() - t0);
  rocksdb_writebatch_destroy(b);
  rocksdb_writeoptions_destroy(wo);
  rocksdb_close(db);
  rocksdb_options_destroy(op);
  h_rmrf(path);
}

/* ---- 3. ingest ---- */

/* LOTLINE_BENCH_LOG_LEVEL=debug shows every batch in command.log. */
static const char *daemon_log_level(void) {
  const char *l = getenv("LOTLINE_BENCH_LOG_LEVEL");
  return l && *l ? l : "warn";
}

static int64_t consumed_offsets(ll_store *s, const char *cluster,
                                int partitions) {
  int64_t sum = 0;
  for (int p = 0; p < partitions; p++) {
    int64_t next = 0;
    bool found = false;
    ll_err e;
    if (ll_store_get_offset(s, cluster, "lots.inbound", p, &next, &found, &e) ==
            0 &&
        found)
      sum += next;
  }
  return sum;
}

static void ingest(const char *bin, const char *brokers, const char *data,
                   const opts *o, int64_t total, results *r) {
  char log[2048], logdir[2048];
  snprintf(log, sizeof log, "%s/command.log", data);
  const char *argv[] = {bin,           "command",          "--data",
                        data,          "--brokers",        brokers,
                        "--log-level", daemon_log_level(), NULL};
  char *cluster = h_cluster_id(brokers, 10000);
  double t_spawn = now_s();
  h_proc p = h_spawn(log, argv);
  snprintf(logdir, sizeof logdir, "%s/log", data);
  ll_store *s = NULL;
  ll_err e;
  double t_first = 0, deadline = now_s() + BENCH_PHASE_TIMEOUT_S;
  int64_t done = 0, last_report = 0;
  rss_marks_init(&r->rss_command_marks, total);
  while (done < total && now_s() < deadline) {
    sleep_ms(BENCH_POLL_MS);
    /* Before anything else: a command that refused to start never opens
     * the store. */
    if (waitpid(p.pid, NULL, WNOHANG) == p.pid) {
      h_dump_log(&p);
      die("ingest", "lotlined command exited");
    }
    if (!s) {
      s = ll_store_open(logdir, LL_STORE_SECONDARY, &e);
      continue;
    }
    if (ll_store_catch_up(s, &e) != 0)
      continue;
    done = consumed_offsets(s, cluster, o->partitions);
    if (done > 0 && t_first == 0)
      t_first = now_s();
    rss_marks_note(&r->rss_command_marks, p.pid, done);
    if (done - last_report >= 250000) {
      fprintf(stderr, "  ingested %" PRId64 " / %" PRId64 "\n", done, total);
      last_report = done;
    }
  }
  double t_end = now_s();
  if (done < total)
    die("ingest", "timed out");
  r->ingest_eps = (double)total / (t_end - t_first);
  r->ingest_startup_s = t_first - t_spawn;
  r->log_entries = (int64_t)ll_store_last_position(s);
  ll_stored_rejection newest;
  size_t n = 0;
  if (ll_store_recent_rejections(s, 1, &newest, &n, &e) == 0 && n == 1) {
    r->rejections = (int64_t)newest.sequence;
    ll_stored_rejection_free(&newest);
  }
  r->rss_command_kb = rss_peak_kb(p.pid);
  ll_store_close(s);
  if (h_stop(&p, 10000) != 0)
    die("ingest", "lotlined command did not stop cleanly");
  free(cluster);
}

/* ---- 4. projection ---- */

static int64_t readyz_position(const char *http) {
  json_t *j = NULL;
  int64_t pos = -1;
  h_http("GET", http, "/readyz", NULL, NULL, &j);
  if (j) {
    json_t *v = json_object_get(j, "position");
    if (json_is_integer(v))
      pos = json_integer_value(v);
    json_decref(j);
  }
  return pos;
}

static h_proc start_project(const char *bin, const char *brokers,
                            const char *data, const char *tag, char **http) {
  char log[2048], addr[2048];
  snprintf(log, sizeof log, "%s/%s.log", data, tag);
  snprintf(addr, sizeof addr, "%s/http.addr", data);
  remove(addr);
  const char *argv[] = {
      bin,     "project", "--data",      data,          "--brokers",
      brokers, "--http",  "127.0.0.1:0", "--log-level", daemon_log_level(),
      NULL};
  h_proc p = h_spawn(log, argv);
  *http = h_wait_file(data, "http.addr", 30000);
  if (!*http) {
    h_dump_log(&p);
    die("project", "did not start");
  }
  return p;
}

static void projection(const char *bin, const char *brokers, const char *data,
                       results *r) {
  char *http = NULL;
  double t0 = now_s();
  h_proc p = start_project(bin, brokers, data, "project", &http);
  int64_t pos = 0, last_report = 0;
  double t_first = 0, deadline = now_s() + BENCH_PHASE_TIMEOUT_S;
  rss_marks_init(&r->rss_project_marks, r->log_entries);
  while (pos < r->log_entries && now_s() < deadline) {
    sleep_ms(BENCH_POLL_MS);
    pos = readyz_position(http);
    if (pos > 0 && t_first == 0)
      t_first = now_s();
    rss_marks_note(&r->rss_project_marks, p.pid, pos);
    if (pos - last_report >= 250000) {
      fprintf(stderr, "  projected %" PRId64 " / %" PRId64 "\n", pos,
              r->log_entries);
      last_report = pos;
    }
  }
  if (pos < r->log_entries)
    die("projection", "timed out");
  (void)t0;
  r->projection_eps = (double)r->log_entries / (now_s() - t_first);
  r->rss_project_kb = rss_peak_kb(p.pid);
  if (h_stop(&p, 10000) != 0)
    die("projection", "lotlined project did not stop cleanly");
  free(http);
}

/* ---- 5. rebuild ---- */

static void rebuild(const char *cli, const char *data, results *r) {
  char cmd[2400];
  snprintf(cmd, sizeof cmd, "'%s' rebuild --data '%s' >/dev/null 2>&1", cli,
           data);
  double t0 = now_s();
  int rc = system(cmd);
  r->rebuild_s = rc == 0 ? now_s() - t0 : -1;
}

/* ---- 6. API load ---- */

/* What one wrk run measured, and what went wrong in it. */
typedef struct wrk_result {
  int64_t requests;
  int64_t socket_errors; /* connect + read + write + timeout */
  int64_t non_2xx;       /* "Non-2xx or 3xx responses" */
  double rps, p50_ms, p99_ms;
} wrk_result;

/* Reads on a caught-up service: the downstream publisher has published
 * the whole log first, so the figures are the API's and not those of a
 * publishing backlog sharing the cores. */
static void wait_publisher(const char *http) {
  double give_up = now_s() + BENCH_PHASE_TIMEOUT_S, next_report = 0;
  long lag;
  while ((lag = h_metric(http, "lotline_publish_lag")) != 0 &&
         now_s() < give_up) {
    if (now_s() >= next_report) {
      fprintf(stderr, "  waiting for the publisher: %ld position(s) left\n",
              lag);
      next_report = now_s() + 10;
    }
    sleep_ms(200);
  }
  if (lag != 0)
    die("api", "the publisher did not catch up with the log");
}

/* And once RocksDB has merged the table files an earlier phase wrote (a
 * backlog is written as big runs, merged in the background): the figures
 * are the phase's own, not those of a compaction it inherited sharing the
 * cores. Printed, and given up on after a while. */
static void wait_compaction(const char *http) {
  const char *owed = "lotline_rocksdb_compaction_pending_bytes{db=\"views\"}";
  long bytes = h_metric(http, owed);
  double t_settle = now_s(), settle_until = now_s() + 120;
  while (bytes > 0 && now_s() < settle_until) {
    sleep_ms(500);
    bytes = h_metric(http, owed);
  }
  fprintf(stderr,
          "  views compaction settled in %.1f s (%ld bytes still owed)\n",
          now_s() - t_settle, bytes);
}

static double wrk_ms(double v, const char *unit) {
  return strcmp(unit, "us") == 0  ? v / 1000
         : strcmp(unit, "s") == 0 ? v * 1000
                                  : v;
}

static void wrk_parse_line(const char *line, wrk_result *w) {
  double v;
  char unit[8];
  int64_t n;
  long connect, rd, wr, timeout;
  if (sscanf(line, " %" SCNd64 " requests in", &n) == 1)
    w->requests = n;
  if (sscanf(line, "Requests/sec: %lf", &v) == 1)
    w->rps = v;
  if (sscanf(line, " 50%% %lf%7s", &v, unit) == 2)
    w->p50_ms = wrk_ms(v, unit);
  if (sscanf(line, " 99%% %lf%7s", &v, unit) == 2)
    w->p99_ms = wrk_ms(v, unit);
  if (sscanf(line,
             " Socket errors: connect %ld, read %ld, write %ld, timeout %ld",
             &connect, &rd, &wr, &timeout) == 4)
    w->socket_errors = connect + rd + wr + timeout;
  if (sscanf(line, " Non-2xx or 3xx responses: %" SCNd64, &n) == 1)
    w->non_2xx = n;
}

/* Runs wrk against the API; a wrk that is missing or fails ends the run
 * (a benchmark without its API figures is no benchmark). */
static wrk_result run_wrk(const opts *o, const char *script, const char *http) {
  char cmd[4000], line[512];
  snprintf(cmd, sizeof cmd,
           "wrk -t2 -c%d -d%ds --latency -s '%s' http://%s 2>&1",
           o->api_connections, o->api_seconds, script, http);
  FILE *p = popen(cmd, "r");
  if (!p)
    die("api", "cannot run wrk");
  wrk_result w = {0};
  while (fgets(line, sizeof line, p)) {
    wrk_parse_line(line, &w);
    if (strstr(line, "Non-2xx") || strstr(line, "Socket errors") ||
        strstr(line, "not found"))
      fprintf(stderr, "  wrk: %s", line);
  }
  int status = pclose(p);
  if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    char why[256];
    snprintf(why, sizeof why,
             "wrk failed (status %d; 127: not installed, "
             "deploy/install-deps.sh installs it)",
             status == -1 || !WIFEXITED(status) ? -1 : WEXITSTATUS(status));
    die("api", why);
  }
  return w;
}

/* Every request asks for a lot the stream created: each must be answered,
 * and answered 200. */
static void check_wrk(const wrk_result *w) {
  char why[256];
  if (w->requests <= 0 || w->rps <= 0) {
    snprintf(why, sizeof why, "wrk made %" PRId64 " requests (%.0f/s)",
             w->requests, w->rps);
    die("api", why);
  }
  if (w->socket_errors != 0 || w->non_2xx != 0) {
    snprintf(why, sizeof why,
             "%" PRId64 " socket errors and %" PRId64
             " answers other than 200 in %" PRId64 " requests",
             w->socket_errors, w->non_2xx, w->requests);
    die("api", why);
  }
}

static void write_wrk_script(char *script, size_t n, const char *data,
                             const opts *o, int64_t lots) {
  snprintf(script, n, "%s/wrk.lua", data);
  FILE *f = fopen(script, "w");
  if (!f)
    die("api", "cannot write the wrk script");
  fprintf(f,
          "math.randomseed(%llu)\n"
          "request = function()\n"
          "  return wrk.format(nil, string.format("
          "\"/v1/lots/L%%07d/locations\", math.random(0, %lld)))\n"
          "end\n",
          (unsigned long long)o->seed, (long long)(lots - 1));
  fclose(f);
}

static void api_load(const char *bin, const char *brokers, const char *data,
                     const opts *o, int64_t lots, results *r) {
  char *http = NULL, script[2048];
  h_proc p = start_project(bin, brokers, data, "project-api", &http);
  wait_publisher(http);
  wait_compaction(http);
  write_wrk_script(script, sizeof script, data, o, lots);
  wrk_result w = run_wrk(o, script, http);
  check_wrk(&w);
  r->api_rps = w.rps;
  r->api_p50_ms = w.p50_ms;
  r->api_p99_ms = w.p99_ms;
  int64_t rss = rss_peak_kb(p.pid);
  if (rss > r->rss_project_kb)
    r->rss_project_kb = rss;
  if (h_stop(&p, 10000) != 0)
    die("api", "lotlined project did not stop cleanly");
  free(http);
}

/* ---- 7. freshness ---- */

typedef struct fresh_sample {
  char lot_id[32];
  double produced_s;
} fresh_sample;

typedef struct fresh_ctx {
  const char *http;
  fresh_sample *samples;
  atomic_llong n_produced; /* samples handed to the poller */
  atomic_bool producing_done;
  double *latencies_ms;
  int64_t n_lat;
} fresh_ctx;

/* One keep-alive connection for all the polls: a new connection per poll
 * would load the API (and this process) far more than the reads do; and
 * the benchmark's own client (bench_http.c), which takes a fraction of
 * libcurl's CPU from the cores the service has. */
static bool lot_visible(bench_http *c, const char *lot_id) {
  char path[160], why[256];
  snprintf(path, sizeof path, "/v1/lots/%s", lot_id);
  return bench_http_request(c, "GET", path, "", NULL,
                            BENCH_FRESH_POLL_TIMEOUT_MS, why,
                            sizeof why) == 200;
}

static void *fresh_poller(void *arg) {
  fresh_ctx *c = arg;
  bench_http h;
  bench_http_init(&h, c->http);
  int64_t next = 0;
  for (;;) {
    int64_t avail = atomic_load(&c->n_produced);
    if (next >= avail) {
      if (atomic_load(&c->producing_done) &&
          next >= atomic_load(&c->n_produced))
        break;
      usleep(200);
      continue;
    }
    fresh_sample *s = &c->samples[next];
    double give_up = s->produced_s + 10;
    while (!lot_visible(&h, s->lot_id) && now_s() < give_up)
      usleep(BENCH_FRESH_POLL_US);
    c->latencies_ms[c->n_lat++] = (now_s() - s->produced_s) * 1000;
    next++;
  }
  bench_http_close(&h);
  return NULL;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* `lotlined command` serving its metrics too, for the progress lines and
 * the final count; *metrics gets their address. It finds the brokers in
 * <data>/broker.addr, as with an embedded broker (the benchmark's is one),
 * so it paces its fetches as it would with one (command.c). */
static h_proc start_command(const char *bin, const char *brokers,
                            const char *data, char **metrics) {
  char log[2048], metrics_addr[2048], broker_addr[2048];
  snprintf(log, sizeof log, "%s/command-fresh.log", data);
  snprintf(metrics_addr, sizeof metrics_addr, "%s/metrics.addr", data);
  snprintf(broker_addr, sizeof broker_addr, "%s/broker.addr", data);
  remove(metrics_addr);
  FILE *f = fopen(broker_addr, "w");
  if (f == NULL || fprintf(f, "%s\n", brokers) < 0 || fclose(f) != 0)
    die("freshness", "cannot write broker.addr");
  const char *argv[] = {
      bin,           "command",          "--data", data,
      "--log-level", daemon_log_level(), "--set",  "metrics.listen=127.0.0.1:0",
      NULL};
  h_proc p = h_spawn(log, argv);
  *metrics = h_wait_file(data, "metrics.addr", 30000);
  if (*metrics == NULL) {
    h_dump_log(&p);
    die("freshness", "lotlined command did not start");
  }
  return p;
}

/* Offer load only once the consumer has joined its group and caught up:
 * one new lot, produced now, must be visible through the API. */
static void warm_up(workload *wl, rd_kafka_t *probe, const char *http) {
  ll_buf pv;
  const char *pkey;
  char lot[32];
  ll_buf_init(&pv);
  wl_extend(wl, 50);
  int64_t before = wl_lots_created(wl);
  while (wl_lots_created(wl) == before && wl_next(wl, &pkey, &pv))
    produce_one(probe, pkey, pv.data, pv.len);
  rd_kafka_flush(probe, 10000);
  wl_lot_id(wl, wl_lots_created(wl) - 1, lot, sizeof lot);
  double give_up = now_s() + 120;
  bench_http h;
  bench_http_init(&h, http);
  bool visible;
  while (!(visible = lot_visible(&h, lot)) && now_s() < give_up)
    sleep_ms(50);
  bench_http_close(&h);
  ll_buf_free(&pv);
  if (!visible)
    die("freshness", "the first new lot never became visible");
}

/* One /metrics page, so that the series read from it are of one moment
 * and one request loads the API once. */
typedef struct scrape {
  char *text;
  size_t len;
} scrape;

static size_t scrape_body(char *p, size_t size, size_t n, void *arg) {
  scrape *s = arg;
  s->text = ll_xrealloc(s->text, s->len + size * n + 1);
  memcpy(s->text + s->len, p, size * n);
  s->len += size * n;
  s->text[s->len] = '\0';
  return size * n;
}

static void scrape_get(const char *base, scrape *s) {
  char url[256];
  snprintf(url, sizeof url, "http://%s/metrics", base);
  s->len = 0;
  if (s->text != NULL)
    s->text[0] = '\0';
  CURL *c = curl_easy_init();
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, scrape_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
  if (curl_easy_perform(c) != CURLE_OK)
    s->len = 0;
  curl_easy_cleanup(c);
}

/* The value of one series ("name" or "name{labels}"), -1 when absent. */
static double scrape_value(const scrape *s, const char *series) {
  if (s->len == 0)
    return -1;
  char needle[256];
  snprintf(needle, sizeof needle, "\n%s ", series);
  const char *at = strstr(s->text, needle);
  return at != NULL ? strtod(at + strlen(needle), NULL) : -1;
}

/* The upper bound, in seconds, of the histogram bucket that holds the
 * longest of the observations made since `before` (0: none made). */
static double scrape_max_since(const scrape *now, const scrape *before,
                               const char *histogram) {
  char count[128];
  snprintf(count, sizeof count, "%s_count", histogram);
  double total = scrape_value(now, count) - scrape_value(before, count);
  if (total <= 0)
    return 0;
  char prefix[128];
  int plen = snprintf(prefix, sizeof prefix, "\n%s_bucket{le=\"", histogram);
  for (const char *at = strstr(now->text, prefix); at != NULL;
       at = strstr(at + 1, prefix)) {
    char *end = NULL;
    double le = strtod(at + plen, &end);
    if (end == at + plen) /* "+Inf" */
      break;
    char series[160];
    snprintf(series, sizeof series, "%s_bucket{le=\"%.*s\"}", histogram,
             (int)(end - (at + plen)), at + plen);
    if (scrape_value(now, series) - scrape_value(before, series) >= total)
      return le;
  }
  return INFINITY;
}

/* What the `project` process's projector did in the last second, and
 * what RocksDB did to it: steps, entries a step, the longest step, the
 * views' level-0 files and the time their writers were stalled. */
static void print_project_second(const scrape *now, const scrape *before) {
  const char *step = "lotline_projection_step_seconds";
  double steps = scrape_value(now, "lotline_projection_step_seconds_count") -
                 scrape_value(before, "lotline_projection_step_seconds_count");
  double secs = scrape_value(now, "lotline_projection_step_seconds_sum") -
                scrape_value(before, "lotline_projection_step_seconds_sum");
  double applied = scrape_value(now, "lotline_projection_applied_total") -
                   scrape_value(before, "lotline_projection_applied_total");
  const char *stall = "lotline_rocksdb_write_stall_micros{db=\"views\"}";
  fprintf(stderr,
          "        steps %.0f, %.0f entries and %.1f ms each, longest "
          "<= %.0f ms; views L0 %.0f, stalled %.0f ms; log L0 %.0f\n",
          steps, steps > 0 ? applied / steps : 0,
          steps > 0 ? secs * 1000 / steps : 0,
          scrape_max_since(now, before, step) * 1000,
          scrape_value(now, "lotline_rocksdb_l0_files{db=\"views\"}"),
          (scrape_value(now, stall) - scrape_value(before, stall)) / 1000,
          scrape_value(now, "lotline_rocksdb_l0_files{db=\"log\"}"));
}

/* Where each stage stands: what the command consumer appended, what the
 * projector applied (its lag behind the log it sees), what the downstream
 * publisher has left; then print_project_second. */
static void print_progress(double t0, int64_t sent, const char *cmd_metrics,
                           const char *http, long log_at_start,
                           scrape *project[2]) {
  long cmd_pos = h_metric(cmd_metrics, "lotline_log_position");
  scrape_get(http, project[0]);
  double views_pos = scrape_value(project[0], "lotline_views_position");
  fprintf(stderr,
          "  %2.0f s: sent %" PRId64 ", appended %ld, projected %.0f, "
          "publish lag %.0f\n",
          now_s() - t0, sent, cmd_pos - log_at_start, views_pos - log_at_start,
          scrape_value(project[0], "lotline_publish_lag"));
  if (project[1]->len > 0)
    print_project_second(project[0], project[1]);
  scrape *swap = project[0];
  project[0] = project[1];
  project[1] = swap;
}

/* The offered load, generated before it is sent, so that encoding it
 * does not take the cores from the service while it is measured. */
typedef struct offered {
  char **keys;
  ll_buf *values;
  char (*sample_lot)[32]; /* "": no sample; else the lot it creates */
  int64_t n;
} offered;

/* Generates up to total events; every 20th new lot is marked a sample. */
static void offered_make(workload *wl, int64_t total, offered *out) {
  out->keys = ll_xcalloc((size_t)total, sizeof *out->keys);
  out->values = ll_xcalloc((size_t)total, sizeof *out->values);
  out->sample_lot = ll_xcalloc((size_t)total, sizeof *out->sample_lot);
  out->n = 0;
  int64_t created_before = wl_lots_created(wl);
  wl_extend(wl, total);
  const char *key;
  while (out->n < total) {
    ll_buf *v = &out->values[out->n];
    ll_buf_init(v);
    if (!wl_next(wl, &key, v)) {
      ll_buf_free(v);
      break;
    }
    out->keys[out->n] = ll_strdup(key);
    int64_t created = wl_lots_created(wl);
    if (created != created_before && created % 20 == 0)
      wl_lot_id(wl, created - 1, out->sample_lot[out->n],
                sizeof out->sample_lot[out->n]);
    created_before = created;
    out->n++;
  }
}

static void offered_free(offered *o) {
  for (int64_t i = 0; i < o->n; i++) {
    free(o->keys[i]);
    ll_buf_free(&o->values[i]);
  }
  free(o->keys);
  free(o->values);
  free(o->sample_lot);
}

/* Produce the fixed offered load, handing the sampled new lots to the
 * poller; returns the events sent. */
static int64_t offer_load(const offered *load, rd_kafka_t *rk, fresh_ctx *c,
                          int rate, const char *cmd_metrics) {
  int64_t sent = 0;
  double t0 = now_s(), next_report = t0 + 1;
  long log_at_start = h_metric(cmd_metrics, "lotline_log_position");
  scrape pages[2] = {{0}}, *project[2] = {&pages[0], &pages[1]};
  scrape_get(c->http, project[1]);
  while (sent < load->n) {
    if (now_s() >= next_report) {
      print_progress(t0, sent, cmd_metrics, c->http, log_at_start, project);
      next_report += 1;
    }
    if (now_s() < t0 + (double)sent / rate) {
      usleep(BENCH_OFFER_TICK_US);
      continue;
    }
    produce_one(rk, load->keys[sent], load->values[sent].data,
                load->values[sent].len);
    rd_kafka_poll(rk, 0);
    if (load->sample_lot[sent][0] != '\0' &&
        atomic_load(&c->n_produced) < BENCH_FRESH_SAMPLES_MAX) {
      fresh_sample *s = &c->samples[atomic_load(&c->n_produced)];
      memcpy(s->lot_id, load->sample_lot[sent], sizeof s->lot_id);
      s->produced_s = now_s();
      atomic_fetch_add(&c->n_produced, 1);
    }
    sent++;
  }
  free(pages[0].text);
  free(pages[1].text);
  return sent;
}

/* Every valid event generated so far, and nothing else, is in the log:
 * the figures were measured on a service that lost nothing. */
static void check_log_count(const char *cmd_metrics, const workload *wl) {
  long want = (long)wl_stats_get(wl)->valid, pos = -1;
  double give_up = now_s() + 60;
  while ((pos = h_metric(cmd_metrics, "lotline_log_position")) < want &&
         now_s() < give_up)
    sleep_ms(BENCH_POLL_MS);
  if (pos != want) {
    char why[128];
    snprintf(why, sizeof why, "the log holds %ld events, %ld were valid", pos,
             want);
    die("freshness", why);
  }
}

/* Until the views stand at position (the projector's CPU then covers every
 * entry of the phase); given up on after a while. */
static void wait_projected(const char *http, long position) {
  double give_up = now_s() + 60;
  while (h_metric(http, "lotline_views_position") < position &&
         now_s() < give_up)
    sleep_ms(BENCH_POLL_MS);
}

/* The service under test in the freshness phase: one process (`all`) or
 * two (`command` + `project`). */
typedef struct fresh_service {
  int mode;       /* BENCH_FRESH_* */
  h_proc cmd;     /* split: lotlined command */
  h_proc proj;    /* split: lotlined project; all: lotlined all */
  char *http;     /* the API, and the projector's metrics */
  char *log_http; /* where lotline_log_position is served */
} fresh_service;

/* `lotlined all` on the benchmark's broker, as a user runs it against a
 * Kafka: its cluster directory, publisher and alerts worker included. */
static h_proc start_all(const char *bin, const char *brokers, const char *data,
                        const opts *o, char **http) {
  char log[2048], addr[2048];
  snprintf(log, sizeof log, "%s/all-fresh.log", data);
  snprintf(addr, sizeof addr, "%s/http.addr", data);
  remove(addr);
  const char *argv[11 + 2 * BENCH_ALL_SETS_MAX] = {
      bin,     "all",    "--data",      data,          "--brokers",
      brokers, "--http", "127.0.0.1:0", "--log-level", daemon_log_level()};
  int argc = 10;
  for (int i = 0; i < o->n_all_sets; i++) {
    argv[argc++] = "--set";
    argv[argc++] = o->all_sets[i];
  }
  argv[argc] = NULL;
  h_proc p = h_spawn(log, argv);
  *http = h_wait_file(data, "http.addr", 30000);
  if (!*http) {
    h_dump_log(&p);
    die("freshness", "lotlined all did not start");
  }
  return p;
}

static void fresh_start(fresh_service *s, int mode, const char *bin,
                        const char *brokers, const char *data, const opts *o) {
  memset(s, 0, sizeof *s);
  s->mode = mode;
  if (mode == BENCH_FRESH_ALL) {
    s->proj = start_all(bin, brokers, data, o, &s->http);
    s->log_http = ll_strdup(s->http);
    return;
  }
  s->cmd = start_command(bin, brokers, data, &s->log_http);
  s->proj = start_project(bin, brokers, data, "project-fresh", &s->http);
}

/* CPU seconds of the service's processes: [0] command, [1] project or all. */
static void fresh_cpu(const fresh_service *s, double cpu[2]) {
  cpu[0] = s->mode == BENCH_FRESH_SPLIT ? cpu_seconds(s->cmd.pid) : 0;
  cpu[1] = cpu_seconds(s->proj.pid);
}

static void fresh_stop(fresh_service *s, results *r) {
  int64_t rss = rss_peak_kb(s->proj.pid);
  if (rss > r->rss_all_project_kb)
    r->rss_all_project_kb = rss;
  if (h_stop(&s->proj, 10000) != 0)
    die("freshness", s->mode == BENCH_FRESH_ALL
                         ? "lotlined all did not stop cleanly"
                         : "lotlined project did not stop cleanly");
  if (s->mode == BENCH_FRESH_SPLIT && h_stop(&s->cmd, 10000) != 0)
    die("freshness", "lotlined command did not stop cleanly");
  free(s->http);
  free(s->log_http);
}

/* With LOTLINE_BENCH_FRESH_TRACE=<file>, each sample of the phase as a
 * line "<seconds since the first sample> <latency ms>" appended to the
 * file, so that where a tail comes from (the phase's start, a flush, a
 * compaction) can be seen against the service's own logs. */
static void fresh_trace(const fresh_ctx *c, int mode, int rate) {
  const char *path = getenv("LOTLINE_BENCH_FRESH_TRACE");
  if (path == NULL || *path == '\0' || c->n_lat == 0)
    return;
  FILE *f = fopen(path, "a");
  if (f == NULL) {
    fprintf(stderr, "bench: cannot append to %s\n", path);
    return;
  }
  struct timespec wall;
  clock_gettime(CLOCK_REALTIME, &wall);
  double first_wall = (double)wall.tv_sec + (double)wall.tv_nsec / 1e9 -
                      (now_s() - c->samples[0].produced_s);
  fprintf(f, "# %s at %d/s, first sample at %.3f (Unix time)\n",
          mode == BENCH_FRESH_SPLIT ? "split" : "all", rate, first_wall);
  for (int64_t i = 0; i < c->n_lat; i++)
    fprintf(f, "%.3f %.1f\n",
            c->samples[i].produced_s - c->samples[0].produced_s,
            c->latencies_ms[i]);
  fclose(f);
}

/* p50, p99, max of the sampled latencies, and the CPU per log entry. */
static void fresh_figures_fill(fresh_ctx *c, const double cpu0[2],
                               const double cpu1[2], long entries, int mode,
                               fresh_figures *f) {
  if (entries > 0 && mode == BENCH_FRESH_SPLIT) {
    f->command_cpu_us = (cpu1[0] - cpu0[0]) * 1e6 / (double)entries;
    f->project_cpu_us = (cpu1[1] - cpu0[1]) * 1e6 / (double)entries;
  } else if (entries > 0) {
    f->all_cpu_us = (cpu1[1] - cpu0[1]) * 1e6 / (double)entries;
  }
  qsort(c->latencies_ms, (size_t)c->n_lat, sizeof(double), cmp_double);
  f->samples = c->n_lat;
  if (c->n_lat == 0)
    die("freshness", "no lot was sampled");
  f->p50_ms = c->latencies_ms[c->n_lat / 2];
  f->p99_ms = c->latencies_ms[(c->n_lat * 99) / 100];
  f->max_ms = c->latencies_ms[c->n_lat - 1];
}

static void freshness(const char *bin, workload *wl, const char *brokers,
                      const char *data, const opts *o, int mode, int rate,
                      fresh_figures *f, results *r) {
  fresh_service svc;
  fresh_start(&svc, mode, bin, brokers, data, o);
  /* The producer of the offered load is the one that warmed up: connected,
   * with its producer id and the topic's metadata, as a running client's
   * would be. A new one would make the first second's events wait for
   * that (see docs/performance.md). */
  char linger[16];
  snprintf(linger, sizeof linger, "%d", o->fresh_linger_ms);
  rd_kafka_t *rk = make_producer(brokers, linger);
  warm_up(wl, rk, svc.http);
  /* On a caught-up service: a publisher still working off what the
   * earlier phases left would take the cores from the projector, and so
   * would the compactions of the rows an earlier phase wrote (a 10 s phase
   * at 10,000/s leaves 100,000 entries' worth). */
  wait_publisher(svc.http);
  wait_compaction(svc.http);
  offered load;
  offered_make(wl, (int64_t)rate * o->fresh_seconds, &load);
  fresh_ctx c = {.http = svc.http};
  c.samples = ll_xcalloc(BENCH_FRESH_SAMPLES_MAX, sizeof *c.samples);
  c.latencies_ms = ll_xcalloc(BENCH_FRESH_SAMPLES_MAX, sizeof(double));
  pthread_t poller;
  pthread_create(&poller, NULL, fresh_poller, &c);
  double cpu0[2], cpu1[2];
  fresh_cpu(&svc, cpu0);
  long log0 = h_metric(svc.log_http, "lotline_log_position");
  double t0 = now_s();
  int64_t sent = offer_load(&load, rk, &c, rate, svc.log_http);
  offered_free(&load);
  f->rate = rate;
  f->offered_eps = (double)sent / (now_s() - t0);
  if (rd_kafka_flush(rk, 30000) != RD_KAFKA_RESP_ERR_NO_ERROR)
    die("freshness", "the offered load was not all delivered");
  atomic_store(&c.producing_done, true);
  pthread_join(poller, NULL);
  check_log_count(svc.log_http, wl);
  long log1 = h_metric(svc.log_http, "lotline_log_position");
  wait_projected(svc.http, log1);
  fresh_cpu(&svc, cpu1);
  fresh_trace(&c, mode, rate);
  fresh_figures_fill(&c, cpu0, cpu1, log1 - log0, mode, f);
  fresh_stop(&svc, r);
  rd_kafka_destroy(rk);
  free(c.samples);
  free(c.latencies_ms);
}

/* ---- report ---- */

static const char *const fresh_mode_names[BENCH_FRESH_MODES] = {"split", "all"};

static void print_fresh_one(int mode, const fresh_figures *f) {
  char what[64];
  snprintf(what, sizeof what, "freshness (%s) at %d/s offered",
           fresh_mode_names[mode], f->rate);
  printf("%-44s %14.0f\n", what, f->offered_eps);
  printf("  %-42s %14.2f\n", "p50, ms", f->p50_ms);
  printf("  %-42s %14.2f%s\n", "p99, ms", f->p99_ms,
         f->rate == 10000 ? " <= 100" : "");
  printf("  %-42s %14.2f\n", "max, ms", f->max_ms);
  printf("  %-42s %14" PRId64 "\n", "samples", f->samples);
  if (mode == BENCH_FRESH_ALL) {
    printf("  %-42s %14.1f\n", "CPU of all, us per entry", f->all_cpu_us);
    return;
  }
  printf("  %-42s %14.1f\n", "CPU of command, us per entry", f->command_cpu_us);
  printf("  %-42s %14.1f\n", "CPU of project, us per entry", f->project_cpu_us);
}

static void print_fresh(const opts *o, const results *r) {
  if ((o->phases & BENCH_PHASE_FRESH) && o->fresh_modes != 0)
    printf("%-44s %14d\n", "freshness: offered with linger.ms",
           o->fresh_linger_ms);
  for (int m = 0; m < BENCH_FRESH_MODES; m++)
    for (int i = 0; i < o->n_fresh_rates && (o->fresh_modes & (1u << m)); i++)
      print_fresh_one(m, &r->fresh[m][i]);
}

static void print_write(const char *what, const write_figures *w,
                        const char *p50_target, const char *p99_target) {
  printf("%-44s %14" PRId64 " writes\n", what, w->writes);
  printf("  %-42s %14.2f %s\n", "p50, ms", w->p50_ms, p50_target);
  printf("  %-42s %14.2f %s\n", "p99, ms", w->p99_ms, p99_target);
  printf("  %-42s %14.2f\n", "max, ms", w->max_ms);
}

/* The figures the text table has, as JSON members (after "{" and others). */
/* The figures the text table has, as JSON members (after "{" and others).
 * split keeps the keys it had before `all` was measured ("fresh_<rate>_"),
 * so that earlier figures stay comparable; all's are "fresh_all_<rate>_". */
static void json_latency(FILE *f, const opts *o, const results *r) {
  for (int i = 0;
       i < o->n_fresh_rates && (o->fresh_modes & (1u << BENCH_FRESH_SPLIT));
       i++) {
    const fresh_figures *x = &r->fresh[BENCH_FRESH_SPLIT][i];
    fprintf(f,
            ",\"fresh_%d_offered_eps\":%.0f,\"fresh_%d_p50_ms\":%.2f,"
            "\"fresh_%d_p99_ms\":%.2f,\"fresh_%d_max_ms\":%.2f,"
            "\"fresh_%d_command_cpu_us\":%.1f,\"fresh_%d_project_cpu_us\":%.1f",
            x->rate, x->offered_eps, x->rate, x->p50_ms, x->rate, x->p99_ms,
            x->rate, x->max_ms, x->rate, x->command_cpu_us, x->rate,
            x->project_cpu_us);
  }
  for (int i = 0;
       i < o->n_fresh_rates && (o->fresh_modes & (1u << BENCH_FRESH_ALL));
       i++) {
    const fresh_figures *x = &r->fresh[BENCH_FRESH_ALL][i];
    fprintf(f,
            ",\"fresh_all_%d_offered_eps\":%.0f,\"fresh_all_%d_p50_ms\":%.2f,"
            "\"fresh_all_%d_p99_ms\":%.2f,\"fresh_all_%d_max_ms\":%.2f,"
            "\"fresh_all_%d_cpu_us\":%.1f",
            x->rate, x->offered_eps, x->rate, x->p50_ms, x->rate, x->p99_ms,
            x->rate, x->max_ms, x->rate, x->all_cpu_us);
  }
  /* Keyed by client count ("write_keyed_" with an Idempotency-Key):
   * nothing when the write phase did not run. */
  const write_figures *w[3] = {&r->write_one, &r->write_many, &r->write_keyed};
  for (int i = 0; i < 3; i++)
    if (w[i]->clients > 0) {
      const char *k = i == 2 ? "keyed_" : "";
      fprintf(f,
              ",\"write_%s%d_p50_ms\":%.3f,\"write_%s%d_p99_ms\":%.3f,"
              "\"write_%s%d_max_ms\":%.3f,\"write_%s%d_per_s\":%.0f",
              k, w[i]->clients, w[i]->p50_ms, k, w[i]->clients, w[i]->p99_ms, k,
              w[i]->clients, w[i]->max_ms, k, w[i]->clients,
              w[i]->writes_per_s);
    }
}

/* a / b, 0 when b was not measured (a phase left out). */
static double ratio(double a, double b) {
  return b > 0 ? a / b : 0;
}

static void report(const opts *o, const wl_stats *ws, const results *r) {
  printf("\nlotline benchmark: %" PRId64 " events (%" PRId64 " valid, %" PRId64
         " invalid), seed %llu, %d partitions, pre-produced\n",
         ws->generated, ws->valid, ws->invalid, (unsigned long long)o->seed,
         o->partitions);
  printf("  log entries %" PRId64 ", rejections %" PRId64 "\n\n",
         r->log_entries, r->rejections);
  printf("%-44s %14s %s\n", "measure", "value", "target");
  printf("%-44s %14.0f\n", "produce (bench producer), events/s",
         r->produce_eps);
  printf("%-44s %14.0f\n", "ceiling: bare consumer, events/s",
         r->consume_ceiling_eps);
  printf("%-44s %14.0f\n", "ceiling: synced RocksDB appends, events/s",
         r->rocks_ceiling_eps);
  printf("%-44s %14.0f >= 150000\n", "durable ingest, events/s", r->ingest_eps);
  printf("%-44s %13.1f%% >= 35%%\n", "ingest / consume ceiling",
         100 * ratio(r->ingest_eps, r->consume_ceiling_eps));
  printf("%-44s %13.1f%%\n", "ingest / RocksDB ceiling",
         100 * ratio(r->ingest_eps, r->rocks_ceiling_eps));
  printf("%-44s %14.2f\n", "ingest start-up (spawn -> first batch), s",
         r->ingest_startup_s);
  printf("%-44s %14.0f >= 300000\n", "projection, events/s", r->projection_eps);
  printf("%-44s %14.2f <= 5 (1M)\n", "rebuild, s", r->rebuild_s);
  printf("%-44s %14.0f >= 20000\n", "API GET locations, requests/s",
         r->api_rps);
  printf("%-44s %14.2f\n", "API p50, ms", r->api_p50_ms);
  printf("%-44s %14.2f <= 5\n", "API p99, ms", r->api_p99_ms);
  print_fresh(o, r);
  print_write("write latency, 1 client", &r->write_one, "<= 3", "<= 10");
  print_write("write latency, 32 clients", &r->write_many, "", "<= 50");
  printf("%-44s %14.0f >= 5000\n", "writes/s, 32 clients",
         r->write_many.writes_per_s);
  print_write("write latency, 32 clients, Idempotency-Key", &r->write_keyed, "",
              "");
  printf("%-44s %14.0f\n", "writes/s, 32 clients, Idempotency-Key",
         r->write_keyed.writes_per_s);
  printf("%-44s %14.1f <= 512\n", "peak RSS command, MB",
         r->rss_command_kb / 1024.0);
  printf("%-44s %14.1f <= 512\n", "peak RSS project, MB",
         r->rss_project_kb / 1024.0);
  printf("%-44s %14.1f\n", "bytes on disk per event", r->disk_bytes_per_event);
  rss_marks_print("command", &r->rss_command_marks);
  rss_marks_print("project", &r->rss_project_marks);
  if (o->out) {
    FILE *f = fopen(o->out, "w");
    if (!f)
      die("cannot write", o->out);
    fprintf(f,
            "{\"events\":%" PRId64 ",\"seed\":%llu,\"partitions\":%d,"
            "\"fresh_linger_ms\":%d,"
            "\"produce_eps\":%.0f,\"consume_ceiling_eps\":%.0f,"
            "\"rocks_ceiling_eps\":%.0f,\"ingest_eps\":%.0f,"
            "\"ingest_vs_consume\":%.3f,\"projection_eps\":%.0f,"
            "\"rebuild_s\":%.2f,\"api_rps\":%.0f,\"api_p50_ms\":%.3f,"
            "\"api_p99_ms\":%.3f,"
            "\"rss_command_mb\":%.1f,\"rss_project_mb\":%.1f,"
            "\"disk_bytes_per_event\":%.1f,\"log_entries\":%" PRId64
            ",\"rejections\":%" PRId64,
            ws->generated, (unsigned long long)o->seed, o->partitions,
            o->fresh_linger_ms, r->produce_eps, r->consume_ceiling_eps,
            r->rocks_ceiling_eps, r->ingest_eps,
            ratio(r->ingest_eps, r->consume_ceiling_eps), r->projection_eps,
            r->rebuild_s, r->api_rps, r->api_p50_ms, r->api_p99_ms,
            r->rss_command_kb / 1024.0, r->rss_project_kb / 1024.0,
            r->disk_bytes_per_event, r->log_entries, r->rejections);
    json_latency(f, o, r);
    rss_marks_json(f, "rss_command_marks", &r->rss_command_marks);
    rss_marks_json(f, "rss_project_marks", &r->rss_project_marks);
    fprintf(f, "}\n");
    fclose(f);
    printf("\nJSON written to %s\n", o->out);
  }
}

static void usage(FILE *out) {
  fprintf(
      out,
      "usage: lotline_bench [options]\n"
      "  --events N        events to generate (default 1000000)\n"
      "  --seed S          workload seed (default 42)\n"
      "  --partitions P    lots.inbound partitions (default: the fewest,\n"
      "                    from 8 up in powers of two, whose ~5 MB each\n"
      "                    hold the backlog: 8 at 200,000 events, 32 at\n"
      "                    1,000,000)\n"
      "  --api-seconds S   wrk duration (default 10)\n"
      "  --connections C   wrk connections (default 32)\n"
      "  --fresh-rate R    offered load for freshness, events/s "
      "(default\n"
      "                    2000, 10000 and 20000; repeat for several)\n"
      "  --fresh-seconds S (default 10)\n"
      "  --fresh-linger-ms MS  linger.ms of the offered load's producer,\n"
      "                    counted in freshness (default 20)\n"
      "  --fresh-mode LIST freshness of these deployments: split\n"
      "                    (lotlined command + project) and all\n"
      "                    (lotlined all on the bench's broker);\n"
      "                    default split,all\n"
      "  --all-set K=V     a setting for lotlined all (--set; up to 4)\n"
      "  --write-one N     one client's sequential writes (default "
      "500)\n"
      "  --write-seconds S 32 clients' writing time, without and then with\n"
      "                    an Idempotency-Key (default 5 each)\n"
      "  --workdir DIR     where data goes (default a temp dir)\n"
      "  --keep            keep the data directory\n"
      "  --phases LIST     run only these of ceilings,rebuild,api,fresh,\n"
      "                    write (ingest and projection always run)\n"
      "  --out FILE        write the figures as JSON\n"
      "  --smoke           a tiny run (20,000 events, short phases)\n");
}

/* "api,fresh" -> BENCH_PHASE_API | BENCH_PHASE_FRESH; -1 on a name it
 * does not know. */
static int parse_phases(const char *list, unsigned *out) {
  static const struct {
    const char *name;
    unsigned bit;
  } names[] = {{"ceilings", BENCH_PHASE_CEILINGS},
               {"rebuild", BENCH_PHASE_REBUILD},
               {"api", BENCH_PHASE_API},
               {"fresh", BENCH_PHASE_FRESH},
               {"write", BENCH_PHASE_WRITE}};
  *out = 0;
  for (const char *p = list; *p != '\0';) {
    size_t len = strcspn(p, ",");
    size_t i = 0;
    while (
        i < sizeof names / sizeof names[0] &&
        !(strlen(names[i].name) == len && strncmp(names[i].name, p, len) == 0))
      i++;
    if (i == sizeof names / sizeof names[0])
      return -1;
    *out |= names[i].bit;
    p += len + (p[len] == ',');
  }
  return 0;
}

/* "split,all" -> the BENCH_FRESH_* bits; -1 on a name it does not know. */
static int parse_fresh_modes(const char *list, unsigned *out) {
  *out = 0;
  for (const char *p = list; *p != '\0';) {
    size_t len = strcspn(p, ",");
    int m = 0;
    while (m < BENCH_FRESH_MODES &&
           !(strlen(fresh_mode_names[m]) == len &&
             strncmp(fresh_mode_names[m], p, len) == 0))
      m++;
    if (m == BENCH_FRESH_MODES)
      return -1;
    *out |= 1u << m;
    p += len + (p[len] == ',');
  }
  return *out != 0 ? 0 : -1;
}

/* --all-set (A) and --fresh-mode (M); -1 on a value it does not take. */
static int parse_all_opt(int ch, const char *arg, opts *o) {
  if (ch == 'M')
    return parse_fresh_modes(arg, &o->fresh_modes);
  if (o->n_all_sets == BENCH_ALL_SETS_MAX || strchr(arg, '=') == NULL)
    return -1;
  o->all_sets[o->n_all_sets++] = arg;
  return 0;
}

/* --smoke: a tiny run of every phase. */
static void set_smoke(opts *o) {
  o->events = 20000;
  o->api_seconds = 2;
  o->fresh_rates[0] = 2000;
  o->n_fresh_rates = 1;
  o->fresh_seconds = 2;
  o->write_one = 50;
  o->write_seconds = 1;
}

/* --fresh-linger-ms: a whole number of milliseconds, 0 to
 * BENCH_FRESH_LINGER_MAX_MS; -1 (with a message) otherwise. */
static int parse_linger(const char *arg, int *out) {
  char *end = NULL;
  errno = 0;
  long v = strtol(arg, &end, 10);
  if (errno != 0 || end == arg || *end != '\0' || v < 0 ||
      v > BENCH_FRESH_LINGER_MAX_MS) {
    fprintf(stderr, "lotline_bench: --fresh-linger-ms wants 0 to %d, not %s\n",
            BENCH_FRESH_LINGER_MAX_MS, arg);
    return -1;
  }
  *out = (int)v;
  return 0;
}

/* The fewest partitions, from BENCH_PARTITIONS_MIN up in powers of two,
 * whose retention holds a backlog of events (BENCH_BACKLOG_FILL_PCT of
 * it at most). */
static int backlog_partitions(int64_t events) {
  int64_t bytes = events * BENCH_BACKLOG_RECORD_BYTES;
  int p = BENCH_PARTITIONS_MIN;
  while (p < BENCH_PARTITIONS_MAX &&
         bytes * 100 >
             (int64_t)p * BENCH_BROKER_PARTITION_BYTES * BENCH_BACKLOG_FILL_PCT)
    p *= 2;
  return p;
}

/* Reads the options into *o; returns -1 to go on, else the exit status. */
static int parse_opts(int argc, char **argv, opts *o) {
  static const struct option lo[] = {
      {"events", required_argument, NULL, 'n'},
      {"seed", required_argument, NULL, 's'},
      {"partitions", required_argument, NULL, 'p'},
      {"api-seconds", required_argument, NULL, 'a'},
      {"connections", required_argument, NULL, 'c'},
      {"fresh-rate", required_argument, NULL, 'r'},
      {"fresh-seconds", required_argument, NULL, 'f'},
      {"fresh-linger-ms", required_argument, NULL, 'L'},
      {"fresh-mode", required_argument, NULL, 'M'},
      {"all-set", required_argument, NULL, 'A'},
      {"write-one", required_argument, NULL, 'W'},
      {"write-seconds", required_argument, NULL, 'T'},
      {"workdir", required_argument, NULL, 'w'},
      {"keep", no_argument, NULL, 'k'},
      {"out", required_argument, NULL, 'o'},
      {"smoke", no_argument, NULL, 'S'},
      {"phases", required_argument, NULL, 'P'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  int ch;
  bool rates_given = false; /* the first --fresh-rate replaces the default */
  while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    switch (ch) {
    case 'n':
      o->events = strtoll(optarg, NULL, 10);
      break;
    case 's':
      o->seed = strtoull(optarg, NULL, 10);
      break;
    case 'p':
      o->partitions = atoi(optarg);
      break;
    case 'a':
      o->api_seconds = atoi(optarg);
      break;
    case 'c':
      o->api_connections = atoi(optarg);
      break;
    case 'r':
      if (!rates_given)
        o->n_fresh_rates = 0;
      rates_given = true;
      if (o->n_fresh_rates < BENCH_FRESH_RATES_MAX)
        o->fresh_rates[o->n_fresh_rates++] = atoi(optarg);
      break;
    case 'W':
      o->write_one = atoi(optarg);
      break;
    case 'T':
      o->write_seconds = atoi(optarg);
      break;
    case 'f':
      o->fresh_seconds = atoi(optarg);
      break;
    case 'L':
      if (parse_linger(optarg, &o->fresh_linger_ms) != 0) {
        usage(stderr);
        return 2;
      }
      break;
    case 'A':
    case 'M':
      if (parse_all_opt(ch, optarg, o) != 0) {
        usage(stderr);
        return 2;
      }
      break;
    case 'w':
      o->workdir = optarg;
      break;
    case 'k':
      o->keep = true;
      break;
    case 'o':
      o->out = optarg;
      break;
    case 'P':
      if (parse_phases(optarg, &o->phases) != 0) {
        usage(stderr);
        return 2;
      }
      break;
    case 'S':
      set_smoke(o);
      rates_given = true;
      break;
    case 'h':
      usage(stdout);
      return 0;
    default:
      usage(stderr);
      return 2;
    }
  }
  if (o->partitions == 0)
    o->partitions = backlog_partitions(o->events);
  if (o->events < 1000 || o->partitions < 1 ||
      o->partitions > BENCH_PARTITIONS_MAX || o->write_one < 1 ||
      o->write_seconds < 1) {
    usage(stderr);
    return 2;
  }
  return -1;
}

/* The command consumer decided every pre-produced event as the workload
 * meant: each valid one in the log, each invalid one a stored rejection. */
static void check_ingest(const results *r, const wl_stats *ws) {
  if (r->log_entries != ws->valid || r->rejections != ws->invalid) {
    char why[256];
    snprintf(why, sizeof why,
             "%" PRId64 " log entries and %" PRId64 " rejections; the "
             "workload had %" PRId64 " valid and %" PRId64 " invalid events",
             r->log_entries, r->rejections, ws->valid, ws->invalid);
    die("ingest", why);
  }
}

/* A fresh data directory under the work directory; *dir gets the latter. */
static void make_dirs(const opts *o, char **dir, char *data, size_t n) {
  *dir = o->workdir ? ll_strdup(o->workdir) : h_tempdir("bench");
  if (o->workdir && mkdir(*dir, 0755) != 0 && errno != EEXIST)
    die(*dir, strerror(errno));
  snprintf(data, n, "%s/data", *dir);
  h_rmrf(data);
  if (mkdir(data, 0755) != 0 && errno != EEXIST)
    die("mkdir", strerror(errno));
}

static workload *make_workload(const opts *o, ll_codec *codec) {
  wl_config wc = {.seed = o->seed,
                  .events = o->events,
                  .products = o->events >= 1000000 ? 10000 : 500,
                  .lots = o->events >= 1000000 ? 200000 : (int)(o->events / 5),
                  .serial_pct = 10,
                  .invalid_pm = 20,
                  .start_ms = 1790000000000LL};
  return wl_new(&wc, codec);
}

int main(int argc, char **argv) {
  opts o = {.events = 1000000,
            .seed = 42,
            .partitions = 0, /* backlog_partitions */
            .api_seconds = 10,
            .api_connections = 32,
            .fresh_rates = {2000, 10000, 20000},
            .n_fresh_rates = 3,
            .fresh_seconds = 10,
            .fresh_linger_ms = BENCH_FRESH_LINGER_MS,
            .fresh_modes = (1u << BENCH_FRESH_SPLIT) | (1u << BENCH_FRESH_ALL),
            .write_one = BENCH_WRITE_ONE,
            .write_clients = BENCH_WRITE_CLIENTS,
            .write_seconds = BENCH_WRITE_SECONDS,
            .phases = BENCH_PHASE_ALL};
  int status = parse_opts(argc, argv, &o);
  if (status >= 0)
    return status;
  signal(SIGPIPE, SIG_IGN);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  char bin[1024], cli[1024], data[1024], *dir = NULL;
  h_bin("lotlined", bin, sizeof bin);
  h_bin("lotline", cli, sizeof cli);
  make_dirs(&o, &dir, data, sizeof data);
  ll_err e;
  ll_codec *codec = ll_codec_open(getenv("LOTLINE_SCHEMAS"), NULL, &e);
  if (!codec)
    die_err("schemas (set LOTLINE_SCHEMAS)", &e);
  /* Every topic lotlined's defaults name: `lotlined all` joins the
   * cluster directory (lots.members) and its alerts worker writes
   * lots.alerts. */
  ll_topics topics = {"lots.inbound",    "lots.events",  "lots.rejected",
                      "lots.quantities", "lots.members", "lots.alerts",
                      "lots.changelog"};
  ll_broker *broker = ll_broker_start(&topics, 1, o.partitions, &e);
  if (!broker)
    die_err("broker", &e);
  const char *brokers = ll_broker_bootstraps(broker);
  workload *wl = make_workload(&o, codec);
  corpus c = {0};
  c.msgs = ll_xcalloc((size_t)o.events, sizeof *c.msgs);
  results r = {0};
  fprintf(stderr, "1/8 generating and producing %" PRId64 " events\n",
          o.events);
  produce_workload(wl, brokers, o.partitions, &c, &r);
  wl_stats ws = *wl_stats_get(wl); /* the pre-produced stream */
  if (o.phases & BENCH_PHASE_CEILINGS) {
    fprintf(stderr, "2/8 ceilings\n");
    consume_ceiling(brokers, &o, c.n, &r);
    rocks_ceiling(&c, dir, &r);
  }
  fprintf(stderr, "3/8 durable ingest (lotlined command)\n");
  ingest(bin, brokers, data, &o, c.n, &r);
  check_ingest(&r, &ws);
  r.disk_bytes_per_event = (double)dir_bytes(data) / (double)c.n;
  fprintf(stderr, "4/8 projection (lotlined project)\n");
  projection(bin, brokers, data, &r);
  if (o.phases & BENCH_PHASE_REBUILD) {
    fprintf(stderr, "5/8 rebuild (lotline rebuild)\n");
    rebuild(cli, data, &r);
  }
  if (o.phases & BENCH_PHASE_API) {
    fprintf(stderr, "6/8 API load (wrk)\n");
    api_load(bin, brokers, data, &o, wl_lots_created(wl), &r);
  }
  if (!(o.phases & BENCH_PHASE_FRESH))
    o.n_fresh_rates = 0;
  for (int m = 0; m < BENCH_FRESH_MODES; m++)
    for (int i = 0; i < o.n_fresh_rates && (o.fresh_modes & (1u << m)); i++) {
      fprintf(stderr, "7/8 freshness (%s) at %d events/s\n",
              fresh_mode_names[m], o.fresh_rates[i]);
      freshness(bin, wl, brokers, data, &o, m, o.fresh_rates[i], &r.fresh[m][i],
                &r);
    }
  if (o.phases & BENCH_PHASE_WRITE) {
    fprintf(stderr,
            "8/8 write latency (lotlined all, 1 and %d clients, then %d "
            "with keys)\n",
            o.write_clients, o.write_clients);
    bench_write_latency(bin, dir, o.write_one, o.write_clients, o.write_seconds,
                        &r.write_one, &r.write_many, &r.write_keyed);
  }
  report(&o, &ws, &r);
  wl_free(wl);
  ll_broker_stop(broker);
  ll_codec_close(codec);
  free(c.arena);
  free(c.msgs);
  if (!o.keep && !o.workdir)
    h_rmrf(dir);
  free(dir);
  return 0;
}
