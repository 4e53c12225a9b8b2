/* make_corpus.c — writes the fuzz target's seed corpus.
 *
 *   fuzz_make_corpus SCHEMA_DIR OUT_DIR
 *
 * For every seed event of fuzz_events.c: so-<name> (Avro single-object
 * encoding, current schema) and cf-<name> (Confluent framing, schema ids of
 * the fuzz target's loopback registry); plus seq-* inputs, several messages
 * joined by FUZZ_SEPARATOR, and two inputs that are not events at all.
 * The output is committed under tests/fuzz/corpus/; rerun this when the
 * seed events or the schemas change. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_events.h"
#include "fuzz_registry.h"
#include "ll_codec.h"
#include "ll_event.h"
#include "mem_state.h"

#define CORPUS_PATH_MAX 4096

static const char *out_dir;
static int written;

static void write_file(const char *name, const ll_buf *b) {
  char path[CORPUS_PATH_MAX];
  snprintf(path, sizeof path, "%s/%s", out_dir, name);
  FILE *f = fopen(path, "wb");
  if (f == NULL || fwrite(b->data, 1, b->len, f) != b->len || fclose(f) != 0) {
    fprintf(stderr, "fuzz_make_corpus: cannot write %s\n", path);
    exit(1);
  }
  written++;
}

static void encode_single(ll_codec *c, const ll_event *ev, ll_buf *out) {
  ll_err err = {0};
  if (ll_codec_encode(c, ev, out, &err) != 0) {
    fprintf(stderr, "fuzz_make_corpus: %s: %s\n", ev->event_id, err.message);
    exit(1);
  }
}

static void encode_confluent(ll_codec *c, const ll_event *ev, ll_buf *out) {
  uint32_t id = ev->type == LL_EV_LOT_CREATED   ? FUZZ_ID_LOT_CREATED
                : ev->type == LL_EV_LOT_UPDATED ? FUZZ_ID_LOT_UPDATED
                                                : FUZZ_ID_STOCK_MOVED;
  const uint8_t frame[5] = {0x00, (uint8_t)(id >> 24), (uint8_t)(id >> 16),
                            (uint8_t)(id >> 8), (uint8_t)id};
  ll_buf_put(out, frame, sizeof frame);
  ll_err err = {0};
  if (ll_codec_encode_version(c, ev, 1, out, &err) != 0) {
    fprintf(stderr, "fuzz_make_corpus: %s: %s\n", ev->event_id, err.message);
    exit(1);
  }
}

/* Several events, single-object encoded, joined by the separator. */
static void write_sequence(ll_codec *c, const char *name, ll_event *evs,
                           size_t n) {
  ll_buf b;
  ll_buf_init(&b);
  for (size_t i = 0; i < n; i++) {
    if (i > 0)
      ll_buf_put(&b, FUZZ_SEPARATOR, FUZZ_SEPARATOR_LEN);
    encode_single(c, &evs[i], &b);
    ll_event_free(&evs[i]);
  }
  write_file(name, &b);
  ll_buf_free(&b);
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: fuzz_make_corpus SCHEMA_DIR OUT_DIR\n");
    return 2;
  }
  out_dir = argv[2];
  ll_err err = {0};
  ll_codec *c = ll_codec_open(argv[1], NULL, &err);
  if (c == NULL) {
    fprintf(stderr, "fuzz_make_corpus: %s\n", err.message);
    return 1;
  }
  size_t n = 0;
  const fuzz_seed *seeds = fuzz_seed_events(&n);
  ll_buf b;
  ll_buf_init(&b);
  char name[256];
  for (size_t i = 0; i < n; i++) {
    ll_buf_reset(&b);
    encode_single(c, &seeds[i].event, &b);
    snprintf(name, sizeof name, "so-%s", seeds[i].name);
    write_file(name, &b);
    ll_buf_reset(&b);
    encode_confluent(c, &seeds[i].event, &b);
    snprintf(name, sizeof name, "cf-%s", seeds[i].name);
    write_file(name, &b);
  }

  ll_event seq[3];
  ev_created(&seq[0], "seq-1", "P1", "FZ-L4", "LOT-4", LL_TRACK_LOT);
  ev_moved(&seq[1], "seq-2", "P1", "FZ-L4", 5 * LL_MICRO, "Vendors",
           LL_USAGE_SUPPLIER, "WH/Stock", LL_USAGE_INTERNAL);
  ev_moved(&seq[2], "seq-3", "P1", "FZ-L4", 2 * LL_MICRO, "WH/Stock",
           LL_USAGE_INTERNAL, "Customers/C2", LL_USAGE_CUSTOMER);
  write_sequence(c, "seq-receive-deliver", seq, 3);
  ev_updated(&seq[0], "seq-4", "P1", "FZ-L1");
  ev_set(&seq[0].name, "LOT-1c");
  ev_moved(&seq[1], "seq-5", "P1", NULL, LL_MICRO, "WH/Stock",
           LL_USAGE_INTERNAL, "WH/Stock/Shelf-3", LL_USAGE_INTERNAL);
  ev_set(&seq[1].lot_name, "LOT-1c");
  write_sequence(c, "seq-rename-then-move-by-name", seq, 2);
  ev_created(&seq[0], "seq-6", "P5", "FZ-S5", "SN-5", LL_TRACK_SERIAL);
  ev_moved(&seq[1], "seq-7", "P5", "FZ-S5", LL_MICRO, "Vendors",
           LL_USAGE_SUPPLIER, "WH/Stock", LL_USAGE_INTERNAL);
  ev_moved(&seq[2], "seq-8", "P5", "FZ-S5", LL_MICRO, "Vendors",
           LL_USAGE_SUPPLIER, "WH/Stock", LL_USAGE_INTERNAL);
  write_sequence(c, "seq-serial-twice", seq, 3);

  ll_buf_reset(&b);
  ll_buf_put(&b, "not avro", 8);
  write_file("junk-text", &b);
  ll_buf_reset(&b);
  ll_buf_put(&b, "\xc3\x01\x01\x02\x03\x04\x05\x06\x07\x08\x02", 11);
  write_file("junk-unknown-fingerprint", &b);
  ll_buf_free(&b);
  ll_codec_close(c);
  printf("fuzz_make_corpus: %d file(s) in %s\n", written, out_dir);
  return 0;
}
