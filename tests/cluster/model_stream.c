/* model_stream.c — lotline_model_stream: the model-based rules test's
 * stream, encoded for lots.inbound, and what the model expects of it.
 *
 * Draws N events with the generator of tests/rules/rules_model_gen.c in
 * the world RM_WORLD_CLUSTER (three dozen products at a time, so that
 * every partition gets work), encodes each one as upstream producers do
 * (Avro single-object encoding with the current schema of its type, from
 * the schemas directory the service reads: ll_codec_encode), and decodes
 * it again: an event the wire does not carry field for field (same_event)
 * would make the model's prediction wrong, so the tool stops there.
 *
 * Every outcome the model gives is one lotline must give over Kafka, in
 * any interleaving of the partitions: each event is keyed by its
 * product_id and goes to the partition murmur2 gives it, and every rule is
 * local to one product (docs/rejections.md), which the model keeps per
 * product too. The generator draws nothing the wire cannot carry
 * (rm_world.wire_only).
 *
 * Output, in the directory --out:
 *   stream.jsonl   one line per event, in the order they must be produced:
 *                  {"key", "partition", "event_id", "type", "value" (hex),
 *                   "expect": "OK" | "DUPLICATE" | a rejection code,
 *                   "lot": the lot id the event addressed, or null}
 *   expected.json  {"seed", "events", "partitions", "counts": {outcome: n},
 *                   "lots": [{"product_id", "lot_id", "name", "tracking",
 *                   "version", "on_hand_micro", "hold_reason" (or null),
 *                   "uom" (or null), "locations": [{"location", "usage",
 *                   "quantity_micro"}] (non-zero, virtual ones included)}],
 *                   "partition_bytes": [key and value bytes per partition]}
 *
 * usage: lotline_model_stream --schemas DIR --out DIR [--events N]
 *          [--seed S] [--partitions P]
 * The seed is printed (default: from the clock); --seed replays a stream.
 * Exit status 0 with both files written, 1 on a failure, 2 on bad usage. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cmocka.h>

#include "ll_buf.h"
#include "ll_codec.h"
#include "ll_event.h"
#include "ll_hash.h"
#include "ll_mem.h"
#include "rules/rules_model_gen.h"

#define PARTITIONS_MAX 256
#define EVENTS_MAX 10000000ULL
#define PATH_MAX_BYTES 4096

typedef struct options {
  const char *schemas;
  const char *out;
  uint64_t events;
  uint64_t seed;
  int partitions;
} options;

/* What the stream holds so far. */
typedef struct stream {
  ll_codec *codec;
  FILE *lines;
  int partitions;
  uint64_t counts[LL_CODE_COUNT + 1]; /* [LL_CODE_COUNT] = duplicate */
  uint64_t partition_bytes[PARTITIONS_MAX];
} stream;

static const char *outcome_name(int want) {
  return want == DUP ? "DUPLICATE" : ll_code_name((ll_code)want);
}

static int usage(const char *why) {
  fprintf(stderr,
          "lotline_model_stream: %s\n"
          "usage: lotline_model_stream --schemas DIR --out DIR [--events N]\n"
          "         [--seed S] [--partitions P]\n",
          why);
  return 2;
}

static int parse_options(int argc, char **argv, options *o) {
  static const struct option longs[] = {
      {"schemas", required_argument, NULL, 's'},
      {"out", required_argument, NULL, 'o'},
      {"events", required_argument, NULL, 'n'},
      {"seed", required_argument, NULL, 'r'},
      {"partitions", required_argument, NULL, 'p'},
      {NULL, 0, NULL, 0}};
  *o = (options){.events = 5000,
                 .partitions = 12,
                 .seed = (uint64_t)time(NULL) ^ ((uint64_t)clock() << 32)};
  int c;
  while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
    if (c == 's')
      o->schemas = optarg;
    else if (c == 'o')
      o->out = optarg;
    else if (c == 'n')
      o->events = strtoull(optarg, NULL, 10);
    else if (c == 'r')
      o->seed = strtoull(optarg, NULL, 10);
    else if (c == 'p')
      o->partitions = atoi(optarg);
    else
      return usage("unknown option");
  }
  if (!o->schemas || !o->out)
    return usage("--schemas and --out are required");
  if (o->events == 0 || o->events > EVENTS_MAX)
    return usage("--events must be between 1 and 10000000");
  if (o->partitions < 1 || o->partitions > PARTITIONS_MAX)
    return usage("--partitions must be between 1 and 256");
  return 0;
}

static char *hex_of(const uint8_t *p, size_t n) {
  static const char digits[] = "0123456789abcdef";
  char *s = ll_xmalloc(2 * n + 1);
  for (size_t i = 0; i < n; i++) {
    s[2 * i] = digits[p[i] >> 4];
    s[2 * i + 1] = digits[p[i] & 15];
  }
  s[2 * n] = '\0';
  return s;
}

/* The event as single-object encoding, checked by decoding it again. */
static int encode_checked(stream *s, const ll_event *ev, uint64_t seq,
                          ll_buf *out) {
  ll_err err = {0};
  if (ll_codec_encode(s->codec, ev, out, &err) != 0) {
    fprintf(stderr, "event %llu (%s %s): cannot encode: %s (%s)\n",
            (unsigned long long)seq, ll_event_type_name(ev->type), ev->event_id,
            err.message, ll_err_kind_name(err.kind));
    return -1;
  }
  ll_event back;
  ll_event_init(&back);
  bool retry_later = false;
  ll_code code =
      ll_codec_decode(s->codec, out->data, out->len, &back, &retry_later, &err);
  bool same = code == LL_OK && same_event(ev, &back) &&
              strcmp(ev->event_id, back.event_id) == 0;
  if (!same)
    fprintf(stderr,
            "event %llu (%s %s): the wire does not carry it field for "
            "field (decoded: %s %s)\n",
            (unsigned long long)seq, ll_event_type_name(ev->type), ev->event_id,
            ll_code_name(code), err.message);
  ll_event_free(&back);
  return same ? 0 : -1;
}

/* One line of stream.jsonl. */
static int write_line(stream *s, const ll_event *ev, const ll_buf *value,
                      int want, const char *lot_id) {
  size_t key_len = strlen(ev->product_id);
  int32_t partition =
      ll_partition_of_key(ev->product_id, key_len, s->partitions);
  s->partition_bytes[partition] += key_len + value->len;
  char *hex = hex_of(value->data, value->len);
  json_t *line =
      json_pack("{s:s, s:i, s:s, s:s, s:s, s:s, s:s?}", "key", ev->product_id,
                "partition", (json_int_t)partition, "event_id", ev->event_id,
                "type", ll_event_type_name(ev->type), "value", hex, "expect",
                outcome_name(want), "lot", lot_id);
  free(hex);
  int rc = line && json_dumpf(line, s->lines, JSON_COMPACT) == 0 &&
                   fputc('\n', s->lines) != EOF
               ? 0
               : -1;
  json_decref(line);
  return rc;
}

/* The stream, event by event through the generator and the model. */
static int write_stream(stream *s, rm_gen *g, uint64_t n_events) {
  ll_buf value;
  ll_buf_init(&value);
  int rc = 0;
  for (uint64_t seq = 1; seq <= n_events && rc == 0; seq++) {
    ll_event ev;
    field changed;
    int lot = -1;
    int want = rm_gen_next(g, seq, &ev, &changed, &lot);
    ll_buf_reset(&value);
    rc = encode_checked(s, &ev, seq, &value);
    /* The lot a rejected event names may not exist: only an accepted
     * event's lot is the model's. */
    const char *lot_id = want == LL_OK ? lot_str(lot_number(&g->m, lot)) : NULL;
    if (rc == 0)
      rc = write_line(s, &ev, &value, want, lot_id);
    s->counts[want == DUP ? LL_CODE_COUNT : want]++;
    rm_gen_commit(g, &ev, want, lot); /* takes ev */
  }
  ll_buf_free(&value);
  return rc;
}

static json_t *lot_json(const model *m, int i) {
  const mlot *l = &m->lots[i];
  json_t *locs = json_array();
  for (int k = 0; k < N_LOCS; k++) {
    if (l->qty[k] == 0)
      continue;
    /* A quantity somewhere means a move was accepted there, which fixed
     * the location's usage for the product. */
    assert_true(usage_known(m, l->product, k));
    json_array_append_new(
        locs, json_pack("{s:s, s:s, s:I}", "location", LOCS[k], "usage",
                        ll_usage_name(usage_of(m, l->product, k)),
                        "quantity_micro", (json_int_t)l->qty[k]));
  }
  return json_pack(
      "{s:s, s:s, s:s, s:s, s:I, s:I, s:s?, s:s?, s:o}", "product_id",
      product_str(l->product), "lot_id", lot_str(lot_number(m, i)), "name",
      l->name, "tracking", ll_tracking_name(l->tracking), "version",
      (json_int_t)l->version, "on_hand_micro", (json_int_t)on_hand(l, m),
      "hold_reason", l->held ? l->hold_reason : NULL, "uom",
      l->uom < 0 ? NULL : UOMS[l->uom], "locations", locs);
}

static json_t *expected_json(const stream *s, const model *m,
                             const options *o) {
  json_t *counts = json_object();
  for (int c = 0; c <= LL_CODE_COUNT; c++) {
    if (s->counts[c])
      json_object_set_new(counts,
                          c == LL_CODE_COUNT ? "DUPLICATE" : ll_code_name(c),
                          json_integer((json_int_t)s->counts[c]));
  }
  json_t *lots = json_array();
  for (int i = 0; i < m->n_products * m->n_lots; i++) {
    if (m->lots[i].exists)
      json_array_append_new(lots, lot_json(m, i));
  }
  json_t *bytes = json_array();
  for (int p = 0; p < s->partitions; p++)
    json_array_append_new(bytes,
                          json_integer((json_int_t)s->partition_bytes[p]));
  return json_pack("{s:I, s:I, s:i, s:o, s:o, s:o}", "seed",
                   (json_int_t)o->seed, "events", (json_int_t)o->events,
                   "partitions", o->partitions, "counts", counts, "lots", lots,
                   "partition_bytes", bytes);
}

static FILE *open_out(const char *dir, const char *name, char *path) {
  snprintf(path, PATH_MAX_BYTES, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  if (!f)
    fprintf(stderr, "lotline_model_stream: %s: %s\n", path, strerror(errno));
  return f;
}

static int write_expected(const stream *s, const model *m, const options *o) {
  char path[PATH_MAX_BYTES];
  FILE *f = open_out(o->out, "expected.json", path);
  if (!f)
    return -1;
  json_t *doc = expected_json(s, m, o);
  int rc = json_dumpf(doc, f, JSON_COMPACT);
  json_decref(doc);
  if (fclose(f) != 0 || rc != 0) {
    fprintf(stderr, "lotline_model_stream: cannot write %s\n", path);
    return -1;
  }
  return 0;
}

static void print_counts(const stream *s) {
  printf("lotline_model_stream: outcomes:");
  for (int c = 0; c <= LL_CODE_COUNT; c++) {
    if (s->counts[c])
      printf(" %s=%llu", c == LL_CODE_COUNT ? "DUPLICATE" : ll_code_name(c),
             (unsigned long long)s->counts[c]);
  }
  printf("\n");
}

static int run(const options *o) {
  ll_err err = {0};
  stream s = {.partitions = o->partitions};
  s.codec = ll_codec_open(o->schemas, NULL, &err);
  if (!s.codec) {
    fprintf(stderr, "lotline_model_stream: schemas: %s (%s)\n", err.message,
            ll_err_kind_name(err.kind));
    return 1;
  }
  char path[PATH_MAX_BYTES];
  mkdir(o->out, 0755);
  s.lines = open_out(o->out, "stream.jsonl", path);
  rm_gen *g = ll_xcalloc(1, sizeof *g);
  rm_gen_init(g, &RM_WORLD_CLUSTER, o->seed, o->events);
  int rc = s.lines ? write_stream(&s, g, o->events) : -1;
  if (s.lines && fclose(s.lines) != 0)
    rc = -1;
  if (rc == 0)
    rc = write_expected(&s, &g->m, o);
  if (rc == 0)
    print_counts(&s);
  rm_gen_free(g);
  free(g);
  ll_codec_close(s.codec);
  return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv) {
  options o;
  int rc = parse_options(argc, argv, &o);
  if (rc != 0)
    return rc;
  printf("lotline_model_stream: seed=%llu events=%llu partitions=%d "
         "(--seed reproduces)\n",
         (unsigned long long)o.seed, (unsigned long long)o.events,
         o.partitions);
  fflush(stdout);
  return run(&o);
}
