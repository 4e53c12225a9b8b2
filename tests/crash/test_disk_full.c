/* test_disk_full.c — the data directory fills up: the command consumer
 * stops without advancing offsets past what it wrote, says why and exits
 * non-zero; once there is room again a restart goes on with nothing lost
 * or doubled.
 *
 * The service's data directory is a small tmpfs (mount(2): needs root or
 * CAP_SYS_ADMIN; without it the test skips, saying why, and fails where
 * prerequisites are required: prereq.h) and crash_producer streams more
 * than it holds. Two ways to stop:
 *   1. the guard: with less than storage.min.free.mb free, `lotlined
 *      command` commits no further batch and exits 1 ("disk almost full");
 *   2. the write error: with the guard off (storage.min.free.mb=0) RocksDB
 *      itself fails to append to its WAL; the process exits 1 naming it
 *      ("No space left on device");
 *   3. the same on a disk without a free byte (a filler file): the open
 *      fails, and the process exits 1 naming it.
 * After each stop the rig records what the failed process left durable.
 * Then the tmpfs is remounted bigger and `lotlined all` finishes the
 * stream; the checks are those of the crash test (crash_check.h), both
 * snapshots included. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "crash_rig.h"
#include "ll_types.h"
#include "prereq.h"

#define TMPFS_SMALL "size=8m"
#define TMPFS_BIG "size=512m"
#define EVENTS 60000 /* well beyond what 8 MiB of WAL holds */
#define PRODUCTS 64
#define FAIL_TIMEOUT_MS 180000
#define PRODUCER_TIMEOUT_MS 300000
#define CONSUME_TIMEOUT_MS 300000
#define STOP_TIMEOUT_MS 5000
#define NO_SPACE "No space left on device"
#define GUARD_MB "2"
#define GUARD_REASON "disk almost full"
#define FILLER_BLOCK_BYTES 65536

static rig r;
static bool mounted;

static void unmount(void) {
  if (mounted && umount2(r.svc_dir, MNT_DETACH) != 0)
    fprintf(stderr, "umount %s: %s\n", r.svc_dir, strerror(errno));
  mounted = false;
}

static int teardown(void **state) {
  (void)state;
  if (r.svc.pid > 0)
    h_kill9(&r.svc);
  unmount();
  if (r.dir)
    rig_finish(&r, false);
  return 0;
}

/* Print the first line of the service's log that names the fault. */
static void show_reason(const char *reason) {
  FILE *f = fopen(r.svc.log_path, "r");
  char line[2048];
  while (f && fgets(line, sizeof line, f)) {
    if (strstr(line, reason)) {
      printf("the service said: %s", line);
      break;
    }
  }
  if (f)
    fclose(f);
}

/* Run `lotlined command` with one setting until it stops by itself: exit
 * status 1 and `reason` in its output. Then record what it left. */
static void run_until_stopped(const char *setting, const char *reason) {
  const char *extra[] = {"--set", setting, NULL};
  rig_start_service_with(&r, "command", extra);
  int status = rig_wait_service_exit(&r, FAIL_TIMEOUT_MS);
  if (status != 1 || !rig_log_contains(&r, reason)) {
    h_dump_log(&r.svc);
    fail_msg("with %s on a full disk the service should exit 1 naming "
             "'%s'; exit status %d",
             setting, reason, status);
  }
  show_reason(reason);
}

static char filler_path[4096];

/* Take every free byte of the tmpfs with one file. */
static void fill_disk(void) {
  snprintf(filler_path, sizeof filler_path, "%s/filler", r.svc_dir);
  int fd = open(filler_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0)
    fail_msg("create %s: %s", filler_path, strerror(errno));
  static const char block[FILLER_BLOCK_BYTES];
  size_t chunk = sizeof block;
  while (chunk > 0) {
    ssize_t n = write(fd, block, chunk);
    if (n < 0 && errno != ENOSPC)
      fail_msg("write %s: %s", filler_path, strerror(errno));
    if (n <= 0)
      chunk /= 2; /* the last bytes, in smaller writes */
  }
  close(fd);
  struct statvfs st;
  if (statvfs(r.svc_dir, &st) == 0)
    printf("filled the disk: %llu bytes free\n",
           (unsigned long long)st.f_bavail * st.f_frsize);
}

/* What the stopped process left durable (the log store needs a little
 * room for a read-only look: take it after a remount when full). */
static void record(const char *after) {
  rig_snapshot(&r);
  printf("after %s: %llu log entries, %llu rejections durable\n", after,
         (unsigned long long)r.snaps[r.n_snaps - 1].last_position,
         (unsigned long long)r.snaps[r.n_snaps - 1].last_rejection);
}

static void test_full_disk_stops_then_resumes(void **state) {
  (void)state;
  uint64_t seed = (uint64_t)time(NULL);
  rig_start(&r, "diskfull");
  if (mkdir(r.svc_dir, 0755) != 0)
    fail_msg("mkdir %s: %s", r.svc_dir, strerror(errno));
  /* A mount namespace of our own (and of the processes we start from now
   * on): the tmpfs goes away with them even if this test is killed. */
  if (unshare(CLONE_NEWNS) == 0)
    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
  if (mount("tmpfs", r.svc_dir, "tmpfs", 0, TMPFS_SMALL) != 0) {
    char why[1024];
    snprintf(why, sizeof why,
             "root or CAP_SYS_ADMIN, to mount a tmpfs (%s) at %s (%s)",
             TMPFS_SMALL, r.svc_dir, strerror(errno));
    rig_finish(&r, true);
    prereq_missing(why);
  }
  mounted = true;
  printf("disk full: seed %llu, %d events, data dir on a tmpfs (%s)\n",
         (unsigned long long)seed, EVENTS, TMPFS_SMALL);

  rig_start_producer(&r, seed, EVENTS, PRODUCTS, 0);

  /* 1. The guard stops the consumer while there is still room. */
  run_until_stopped("storage.min.free.mb=" GUARD_MB, GUARD_REASON);
  record("the guard");
  /* 2. No guard: RocksDB's write fails on the full disk. */
  run_until_stopped("storage.min.free.mb=0", NO_SPACE);
  /* 3. A start on a disk without a free byte: the open itself fails, and
   * says so (RocksDB must not abort on a second failed write of its own,
   * its info log's included). */
  fill_disk();
  run_until_stopped("storage.min.free.mb=0", NO_SPACE);
  unlink(filler_path);
  /* Clear the fault. */
  if (mount(NULL, r.svc_dir, NULL, MS_REMOUNT, TMPFS_BIG) != 0)
    fail_msg("remount %s: %s", r.svc_dir, strerror(errno));
  record("the write error");
  assert_true(r.snaps[1].last_position >= r.snaps[0].last_position);
  assert_int_equal(rig_wait_producer(&r, PRODUCER_TIMEOUT_MS), 0);
  cc_expect x;
  ll_err e;
  if (cc_expect_load(r.expect_path, &x, &e) != 0)
    fail_msg("expectations: %s: %s", ll_err_kind_name(e.kind), e.message);
  /* The faults must have come before the end, or this proves nothing. */
  assert_true(r.snaps[1].last_position < (uint64_t)x.accepted);

  rig_start_service(&r, "all");
  if (!rig_wait_consumed(&r, &x, CONSUME_TIMEOUT_MS) ||
      !rig_wait_views(&r, (uint64_t)x.accepted, CONSUME_TIMEOUT_MS)) {
    h_dump_log(&r.svc);
    fail_msg("after the remount the stream was not consumed to its end");
  }
  int status = h_stop(&r.svc, STOP_TIMEOUT_MS);
  if (status != 0)
    h_dump_log(&r.svc);
  assert_int_equal(status, 0);
  int bad = rig_verify(&r, &x, true);
  printf("disk full: %lld messages (%lld accepted, %lld rejected), %d "
         "mismatches, %.1f s in all\n",
         (long long)x.messages, (long long)x.accepted, (long long)x.rejected,
         bad, rig_elapsed_s(&r));
  cc_expect_free(&x);
  unmount();
  rig_finish(&r, bad == 0);
  assert_int_equal(bad, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_full_disk_stops_then_resumes, teardown),
  };
  return prereq_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
