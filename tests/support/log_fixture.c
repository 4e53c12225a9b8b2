/* log_fixture.c — see log_fixture.h. */
#include "log_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "support.h"

int log_fixture_setup(void **state) {
  log_fixture *f = calloc(1, sizeof *f);
  if (!f)
    return -1;
  f->root = ts_tempdir("log");
  snprintf(f->dir, sizeof f->dir, "%s/log", f->root);
  *state = f;
  return 0;
}

int log_fixture_teardown(void **state) {
  log_fixture *f = *state;
  ts_rmtree(f->root);
  free(f->root);
  free(f);
  return 0;
}

ll_store *log_open_ok(const char *dir, ll_store_mode mode) {
  ll_err err = {0};
  ll_store *s = ll_store_open(dir, mode, &err);
  if (!s)
    fail_msg("open %s: %s", dir, err.message);
  return s;
}

uint64_t log_reject_malformed(ll_store_batch *b, int32_t partition,
                              int64_t offset) {
  ll_stored_rejection r = {.code = LL_MALFORMED,
                           .message = "bad bytes",
                           .topic = "lots.inbound",
                           .partition = partition,
                           .offset = offset};
  return ll_store_batch_reject(b, &r);
}
