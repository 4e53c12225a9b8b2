/* test_admin_cli.c — `lotline verify`, `rebuild` and `backup` as an
 * operator runs them: the real binaries, real lotlined processes on temp
 * data directories, answers compared over HTTP.
 *
 *   backup while `lotlined all` runs: a second lotlined started on the
 *     backup serves the same answers, and its log verifies;
 *   with the service stopped: rebuild gives the same views byte for byte
 *     (views-dump), backup works, and verify names the position of one
 *     altered byte;
 *   split mode: refused with a clear reason while `lotlined command` runs,
 *     works once it is stopped (the views come from `lotlined project`). */
#include <errno.h>
#include <fcntl.h>
#include <rocksdb/c.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define START_TIMEOUT_MS 20000
/* Generous: graceful shutdown within 5 s is tested elsewhere; here a slow,
 * shared machine must not fail a backup test. */
#define STOP_TIMEOUT_MS 15000
#define CLI_TIMEOUT_MS 60000
#define N_LOTS 24
#define TAMPERED_POSITION 17

/* ---- running the CLI ---- */

typedef struct cli_run {
  int status; /* exit status; -1 when it had to be killed */
  char *out;  /* stdout, malloc'd */
  char *err;  /* stderr, malloc'd */
} cli_run;

static char *slurp(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f)
    return strdup("");
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *s = calloc(1, (size_t)n + 1);
  if (fread(s, 1, (size_t)n, f) != (size_t)n)
    s[0] = '\0';
  fclose(f);
  return s;
}

/* lotline args... (NULL-terminated), output captured in scratch files. */
static cli_run run_cli(const char *scratch, ...) {
  char bin[512], out_path[600], err_path[600];
  const char *argv[16];
  int argc = 0;
  argv[argc++] = h_bin("lotline", bin, sizeof bin);
  va_list ap;
  va_start(ap, scratch);
  const char *a;
  while ((a = va_arg(ap, const char *)) != NULL && argc < 15)
    argv[argc++] = a;
  va_end(ap);
  argv[argc] = NULL;
  snprintf(out_path, sizeof out_path, "%s/cli.out", scratch);
  snprintf(err_path, sizeof err_path, "%s/cli.err", scratch);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    int fo = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int fe = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fo, 1);
    dup2(fe, 2);
    execv(argv[0], (char *const *)argv);
    _exit(127);
  }
  cli_run r = {.status = -1};
  int status;
  for (int waited = 0; waited < CLI_TIMEOUT_MS; waited += 10) {
    if (waitpid(pid, &status, WNOHANG) == pid) {
      r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
      break;
    }
    struct timespec ts = {0, 10 * 1000000L};
    nanosleep(&ts, NULL);
  }
  if (r.status == -1) {
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
  }
  r.out = slurp(out_path);
  r.err = slurp(err_path);
  return r;
}

static void cli_run_free(cli_run *r) {
  free(r->out);
  free(r->err);
}

static void expect_status(const cli_run *r, int want, const char *what) {
  if (r->status != want)
    fail_msg("%s: exit %d, wanted %d\nstdout: %s\nstderr: %s", what, r->status,
             want, r->out, r->err);
}

/* ---- services ---- */

/* A lotlined all on a data directory; its log beside it (the directory
 * itself is what a backup copies). */
static h_all start_all(const char *dir) {
  char log[600];
  snprintf(log, sizeof log, "%s.lotlined.log", dir);
  return h_start_all(dir, log, NULL, START_TIMEOUT_MS);
}

static void stop_proc(h_proc *p, const char *what) {
  int rc = h_stop(p, STOP_TIMEOUT_MS);
  if (rc != 0) {
    h_dump_log(p);
    fail_msg("%s exited %d on SIGTERM", what, rc);
  }
}

static void stop_service(h_all *s) {
  int rc = h_stop_all(s, STOP_TIMEOUT_MS);
  if (rc != 0)
    fail_msg("lotlined all exited %d on SIGTERM", rc);
}

static void http_ok(const char *http, const char *method, const char *path,
                    const char *body, int want) {
  json_t *j = NULL;
  int st = h_http(method, http, path, body, NULL, &j);
  if (st != want) {
    char *text = j ? json_dumps(j, 0) : NULL;
    fail_msg("%s %s: %d (%s), wanted %d", method, path, st, text ? text : "-",
             want);
  }
  json_decref(j);
}

/* Lots of three products; receipts on four shelves, some deliveries, some
 * updates: every view has something to show. */
static void load(const char *http, const char *prefix) {
  char path[128], body[512];
  for (int i = 0; i < N_LOTS; i++) {
    snprintf(body, sizeof body,
             "{\"lot_id\":\"%s-L%02d\",\"product_id\":\"P-%d\",\"name\":"
             "\"%s-N%02d\",\"tracking\":\"LOT\"}",
             prefix, i, i % 3, prefix, i);
    http_ok(http, "POST", "/v1/lots", body, 201);
    snprintf(body, sizeof body,
             "{\"product_id\":\"P-%d\",\"lot_id\":\"%s-L%02d\",\"quantity\":"
             "\"%d.25\",\"from\":{\"id\":\"Vendors\",\"usage\":\"SUPPLIER\"},"
             "\"to\":{\"id\":\"WH/Stock/Shelf-%d\",\"usage\":\"INTERNAL\"}}",
             i % 3, prefix, i, 10 + i, i % 4);
    http_ok(http, "POST", "/v1/moves", body, 201);
    if (i % 2 == 0) {
      snprintf(body, sizeof body,
               "{\"product_id\":\"P-%d\",\"lot_id\":\"%s-L%02d\",\"quantity\":"
               "\"3\",\"from\":{\"id\":\"WH/Stock/Shelf-%d\",\"usage\":"
               "\"INTERNAL\"},\"to\":{\"id\":\"Customers\",\"usage\":"
               "\"CUSTOMER\"},\"reference\":\"SO-%d\"}",
               i % 3, prefix, i, i % 4, i);
      http_ok(http, "POST", "/v1/moves", body, 201);
    }
    if (i % 5 == 0) {
      snprintf(path, sizeof path, "/v1/lots/%s-L%02d", prefix, i);
      http_ok(http, "PATCH", path, "{\"reference\":\"PO-9\"}", 200);
    }
  }
}

static json_t *get(const char *http, const char *path) {
  json_t *j = NULL;
  int st = h_http("GET", http, path, NULL, NULL, &j);
  if (st != 200)
    fail_msg("GET %s: %d", path, st);
  return j;
}

/* Both services answer the same for every lot (details, all locations)
 * and for the list. min_position makes the second wait for its views. */
static void compare_answers(const char *http_a, const char *http_b,
                            const char *prefix, uint64_t min_position) {
  char path[160];
  for (int i = 0; i < N_LOTS; i++) {
    const char *forms[] = {"/v1/lots/%s-L%02d?min_position=%llu",
                           "/v1/lots/%s-L%02d/locations?all=1&min_position="
                           "%llu"};
    for (size_t k = 0; k < 2; k++) {
      snprintf(path, sizeof path, forms[k], prefix, i,
               (unsigned long long)min_position);
      json_t *a = get(http_a, path);
      json_t *b = get(http_b, path);
      if (!json_equal(a, b)) {
        char *ta = json_dumps(a, JSON_SORT_KEYS);
        char *tb = json_dumps(b, JSON_SORT_KEYS);
        fail_msg("GET %s differs:\n  %s\n  %s", path, ta, tb);
      }
      json_decref(a);
      json_decref(b);
    }
  }
  snprintf(path, sizeof path, "/v1/lots?limit=1000&min_position=%llu",
           (unsigned long long)min_position);
  json_t *a = get(http_a, path);
  json_t *b = get(http_b, path);
  assert_true(json_array_size(json_object_get(a, "lots")) >= N_LOTS);
  assert_true(json_equal(a, b));
  json_decref(a);
  json_decref(b);
}

static uint64_t json_u64(const char *text, const char *key) {
  json_error_t e;
  json_t *j = json_loads(text, 0, &e);
  if (!j)
    fail_msg("not JSON: %s", text);
  json_t *v = json_object_get(j, key);
  assert_true(json_is_integer(v));
  uint64_t n = (uint64_t)json_integer_value(v);
  json_decref(j);
  return n;
}

/* Flip one bit in the stored value of a log entry, behind the store's
 * back (the service is stopped). */
static void tamper(const char *data_dir, uint64_t position) {
  char dir[600];
  snprintf(dir, sizeof dir, "%s/log", data_dir);
  const char *names[6] = {"default", "log",        "state",
                          "offsets", "rejections", "journal"};
  rocksdb_options_t *o = rocksdb_options_create();
  const rocksdb_options_t *cf_opts[6] = {o, o, o, o, o, o};
  rocksdb_column_family_handle_t *cf[6];
  char *rerr = NULL;
  rocksdb_t *db =
      rocksdb_open_column_families(o, dir, 6, names, cf_opts, cf, &rerr);
  rocksdb_options_destroy(o);
  if (!db)
    fail_msg("raw open: %s", rerr);
  char key[8];
  for (int i = 0; i < 8; i++)
    key[i] = (char)(position >> (56 - 8 * i));
  rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
  rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
  size_t n = 0;
  char *v = rocksdb_get_cf(db, ro, cf[1], key, 8, &n, &rerr);
  assert_null(rerr);
  assert_non_null(v);
  v[n / 2] ^= 0x10;
  rocksdb_put_cf(db, wo, cf[1], key, 8, v, n, &rerr);
  assert_null(rerr);
  rocksdb_free(v);
  rocksdb_readoptions_destroy(ro);
  rocksdb_writeoptions_destroy(wo);
  for (int i = 0; i < 6; i++)
    rocksdb_column_family_handle_destroy(cf[i]);
  rocksdb_close(db);
}

/* ---- tests ---- */

static void test_backup_while_all_runs(void **state) {
  (void)state;
  char *root = h_tempdir("admin-online");
  char data[512], backup[512];
  snprintf(data, sizeof data, "%s/data", root);
  snprintf(backup, sizeof backup, "%s/backup", root);
  h_all a = start_all(data);
  load(a.http, "A");

  /* The endpoint itself: its own checks. */
  json_t *j = NULL;
  assert_int_equal(h_http("POST", a.http, "/v1/admin/backup", "{}", NULL, &j),
                   400);
  json_decref(j);
  assert_int_equal(h_http("POST", a.http, "/v1/admin/backup",
                          "{\"dir\":\"relative/dir\"}", NULL, &j),
                   422);
  json_decref(j);
  assert_int_equal(h_http("GET", a.http, "/v1/admin/backup", NULL, NULL, &j),
                   405);
  json_decref(j);

  cli_run r = run_cli(root, "backup", backup, "--data", data, "--json", NULL);
  expect_status(&r, 0, "backup while running");
  assert_non_null(strstr(r.out, "taken by the running lotlined"));
  uint64_t position = json_u64(r.out, "log_position");
  assert_true(position >= N_LOTS * 2);
  cli_run_free(&r);

  /* verify runs next to the live service, on the original and the copy */
  r = run_cli(root, "verify", "--data", data, NULL);
  expect_status(&r, 0, "verify while running");
  assert_non_null(strstr(r.out, "OK: "));
  cli_run_free(&r);
  r = run_cli(root, "verify", "--data", backup, "--json", NULL);
  expect_status(&r, 0, "verify the backup");
  assert_int_equal(json_u64(r.out, "entries"), position);
  cli_run_free(&r);

  /* rebuild refuses: the running service owns the views */
  r = run_cli(root, "rebuild", "--data", data, NULL);
  expect_status(&r, 1, "rebuild while running");
  assert_non_null(strstr(r.err, "stop it first"));
  cli_run_free(&r);

  char *body = NULL;
  assert_true(asprintf(&body, "{\"dir\":\"%s\"}", backup) > 0);
  assert_int_equal(h_http("POST", a.http, "/v1/admin/backup", body, NULL, &j),
                   422); /* already holds a backup */
  assert_string_equal(json_string_value(json_object_get(j, "code")),
                      "INVALID_FIELD");
  json_decref(j);
  free(body);

  h_all b = start_all(backup);
  assert_string_not_equal(a.http, b.http);
  compare_answers(a.http, b.http, "A", position);
  stop_service(&b);
  stop_service(&a);
  h_rmrf(root);
  free(root);
}

static void test_rebuild_verify_backup_stopped(void **state) {
  (void)state;
  char *root = h_tempdir("admin-offline");
  char data[512], backup[512];
  snprintf(data, sizeof data, "%s/data", root);
  snprintf(backup, sizeof backup, "%s/backup", root);
  h_all a = start_all(data);
  load(a.http, "S");
  json_t *lot_before = get(a.http, "/v1/lots/S-L04");
  /* views-dump reads a read-only view: fine next to the service */
  cli_run before = run_cli(root, "views-dump", "--data", data, NULL);
  expect_status(&before, 0, "views-dump");
  stop_service(&a);

  cli_run r = run_cli(root, "rebuild", "--data", data, NULL);
  expect_status(&r, 0, "rebuild");
  assert_non_null(strstr(r.out, "Rebuilt "));
  assert_non_null(strstr(r.out, "entries/s"));
  cli_run_free(&r);
  cli_run after = run_cli(root, "views-dump", "--data", data, NULL);
  expect_status(&after, 0, "views-dump after rebuild");
  assert_true(strlen(before.out) > 1000);
  assert_string_equal(before.out, after.out);
  cli_run_free(&before);
  cli_run_free(&after);
  /* The rebuilt views are what the service serves. */
  a = start_all(data);
  json_t *lot_rebuilt = get(a.http, "/v1/lots/S-L04");
  assert_true(json_equal(lot_before, lot_rebuilt));
  json_decref(lot_rebuilt);
  stop_service(&a);

  r = run_cli(root, "backup", backup, "--data", data, NULL);
  expect_status(&r, 0, "backup while stopped");
  assert_non_null(strstr(r.out, "service stopped"));
  cli_run_free(&r);
  r = run_cli(root, "backup", backup, "--data", data, NULL);
  expect_status(&r, 1, "backup into a used directory");
  assert_non_null(strstr(r.err, "already holds a backup"));
  cli_run_free(&r);

  /* One altered byte in the original: verify names its position. */
  tamper(data, TAMPERED_POSITION);
  r = run_cli(root, "verify", "--data", data, NULL);
  expect_status(&r, 1, "verify a tampered log");
  char want[64];
  snprintf(want, sizeof want, "BAD at position %d:", TAMPERED_POSITION);
  if (!strstr(r.out, want))
    fail_msg("verify said: %s / %s", r.out, r.err);
  assert_non_null(strstr(r.out, "hash mismatch"));
  snprintf(want, sizeof want, "damaged at position %d", TAMPERED_POSITION);
  assert_non_null(strstr(r.err, want));
  cli_run_free(&r);
  /* The backup is a copy, not a view of the same bytes. */
  r = run_cli(root, "verify", "--data", backup, NULL);
  expect_status(&r, 0, "verify the backup");
  cli_run_free(&r);

  h_all b = start_all(backup);
  json_t *lot_after = get(b.http, "/v1/lots/S-L04");
  assert_true(json_equal(lot_before, lot_after));
  json_decref(lot_before);
  json_decref(lot_after);
  stop_service(&b);
  h_rmrf(root);
  free(root);
}

static void test_backup_split_mode(void **state) {
  (void)state;
  char *root = h_tempdir("admin-split");
  char data[512], backup[512], log_b[600], log_c[600], log_p[600];
  char bin_b[512], bin_c[512], bin_p[512];
  snprintf(data, sizeof data, "%s/data", root);
  snprintf(backup, sizeof backup, "%s/backup", root);
  snprintf(log_b, sizeof log_b, "%s/broker.log", root);
  snprintf(log_c, sizeof log_c, "%s/command.log", root);
  snprintf(log_p, sizeof log_p, "%s/project.log", root);
  const char *argv_b[] = {h_bin("lotlined", bin_b, sizeof bin_b), "broker",
                          "--data", data, NULL};
  const char *argv_c[] = {h_bin("lotlined", bin_c, sizeof bin_c), "command",
                          "--data", data, NULL};
  const char *argv_p[] = {h_bin("lotlined", bin_p, sizeof bin_p),
                          "project",
                          "--data",
                          data,
                          "--http",
                          "127.0.0.1:0",
                          NULL};
  h_proc broker = h_spawn(log_b, argv_b);
  free(h_wait_file(data, "broker.addr", START_TIMEOUT_MS));
  h_proc command = h_spawn(log_c, argv_c);
  h_proc project = h_spawn(log_p, argv_p);
  char *http = h_wait_file(data, "http.addr", START_TIMEOUT_MS);
  if (!http) {
    h_dump_log(&project);
    fail_msg("lotlined project did not start");
  }
  load(http, "P");

  cli_run r = run_cli(root, "backup", backup, "--data", data, NULL);
  expect_status(&r, 1, "backup while lotlined command runs");
  assert_non_null(strstr(r.err, "LOG_NOT_OWNED"));
  assert_non_null(strstr(r.err, "stop lotlined command"));
  cli_run_free(&r);
  char part[600];
  snprintf(part, sizeof part, "%s/views", backup);
  assert_int_not_equal(access(part, F_OK), 0); /* nothing half-done */

  stop_proc(&command, "lotlined command");
  r = run_cli(root, "backup", backup, "--data", data, "--json", NULL);
  expect_status(&r, 0, "backup with lotlined command stopped");
  assert_non_null(strstr(r.out, "views by the running lotlined project"));
  uint64_t position = json_u64(r.out, "log_position");
  cli_run_free(&r);
  r = run_cli(root, "verify", "--data", backup, NULL);
  expect_status(&r, 0, "verify the split-mode backup");
  cli_run_free(&r);

  h_all b = start_all(backup);
  compare_answers(http, b.http, "P", position);
  stop_service(&b);
  stop_proc(&project, "lotlined project");
  stop_proc(&broker, "lotlined broker");
  free(http);
  h_rmrf(root);
  free(root);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_backup_while_all_runs),
      cmocka_unit_test(test_rebuild_verify_backup_stopped),
      cmocka_unit_test(test_backup_split_mode),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
