/* task_hashes.c — lotline_task_hashes: each task's last entry in a data
 * directory's log, one line per task:
 *
 *     <partition> <task position> <chain hash, hex> <clock ms>
 *
 * for partitions 0..P-1 (--partitions P). Two instances that hold a task
 * to the same position must print the same line for it, however each got
 * it (decided, restored from the changelog, or as a standby):
 * test_cluster_restore.py compares them. Opens the log as a secondary, so
 * it works beside a running lotlined too. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ll_store.h"

int main(int argc, char **argv) {
  if (argc != 5 || strcmp(argv[1], "--data") != 0 ||
      strcmp(argv[3], "--partitions") != 0) {
    fprintf(stderr, "usage: lotline_task_hashes --data DIR --partitions P\n");
    return 2;
  }
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/log", argv[2]);
  int partitions = atoi(argv[4]);
  ll_err e = {0};
  ll_store *s = ll_store_open(dir, LL_STORE_SECONDARY, &e);
  if (s == NULL) {
    fprintf(stderr, "lotline_task_hashes: %s: %s\n", ll_err_kind_name(e.kind),
            e.message);
    return 1;
  }
  for (int p = 0; p < partitions; p++) {
    ll_task_last t;
    char hex[2 * LL_ENTRY_HASH_BYTES + 1];
    ll_store_task_last(s, p, &t);
    ll_entry_hash_hex(t.hash, hex);
    printf("%d %llu %s %lld\n", p, (unsigned long long)t.position, hex,
           (long long)t.clock_ms);
  }
  ll_store_close(s);
  return 0;
}
