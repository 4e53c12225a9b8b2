/* log_fixture.h — what the log-store tests share: a fresh temp directory
 * per test (the store goes in <root>/log) and opening a store or failing
 * the test. */
#ifndef LOG_FIXTURE_H
#define LOG_FIXTURE_H

#include "ll_store.h"

typedef struct log_fixture {
  char *root;    /* ts_tempdir: removed at teardown */
  char dir[600]; /* <root>/log */
} log_fixture;

/* cmocka setup and teardown; *state is the log_fixture. */
int log_fixture_setup(void **state);
int log_fixture_teardown(void **state);

/* Open the store at dir, or fail the test with the store's message. */
ll_store *log_open_ok(const char *dir, ll_store_mode mode);

/* Reject the message at offset of lots.inbound's partition in b as
 * malformed ("bad bytes"); returns the rejection's sequence. */
uint64_t log_reject_malformed(ll_store_batch *b, int32_t partition,
                              int64_t offset);

#endif
