/* harness.c — see harness.h. Test-only code: failures abort the test with
 * a message rather than returning error values. */
#include "harness.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ll_decimal.h"
#include "ll_event.h"
#include "ll_mem.h"
#include "support.h"

/* Fixed, so that a resent event is the same content (a redelivery). */
#define H_OCCURRED_AT_MS 1795000000000LL

static void die(const char *fmt, const char *arg) {
  fprintf(stderr, "harness: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n");
  abort();
}

char *h_cluster_id(const char *brokers, int timeout_ms) {
  char errstr[256];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr, sizeof errstr);
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (!rk)
    die("producer: %s", errstr);
  char *id = rd_kafka_clusterid(rk, timeout_ms);
  rd_kafka_destroy(rk);
  if (!id)
    die("no cluster id from %s", brokers);
  char *copy = ll_strdup(id); /* librdkafka's memory goes back to it */
  rd_kafka_mem_free(NULL, id);
  return copy;
}

rd_kafka_t *h_idempotent_producer(const char *brokers,
                                  void (*dr)(rd_kafka_t *rk,
                                             const rd_kafka_message_t *m,
                                             void *opaque)) {
  char errstr[256];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr,
                        sizeof errstr) != RD_KAFKA_CONF_OK ||
      rd_kafka_conf_set(conf, "enable.idempotence", "true", errstr,
                        sizeof errstr) != RD_KAFKA_CONF_OK ||
      rd_kafka_conf_set(conf, "partitioner", "murmur2_random", errstr,
                        sizeof errstr) != RD_KAFKA_CONF_OK)
    die("producer config: %s", errstr);
  rd_kafka_conf_set_dr_msg_cb(conf, dr);
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (!rk)
    die("producer: %s", errstr);
  return rk;
}

ll_codec *h_codec_open(void) {
  ll_err e;
  ll_codec *codec = ll_codec_open(getenv("LOTLINE_SCHEMAS"), NULL, &e);
  if (!codec)
    fprintf(stderr, "codec: %s: %s\n", ll_err_kind_name(e.kind), e.message);
  return codec;
}

char *h_tempdir(const char *tag) {
  char *dir = ts_tempdir(tag);
  if (dir == NULL)
    die("no temp directory for %s", tag);
  return dir;
}

void h_rmrf(const char *path) {
  ts_rmtree(path);
}

const char *h_bin(const char *name, char *buf, size_t n) {
  const char *dir = getenv("LOTLINE_BIN");
  snprintf(buf, n, "%s/%s", dir && *dir ? dir : "build/bin", name);
  return buf;
}

/* Every child still running when the test program exits (a failed assert
 * ends a test early) is killed, so no daemon outlives its test. */
#define H_CHILDREN_MAX 64
static pid_t children[H_CHILDREN_MAX];

static void kill_children(void) {
  for (int i = 0; i < H_CHILDREN_MAX; i++) {
    if (children[i] > 0 && kill(children[i], 0) == 0) {
      kill(children[i], SIGKILL);
      waitpid(children[i], NULL, 0);
    }
    children[i] = 0;
  }
}

static void remember_child(pid_t pid) {
  static bool registered = false;
  if (!registered) {
    atexit(kill_children);
    registered = true;
  }
  for (int i = 0; i < H_CHILDREN_MAX; i++) {
    if (children[i] <= 0 || kill(children[i], 0) != 0) {
      children[i] = pid;
      return;
    }
  }
}

h_proc h_spawn(const char *log_path, const char *const argv[]) {
  h_proc p = {0};
  snprintf(p.log_path, sizeof p.log_path, "%s", log_path);
  p.pid = fork();
  if (p.pid < 0)
    die("fork failed for %s", argv[0]);
  if (p.pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test */
    int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    execv(argv[0], (char *const *)argv);
    fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  remember_child(p.pid);
  return p;
}

h_proc h_spawn_tied(const char *log_path, const char *const argv[]) {
  h_proc p = {0};
  snprintf(p.log_path, sizeof p.log_path, "%s", log_path);
  pid_t parent = getpid();
  p.pid = fork();
  if (p.pid < 0)
    die("fork failed for %s", argv[0]);
  if (p.pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) /* the parent died before prctl */
      _exit(127);
    int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    execv(argv[0], (char *const *)argv);
    fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  return p;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

int h_stop(h_proc *p, int timeout_ms) {
  if (p->pid <= 0)
    return -1;
  kill(p->pid, SIGTERM);
  int status;
  for (int waited = 0; waited <= timeout_ms; waited += 10) {
    pid_t r = waitpid(p->pid, &status, WNOHANG);
    if (r == p->pid) {
      p->pid = 0;
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    sleep_ms(10);
  }
  h_kill9(p);
  return -1;
}

void h_kill9(h_proc *p) {
  if (p->pid > 0) {
    kill(p->pid, SIGKILL);
    waitpid(p->pid, NULL, 0);
    p->pid = 0;
  }
}

void h_dump_log(const h_proc *p) {
  FILE *f = fopen(p->log_path, "r");
  if (!f)
    return;
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, size > 8000 ? size - 8000 : 0, SEEK_SET);
  char buf[8192];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  buf[n] = '\0';
  fclose(f);
  fprintf(stderr, "---- %s (tail) ----\n%s\n----\n", p->log_path, buf);
}

char *h_wait_file(const char *dir, const char *name, int timeout_ms) {
  char path[1024], line[1024];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  for (int waited = 0; waited <= timeout_ms; waited += 20) {
    FILE *f = fopen(path, "r");
    if (f) {
      char *s = fgets(line, sizeof line, f);
      fclose(f);
      if (s) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0])
          return ll_strdup(line);
      }
    }
    sleep_ms(20);
  }
  return NULL;
}

#define ALL_ARGS_MAX 24

h_all h_start_all(const char *dir, const char *log, const char *const extra[],
                  int timeout_ms) {
  char bin[512];
  const char *argv[ALL_ARGS_MAX] = {h_bin("lotlined", bin, sizeof bin),
                                    "all",
                                    "--data",
                                    dir,
                                    "--http",
                                    "127.0.0.1:0"};
  size_t n = 6;
  for (size_t i = 0; extra != NULL && extra[i] != NULL; i++) {
    if (n + 1 >= ALL_ARGS_MAX)
      die("h_start_all: more than %s arguments", "18");
    argv[n++] = extra[i];
  }
  argv[n] = NULL;
  /* Addresses a previous run on dir left would be taken for this one's. */
  char path[1024];
  snprintf(path, sizeof path, "%s/http.addr", dir);
  unlink(path);
  h_all a = {.proc = h_spawn_tied(log, argv)};
  a.brokers = h_wait_file(dir, "broker.addr", timeout_ms);
  a.http = h_wait_file(dir, "http.addr", timeout_ms);
  if (a.brokers == NULL || a.http == NULL) {
    h_dump_log(&a.proc);
    h_kill9(&a.proc);
    die("lotlined all on %s did not write its addresses in time", dir);
  }
  return a;
}

int h_stop_all(h_all *a, int timeout_ms) {
  int rc = h_stop(&a->proc, timeout_ms);
  if (rc != 0)
    h_dump_log(&a->proc);
  free(a->brokers);
  free(a->http);
  a->brokers = a->http = NULL;
  return rc;
}

typedef struct body_buf {
  char *data;
  size_t len;
} body_buf;

static size_t on_body(char *p, size_t size, size_t n, void *arg) {
  body_buf *b = arg;
  b->data = ll_xrealloc(b->data, b->len + size * n + 1);
  memcpy(b->data + b->len, p, size * n);
  b->len += size * n;
  b->data[b->len] = '\0';
  return size * n;
}

int h_http(const char *method, const char *base, const char *path,
           const char *body, const char *extra_header, json_t **json) {
  char url[2048];
  snprintf(url, sizeof url, "http://%s%s", base, path);
  CURL *c = curl_easy_init();
  body_buf b = {0};
  struct curl_slist *headers =
      curl_slist_append(NULL, "Content-Type: application/json");
  if (extra_header)
    headers = curl_slist_append(headers, extra_header);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 15000L);
  if (body)
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
  long status = -1;
  if (curl_easy_perform(c) == CURLE_OK)
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(c);
  if (json)
    *json = b.data ? json_loads(b.data, 0, NULL) : NULL;
  free(b.data);
  return (int)status;
}

long h_metric(const char *base, const char *name) {
  char url[2048];
  snprintf(url, sizeof url, "http://%s/metrics", base);
  CURL *c = curl_easy_init();
  body_buf b = {0};
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
  long value = -1;
  if (curl_easy_perform(c) == CURLE_OK && b.data) {
    char needle[256];
    snprintf(needle, sizeof needle, "\n%s ", name);
    const char *line = strstr(b.data, needle);
    if (line)
      value = strtol(line + strlen(needle), NULL, 10);
  }
  curl_easy_cleanup(c);
  free(b.data);
  return value;
}

json_t *h_http_wait(const char *base, const char *path,
                    bool (*pred)(json_t *, const void *), const void *arg,
                    int timeout_ms) {
  json_t *j = NULL;
  for (int waited = 0; waited <= timeout_ms; waited += 50) {
    if (j)
      json_decref(j);
    j = NULL;
    int status = h_http("GET", base, path, NULL, NULL, &j);
    if (status == 200 && j && pred(j, arg))
      return j;
    sleep_ms(50);
  }
  return j;
}

struct h_producer {
  rd_kafka_t *rk;
};

h_producer *h_producer_new(const char *brokers) {
  char errstr[256];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr, sizeof errstr);
  rd_kafka_conf_set(conf, "enable.idempotence", "true", errstr, sizeof errstr);
  rd_kafka_conf_set(conf, "linger.ms", "5", errstr, sizeof errstr);
  rd_kafka_conf_set(conf, "partitioner", "murmur2_random", errstr,
                    sizeof errstr);
  h_producer *p = ll_xcalloc(1, sizeof *p);
  p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (!p->rk)
    die("producer: %s", errstr);
  return p;
}

void h_produce(h_producer *p, const char *topic, const char *key,
               const void *value, size_t len) {
  for (;;) {
    rd_kafka_resp_err_t e = rd_kafka_producev(
        p->rk, RD_KAFKA_V_TOPIC(topic),
        RD_KAFKA_V_KEY((void *)key, key ? strlen(key) : 0),
        RD_KAFKA_V_VALUE((void *)value, len),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      rd_kafka_poll(p->rk, 10);
      continue;
    }
    if (e)
      die("produce: %s", rd_kafka_err2str(e));
    break;
  }
  rd_kafka_poll(p->rk, 0);
}

void h_producer_free(h_producer *p) {
  if (rd_kafka_flush(p->rk, 30000))
    die("producer flush timed out%s", "");
  rd_kafka_destroy(p->rk);
  free(p);
}

int h_consume_all(const char *brokers, const char *topic, int want,
                  int timeout_ms,
                  void (*fn)(const void *key, size_t key_len, const void *value,
                             size_t len, void *arg),
                  void *arg) {
  char errstr[256], group[64];
  snprintf(group, sizeof group, "lotline-test-%d-%ld", (int)getpid(),
           (long)time(NULL));
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr, sizeof errstr);
  rd_kafka_conf_set(conf, "group.id", group, errstr, sizeof errstr);
  rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", errstr,
                    sizeof errstr);
  rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof errstr);
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
  if (!rk)
    die("consumer: %s", errstr);
  rd_kafka_poll_set_consumer(rk);
  rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(subs, topic, RD_KAFKA_PARTITION_UA);
  rd_kafka_subscribe(rk, subs);
  rd_kafka_topic_partition_list_destroy(subs);
  int got = 0;
  for (int waited = 0; got < want && waited < timeout_ms; waited += 100) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
    if (!m)
      continue;
    if (!m->err) {
      fn(m->key, m->key_len, m->payload, m->len, arg);
      got++;
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  return got;
}

int h_read_topic(const char *brokers, const char *topic, int timeout_ms,
                 void (*fn)(const rd_kafka_message_t *m, void *arg), void *arg,
                 char *why, size_t why_len) {
  char errstr[256];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  const char *settings[][2] = {{"bootstrap.servers", brokers},
                               {"group.id", "lotline-test-reader"},
                               {"enable.auto.commit", "false"},
                               {"enable.partition.eof", "true"},
                               {"auto.offset.reset", "error"}};
  for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++)
    if (rd_kafka_conf_set(conf, settings[i][0], settings[i][1], errstr,
                          sizeof errstr) != RD_KAFKA_CONF_OK)
      die("reader config: %s", errstr);
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
  if (!rk)
    die("reader: %s", errstr);
  int rc = -1;
  int64_t *high = NULL;
  const rd_kafka_metadata_t *md = NULL;
  rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
  if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR ||
      md->topic_cnt != 1 || md->topics[0].err) {
    snprintf(why, why_len, "no metadata for %s", topic);
    goto out;
  }
  int n_parts = md->topics[0].partition_cnt;
  high = calloc((size_t)n_parts + 1, sizeof *high);
  rd_kafka_topic_partition_list_t *parts =
      rd_kafka_topic_partition_list_new(n_parts);
  int open = 0;
  for (int p = 0; p < n_parts; p++) {
    int64_t low = 0;
    if (rd_kafka_query_watermark_offsets(rk, topic, p, &low, &high[p], 10000) !=
            RD_KAFKA_RESP_ERR_NO_ERROR ||
        low != 0) {
      snprintf(why, why_len,
               "%s [%d] does not start at offset 0 (%lld): the "
               "broker dropped records",
               topic, p, (long long)low);
      rd_kafka_topic_partition_list_destroy(parts);
      goto out;
    }
    if (high[p] > 0) {
      rd_kafka_topic_partition_list_add(parts, topic, p)->offset = 0;
      open++;
    }
  }
  rd_kafka_assign(rk, parts);
  rd_kafka_topic_partition_list_destroy(parts);
  struct timespec t0, t;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  while (open > 0) {
    clock_gettime(CLOCK_MONOTONIC, &t);
    if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 >
        timeout_ms) {
      snprintf(why, why_len, "could not read %s to its end in %d ms", topic,
               timeout_ms);
      goto out;
    }
    rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
    if (!m)
      continue;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      if (m->offset >= high[m->partition])
        open--;
    } else if (m->err) {
      snprintf(why, why_len, "reading %s [%d] at offset %lld: %s", topic,
               m->partition, (long long)m->offset, rd_kafka_message_errstr(m));
      rd_kafka_message_destroy(m);
      goto out;
    } else if (m->offset < high[m->partition]) {
      fn(m, arg);
    }
    rd_kafka_message_destroy(m);
  }
  rc = 0;
out:
  free(high);
  if (md)
    rd_kafka_metadata_destroy(md);
  rd_kafka_topic_destroy(rkt);
  rd_kafka_destroy(rk);
  return rc;
}

void h_ev_create(ll_event *ev, const char *event_id, const char *product,
                 const char *lot_id, const char *name, ll_tracking tracking) {
  ll_event_init(ev);
  ev->type = LL_EV_LOT_CREATED;
  ev->event_id = ll_strdup(event_id);
  ev->occurred_at_ms = H_OCCURRED_AT_MS;
  ev->product_id = ll_strdup(product);
  ev->lot_id = ll_strdup(lot_id);
  ev->name = ll_strdup(name);
  ev->tracking = tracking;
}

void h_ev_move(ll_event *ev, const char *event_id, const char *product,
               const char *lot_id, const char *qty, const char *from,
               ll_usage from_usage, const char *to, ll_usage to_usage) {
  ll_event_init(ev);
  ev->type = LL_EV_STOCK_MOVED;
  ev->event_id = ll_strdup(event_id);
  ev->occurred_at_ms = H_OCCURRED_AT_MS;
  ev->product_id = ll_strdup(product);
  ev->lot_id = ll_strdup(lot_id);
  ev->quantity_valid = ll_decimal_parse(qty, &ev->quantity_micro) == LL_DEC_OK;
  ev->from.id = ll_strdup(from);
  ev->from.usage = from_usage;
  ev->to.id = ll_strdup(to);
  ev->to.usage = to_usage;
}
