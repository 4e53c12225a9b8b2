/* bench_write.h — the benchmark's write-latency phase (bench_write.c). */
#ifndef BENCH_WRITE_H
#define BENCH_WRITE_H

#include <stdint.h>

/* Round trips of POST /v1/moves, each answered 201. */
typedef struct write_figures {
  int clients;
  int64_t writes;
  double p50_ms, p99_ms, max_ms;
  double writes_per_s;
} write_figures;

/* On a fresh `lotlined all` (its own embedded broker) in dir: one client
 * posting one_writes moves one after another, then many_clients posting
 * at once for many_seconds, then as many again with an Idempotency-Key on
 * each write (keyed). Exits the benchmark on any failure. */
void bench_write_latency(const char *bin, const char *dir, int one_writes,
                         int many_clients, int many_seconds, write_figures *one,
                         write_figures *many, write_figures *keyed);

#endif
