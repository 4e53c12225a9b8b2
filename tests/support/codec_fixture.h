/* codec_fixture.h — shared by the codec tests: sample events, event
 * comparison, schema directories assembled for evolution tests, and a tiny
 * Schema Registry (one thread, one listening socket on 127.0.0.1). Header
 * only, static functions: each test executable includes it once. */
#ifndef CODEC_FIXTURE_H
#define CODEC_FIXTURE_H

#include <setjmp.h> /* cmocka needs these first */
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ll_codec.h"
#include "ll_event.h"
#include "ll_mem.h"

static inline const char *schemas_dir(void) {
  const char *dir = getenv("LOTLINE_SCHEMAS");
  return dir ? dir : LOTLINE_SOURCE_DIR "/schemas";
}

static inline ll_codec *open_codec(const char *dir, const char *registry_url) {
  ll_err err = {0};
  ll_codec *c = ll_codec_open(dir, registry_url, &err);
  if (!c)
    fail_msg("ll_codec_open(%s): %s: %s", dir, ll_err_kind_name(err.kind),
             err.message);
  return c;
}

/* ---- sample events ---- */

static inline void sample_lot_created(ll_event *ev, bool all_fields) {
  ll_event_init(ev);
  ev->type = LL_EV_LOT_CREATED;
  ev->event_id = ll_strdup("ev-created-1");
  ev->occurred_at_ms = 1767225600123LL;
  ev->product_id = ll_strdup("P-100");
  ev->lot_id = ll_strdup("lot-1");
  ev->name = ll_strdup("LOT-2027-001");
  ev->tracking = LL_TRACK_SERIAL;
  if (all_fields) {
    ev->reference = ll_strdup("PO/2027/0042");
    ev->description = ll_strdup("two lines\nand \xc3\xa9t\xc3\xa9");
    ev->expiration_at = (ll_opt_time){true, 1830297600000LL};
    ev->use_by_at = (ll_opt_time){true, 1827619200000LL};
    ev->removal_at = (ll_opt_time){true, 1825027200000LL};
    ev->alert_at = (ll_opt_time){true, -86400000LL}; /* before 1970 */
  }
}

static inline void sample_lot_updated(ll_event *ev, bool all_fields) {
  ll_event_init(ev);
  ev->type = LL_EV_LOT_UPDATED;
  ev->event_id = ll_strdup("ev-updated-1");
  ev->occurred_at_ms = 1767225700000LL;
  ev->product_id = ll_strdup("P-100");
  ev->lot_id = ll_strdup("lot-1");
  if (all_fields) {
    ev->has_expected_version = true;
    ev->expected_version = 3;
    ev->name = ll_strdup("LOT-2027-001b");
    ev->new_product_id = ll_strdup("P-200");
    ev->reference = ll_strdup(""); /* "" clears: must survive as "" */
    ev->description = ll_strdup("new description");
    ev->expiration_at = (ll_opt_time){true, 1830297600001LL};
    ev->use_by_at = (ll_opt_time){true, 0};
    ev->removal_at = (ll_opt_time){true, 1825027200000LL};
    ev->alert_at = (ll_opt_time){true, 1822348800000LL};
  }
}

static inline void sample_stock_moved(ll_event *ev, bool all_fields) {
  ll_event_init(ev);
  ev->type = LL_EV_STOCK_MOVED;
  ev->event_id = ll_strdup("ev-moved-1");
  ev->occurred_at_ms = 1767225800000LL;
  ev->product_id = ll_strdup("P-100");
  ev->quantity_valid = true;
  ev->quantity_micro = 12345678; /* 12.345678 */
  ev->from.id = ll_strdup("WH/Stock/Shelf-2");
  ev->from.usage = LL_USAGE_INTERNAL;
  ev->to.id = ll_strdup("Partners/Customers");
  ev->to.usage = LL_USAGE_CUSTOMER;
  if (all_fields) {
    ev->lot_id = ll_strdup("lot-1");
    ev->lot_name = ll_strdup("LOT-2027-001");
    ev->reference = ll_strdup("WH/OUT/0001");
  } else {
    ev->lot_name = ll_strdup("LOT-2027-001"); /* one of lot_id/lot_name */
  }
}

typedef void (*sample_fn)(ll_event *ev, bool all_fields);
__attribute__((unused)) static const sample_fn samples[] = {
    sample_lot_created, sample_lot_updated, sample_stock_moved};

/* Deep equality through the storage form, which covers every field. */
static inline void assert_events_equal(const ll_event *a, const ll_event *b) {
  ll_buf pa, pb;
  ll_buf_init(&pa);
  ll_buf_init(&pb);
  ll_event_pack(a, &pa);
  ll_event_pack(b, &pb);
  assert_int_equal(a->type, b->type);
  assert_string_equal(a->event_id, b->event_id);
  assert_int_equal(pa.len, pb.len);
  assert_memory_equal(pa.data, pb.data, pa.len);
  ll_buf_free(&pa);
  ll_buf_free(&pb);
}

/* ---- schema directories ---- */

static inline void copy_file(const char *from, const char *to) {
  FILE *in = fopen(from, "rb");
  assert_non_null(in);
  FILE *out = fopen(to, "wb");
  assert_non_null(out);
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, in)) > 0)
    assert_int_equal(fwrite(buf, 1, n, out), n);
  fclose(in);
  assert_int_equal(fclose(out), 0);
}

/* A fresh directory holding the production schemas, except that every
 * record present in `overlay` (a folder under tests/codec/schemas) takes
 * the overlay's versions instead. Returns a malloc'd path. */
static inline char *make_schema_dir(const char *overlay) {
  char *dir = ll_strdup("/tmp/lotline-codec-XXXXXX");
  assert_non_null(mkdtemp(dir));
  char overlay_dir[1024];
  snprintf(overlay_dir, sizeof overlay_dir, "%s/%s", CODEC_TEST_SCHEMAS,
           overlay ? overlay : ".");
  const char *sources[2] = {schemas_dir(), overlay ? overlay_dir : NULL};
  for (int s = 0; s < 2 && sources[s]; s++) {
    DIR *d = opendir(sources[s]);
    assert_non_null(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
      const char *dot = strstr(de->d_name, ".v");
      if (!dot || !strstr(de->d_name, ".avsc"))
        continue;
      if (s == 0 && overlay) {
        /* Skip records the overlay replaces. */
        char probe[2048];
        snprintf(probe, sizeof probe, "%s/%.*s.v1.avsc", overlay_dir,
                 (int)(dot - de->d_name), de->d_name);
        if (access(probe, R_OK) == 0)
          continue;
      }
      char from[2048], to[2048];
      snprintf(from, sizeof from, "%s/%s", sources[s], de->d_name);
      snprintf(to, sizeof to, "%s/%s", dir, de->d_name);
      copy_file(from, to);
    }
    closedir(d);
  }
  return dir;
}

static inline void remove_schema_dir(char *dir) {
  DIR *d = opendir(dir);
  assert_non_null(d);
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.')
      continue;
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
    unlink(path);
  }
  closedir(d);
  rmdir(dir);
  free(dir);
}

static inline char *read_whole_file(const char *path) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  ll_buf b;
  ll_buf_init(&b);
  char tmp[4096];
  size_t n;
  while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
    ll_buf_put(&b, tmp, n);
  fclose(f);
  ll_buf_put_u8(&b, 0);
  return (char *)b.data;
}

/* ---- a tiny Schema Registry ---- */

#define FAKE_REGISTRY_MAX_IDS 16

typedef struct fake_registry {
  int listen_fd;
  int port;
  pthread_t thread;
  _Atomic bool stop;
  pthread_mutex_t lock;
  int hits;            /* GET /schemas/ids/... requests answered */
  int status_override; /* nonzero: answer every request with it */
  uint32_t ids[FAKE_REGISTRY_MAX_IDS];
  char *bodies[FAKE_REGISTRY_MAX_IDS]; /* full JSON answer */
  int count;
  char url[64];
} fake_registry;

static inline void registry_serve_one(fake_registry *r, int fd) {
  char req[4096];
  size_t len = 0;
  while (len < sizeof req - 1) {
    ssize_t n = recv(fd, req + len, sizeof req - 1 - len, 0);
    if (n <= 0)
      break;
    len += (size_t)n;
    req[len] = '\0';
    if (strstr(req, "\r\n\r\n"))
      break;
  }
  req[len] = '\0';
  unsigned id = 0;
  int status = 404;
  const char *body = "{\"error_code\":40403,\"message\":\"Schema not found\"}";
  pthread_mutex_lock(&r->lock);
  r->hits++;
  if (r->status_override) {
    status = r->status_override;
    body = "{\"error_code\":50001,\"message\":\"test failure\"}";
  } else if (sscanf(req, "GET /schemas/ids/%u ", &id) == 1) {
    for (int i = 0; i < r->count; i++) {
      if (r->ids[i] == id) {
        status = 200;
        body = r->bodies[i];
      }
    }
  }
  char head[256];
  int hn = snprintf(head, sizeof head,
                    "HTTP/1.1 %d X\r\nContent-Type: "
                    "application/vnd.schemaregistry.v1+json\r\n"
                    "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                    status, strlen(body));
  ssize_t ignored = send(fd, head, (size_t)hn, MSG_NOSIGNAL);
  ignored = send(fd, body, strlen(body), MSG_NOSIGNAL);
  (void)ignored;
  pthread_mutex_unlock(&r->lock);
}

static inline void *registry_main(void *arg) {
  fake_registry *r = arg;
  while (!r->stop) {
    struct pollfd p = {.fd = r->listen_fd, .events = POLLIN};
    if (poll(&p, 1, 50) <= 0)
      continue;
    int fd = accept(r->listen_fd, NULL, NULL);
    if (fd < 0)
      continue;
    registry_serve_one(r, fd);
    close(fd);
  }
  return NULL;
}

static inline void registry_start(fake_registry *r) {
  memset(r, 0, sizeof *r);
  pthread_mutex_init(&r->lock, NULL);
  r->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(r->listen_fd >= 0);
  struct sockaddr_in addr = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  assert_int_equal(bind(r->listen_fd, (struct sockaddr *)&addr, sizeof addr),
                   0);
  assert_int_equal(listen(r->listen_fd, 16), 0);
  socklen_t alen = sizeof addr;
  getsockname(r->listen_fd, (struct sockaddr *)&addr, &alen);
  r->port = ntohs(addr.sin_port);
  snprintf(r->url, sizeof r->url, "http://127.0.0.1:%d", r->port);
  assert_int_equal(pthread_create(&r->thread, NULL, registry_main, r), 0);
}

/* Register schema text under id; the answer is {"schema": "<text>"}. */
static inline void registry_add_schema(fake_registry *r, uint32_t id,
                                       const char *schema_text,
                                       const char *schema_type) {
  json_t *doc = json_pack("{s:s}", "schema", schema_text);
  if (schema_type)
    json_object_set_new(doc, "schemaType", json_string(schema_type));
  pthread_mutex_lock(&r->lock);
  assert_true(r->count < FAKE_REGISTRY_MAX_IDS);
  r->ids[r->count] = id;
  r->bodies[r->count] = json_dumps(doc, JSON_COMPACT);
  r->count++;
  pthread_mutex_unlock(&r->lock);
  json_decref(doc);
}

/* Answer every request with this HTTP status (0: answer normally). */
static inline void registry_set_status(fake_registry *r, int status) {
  pthread_mutex_lock(&r->lock);
  r->status_override = status;
  pthread_mutex_unlock(&r->lock);
}

static inline int registry_hits(fake_registry *r) {
  pthread_mutex_lock(&r->lock);
  int hits = r->hits;
  pthread_mutex_unlock(&r->lock);
  return hits;
}

static inline void registry_stop(fake_registry *r) {
  r->stop = true;
  pthread_join(r->thread, NULL);
  close(r->listen_fd);
  for (int i = 0; i < r->count; i++)
    free(r->bodies[i]);
  pthread_mutex_destroy(&r->lock);
}

/* A loopback URL where nothing listens (bind, read the port, close). */
static inline void dead_url(char *out, size_t size) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in addr = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
  socklen_t alen = sizeof addr;
  getsockname(fd, (struct sockaddr *)&addr, &alen);
  snprintf(out, size, "http://127.0.0.1:%d", ntohs(addr.sin_port));
  close(fd);
}

/* Confluent framing: 00 + big-endian id + Avro binary. */
static inline void confluent_frame(uint32_t id, const ll_buf *avro,
                                   ll_buf *out) {
  ll_buf_put_u8(out, 0);
  for (int i = 3; i >= 0; i--)
    ll_buf_put_u8(out, (uint8_t)(id >> (8 * i)));
  ll_buf_put(out, avro->data, avro->len);
}

/* Single-object framing around plain Avro binary. */
static inline void single_object_frame(uint64_t fp, const ll_buf *avro,
                                       ll_buf *out) {
  ll_buf_put_u8(out, 0xC3);
  ll_buf_put_u8(out, 0x01);
  for (int i = 0; i < 8; i++)
    ll_buf_put_u8(out, (uint8_t)(fp >> (8 * i)));
  ll_buf_put(out, avro->data, avro->len);
}

#endif
