/* test_secure_start.c — a lotlined configured the way production would
 * be: HTTPS from http.tls.cert/key, tokens from files, JSON logs, all from
 * a --config file; then reached the way people reach it, with curl-like
 * requests and with the lotline CLI (LOTLINE_TOKEN, LOTLINE_CACERT).
 * And secure by default: an http.listen beyond loopback without a write
 * token is refused (exit 2, saying how to set one), starts with a token,
 * starts with a warning under http.insecure = true; loopback needs none.
 *
 * Needs the `openssl` command (deploy/install-deps.sh installs it) to make
 * a self-signed certificate for 127.0.0.1. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "prereq.h"

#define START_TIMEOUT_MS 20000
#define STOP_TIMEOUT_MS 5000
#define READ_TOKEN "r-3f9a0c"
#define WRITE_TOKEN "w-81d2e7"

static char *write_text(const char *dir, const char *name, const char *text) {
  char *path = malloc(strlen(dir) + strlen(name) + 2);
  sprintf(path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
  return path;
}

static size_t discard(char *p, size_t size, size_t n, void *arg) {
  (void)p;
  (void)arg;
  return size * n;
}

/* Status of one request to url (https verified against cafile). */
static long status_of(const char *method, const char *url, const char *cafile,
                      const char *token, const char *body) {
  CURL *c = curl_easy_init();
  struct curl_slist *h = NULL;
  char auth[200];
  if (token != NULL) {
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    h = curl_slist_append(h, auth);
  }
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_CAINFO, cafile);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 15000L);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  if (body != NULL)
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
  long status = -1;
  if (curl_easy_perform(c) == CURLE_OK)
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
  return status;
}

/* Run the lotline CLI with extra environment; its exit status. */
static int run_cli(const char *const env[], const char *const argv[],
                   const char *out_path) {
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    for (size_t i = 0; env[i] != NULL; i++)
      putenv((char *)env[i]);
    FILE *f = freopen(out_path, "w", stdout);
    if (f == NULL || dup2(fileno(stdout), 2) < 0)
      _exit(126);
    execv(argv[0], (char *const *)argv);
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static bool file_has(const char *path, const char *text) {
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return false;
  enum { MAX = 4 << 20 };
  char *buf = malloc(MAX + 1);
  size_t n = fread(buf, 1, MAX, f);
  buf[n] = '\0';
  fclose(f);
  bool found = strstr(buf, text) != NULL;
  free(buf);
  return found;
}

static void test_https_tokens_and_cli(void **state) {
  (void)state;
  if (system("openssl version >/dev/null 2>&1") != 0)
    prereq_missing("the openssl command (deploy/install-deps.sh installs it)");
  char *dir = h_tempdir("secure");
  char *data = malloc(strlen(dir) + 8);
  sprintf(data, "%s/data", dir);
  char cmd[2000];
  snprintf(cmd, sizeof cmd,
           "openssl req -x509 -newkey rsa:2048 -nodes -days 2 "
           "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 "
           "-keyout '%s/api.key' -out '%s/api.crt' >/dev/null 2>&1",
           dir, dir);
  assert_int_equal(system(cmd), 0);
  char *read_file = write_text(dir, "read.token", READ_TOKEN "\n");
  char *write_file = write_text(dir, "write.token", WRITE_TOKEN "\n");
  char conf_text[4096];
  snprintf(conf_text, sizeof conf_text,
           "# production-like settings\n"
           "http.listen = 127.0.0.1:0\n"
           "http.tls.cert = %s/api.crt\n"
           "http.tls.key = %s/api.key\n"
           "http.token.read_file = %s\n"
           "http.token.write_file = %s\n"
           "log.format = json\n",
           dir, dir, read_file, write_file);
  char *conf = write_text(dir, "lotline.conf", conf_text);
  char ca[600], log[600], bin[512], cli_bin[512];
  snprintf(ca, sizeof ca, "%s/api.crt", dir);
  snprintf(log, sizeof log, "%s/lotlined.log", dir);
  const char *argv[] = {h_bin("lotlined", bin, sizeof bin),
                        "all",
                        "--data",
                        data,
                        "--config",
                        conf,
                        NULL};
  h_proc p = h_spawn(log, argv);
  char *addr = h_wait_file(data, "http.addr", START_TIMEOUT_MS);
  if (addr == NULL) {
    h_dump_log(&p);
    fail_msg("lotlined did not start");
  }
  /* http.addr says HTTPS, so the CLI and scripts know */
  assert_int_equal(strncmp(addr, "https://127.0.0.1:", 18), 0);
  char url[700];
  snprintf(url, sizeof url, "%s/healthz", addr);
  assert_int_equal(status_of("GET", url, ca, NULL, NULL), 200);
  snprintf(url, sizeof url, "%s/v1/lots", addr);
  assert_int_equal(status_of("GET", url, ca, NULL, NULL), 401);
  assert_int_equal(status_of("GET", url, ca, READ_TOKEN, NULL), 200);
  assert_int_equal(status_of("POST", url, ca, READ_TOKEN, "{}"), 403);
  snprintf(url, sizeof url, "%s/metrics", addr);
  assert_int_equal(status_of("GET", url, ca, READ_TOKEN, NULL), 200);

  /* The CLI: a write with the write token, a read with the read token. */
  char out[600];
  snprintf(out, sizeof out, "%s/cli.out", dir);
  char env_ca[700], env_w[100], env_r[100];
  snprintf(env_ca, sizeof env_ca, "LOTLINE_CACERT=%s", ca);
  snprintf(env_w, sizeof env_w, "LOTLINE_TOKEN=%s", WRITE_TOKEN);
  snprintf(env_r, sizeof env_r, "LOTLINE_TOKEN=%s", READ_TOKEN);
  const char *create[] = {h_bin("lotline", cli_bin, sizeof cli_bin),
                          "--data",
                          data,
                          "create",
                          "--product",
                          "P-1",
                          "--lot-id",
                          "SEC-1",
                          "--name",
                          "0001",
                          NULL};
  const char *env_write[] = {env_ca, env_w, NULL};
  int rc = run_cli(env_write, create, out);
  if (rc != 0) {
    h_dump_log(&p);
    fail_msg("lotline create: exit %d", rc);
  }
  const char *show[] = {cli_bin, "--data", data, "show", "SEC-1", NULL};
  const char *env_read[] = {env_ca, env_r, NULL};
  assert_int_equal(run_cli(env_read, show, out), 0);
  assert_true(file_has(out, "SEC-1"));
  /* the read token cannot write; no token cannot read */
  const char *create2[] = {cli_bin,     "--data", data,       "create",
                           "--product", "P-1",    "--lot-id", "SEC-2",
                           "--name",    "0002",   NULL};
  assert_int_equal(run_cli(env_read, create2, out), 1);
  assert_true(file_has(out, "FORBIDDEN"));
  const char *env_none[] = {env_ca, NULL};
  assert_int_equal(run_cli(env_none, show, out), 1);
  assert_true(file_has(out, "UNAUTHORIZED"));

  int stop_rc = h_stop(&p, STOP_TIMEOUT_MS);
  if (stop_rc != 0)
    h_dump_log(&p);
  assert_int_equal(stop_rc, 0);
  /* the tokens never reach the log */
  assert_false(file_has(log, READ_TOKEN));
  assert_false(file_has(log, WRITE_TOKEN));
  assert_true(file_has(log, "\"level\":\"info\""));
  free(addr);
  free(conf);
  free(read_file);
  free(write_file);
  free(data);
  h_rmrf(dir);
  free(dir);
}

/* ---- secure by default: who may start with which http.listen ---- */

#define ALL_ARGV_MAX 16

/* argv of `lotlined all --data data [extra...]`, NULL-terminated. */
static void all_argv(const char *argv[ALL_ARGV_MAX], char *bin, size_t bin_size,
                     const char *data, const char *const extra[]) {
  size_t n = 0;
  argv[n++] = h_bin("lotlined", bin, bin_size);
  argv[n++] = "all";
  argv[n++] = "--data";
  argv[n++] = data;
  for (size_t i = 0; extra[i] != NULL && n < ALL_ARGV_MAX - 1; i++)
    argv[n++] = extra[i];
  argv[n] = NULL;
}

/* Start `lotlined all` with extra args; true when it serves its API
 * (http.addr written) and stops cleanly on SIGTERM. log: its output. */
static bool starts(const char *dir, const char *tag, const char *const extra[],
                   char *log, size_t log_size) {
  char data[600], bin[512];
  snprintf(data, sizeof data, "%s/%s", dir, tag);
  snprintf(log, log_size, "%s/%s.log", dir, tag);
  const char *argv[ALL_ARGV_MAX];
  all_argv(argv, bin, sizeof bin, data, extra);
  h_proc p = h_spawn(log, argv);
  char *addr = h_wait_file(data, "http.addr", START_TIMEOUT_MS);
  int rc = h_stop(&p, STOP_TIMEOUT_MS);
  if (addr == NULL || rc != 0)
    h_dump_log(&p);
  free(addr);
  return addr != NULL && rc == 0;
}

/* Run `lotlined all` on <dir>/data with extra args, expecting it to refuse
 * to start: exit 2, and nothing created. log: its output. */
static void refuses(const char *dir, const char *const extra[], char *log,
                    size_t log_size) {
  char data[600], bin[512];
  snprintf(data, sizeof data, "%s/data", dir);
  snprintf(log, log_size, "%s/refused.log", dir);
  const char *argv[ALL_ARGV_MAX];
  all_argv(argv, bin, sizeof bin, data, extra);
  h_proc p = h_spawn(log, argv);
  int status = 0;
  assert_int_equal(waitpid(p.pid, &status, 0), p.pid);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 2);
  assert_int_equal(access(data, F_OK), -1); /* nothing was started */
}

static void test_open_address_without_token_refused(void **state) {
  (void)state;
  char *dir = h_tempdir("open");
  char log[700];
  const char *extra[] = {"--http", "0.0.0.0:0", NULL};
  refuses(dir, extra, log, sizeof log);
  /* the message says how to fix it: the key, its variable, the way out */
  assert_true(file_has(log, "'http.listen'"));
  assert_true(file_has(log, "'http.token.write'"));
  assert_true(file_has(log, "LOTLINE_HTTP_TOKEN_WRITE"));
  assert_true(file_has(log, "http.insecure = true"));
  h_rmrf(dir);
  free(dir);
}

/* The cluster listener beyond loopback, the API on it: refused too. */
static void test_open_cluster_listener_without_token_refused(void **state) {
  (void)state;
  char *dir = h_tempdir("open_cluster");
  char log[700];
  const char *extra[] = {"--http", "127.0.0.1:0", "--set",
                         "cluster.listen=0.0.0.0:0", NULL};
  refuses(dir, extra, log, sizeof log);
  assert_true(file_has(log, "'cluster.listen' is 0.0.0.0:0"));
  assert_true(file_has(log, "'http.token.write'"));
  h_rmrf(dir);
  free(dir);
}

static void test_open_address_with_token_starts(void **state) {
  (void)state;
  char *dir = h_tempdir("token");
  char *token_file = write_text(dir, "write.token", WRITE_TOKEN "\n");
  char set_token[700], log[700];
  snprintf(set_token, sizeof set_token, "http.token.write_file=%s", token_file);
  const char *extra[] = {"--http", "0.0.0.0:0", "--set", set_token, NULL};
  assert_true(starts(dir, "token", extra, log, sizeof log));
  assert_false(file_has(log, "http.insecure"));
  free(token_file);
  h_rmrf(dir);
  free(dir);
}

static void test_open_address_insecure_starts_with_warning(void **state) {
  (void)state;
  char *dir = h_tempdir("insecure");
  char log[700];
  const char *extra[] = {"--http", "0.0.0.0:0", "--set", "http.insecure=true",
                         NULL};
  assert_true(starts(dir, "insecure", extra, log, sizeof log));
  assert_true(file_has(log, "WARN"));
  assert_true(file_has(log, "http.insecure = true: the API on 0.0.0.0:0 "
                            "takes writes from anyone"));
  h_rmrf(dir);
  free(dir);
}

static void test_loopback_without_token_starts(void **state) {
  (void)state;
  char *dir = h_tempdir("loopback");
  char log[700];
  const char *extra[] = {"--http", "127.0.0.1:0", NULL};
  assert_true(starts(dir, "loopback", extra, log, sizeof log));
  assert_false(file_has(log, "http.insecure"));
  h_rmrf(dir);
  free(dir);
}

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_https_tokens_and_cli),
      cmocka_unit_test(test_open_address_without_token_refused),
      cmocka_unit_test(test_open_cluster_listener_without_token_refused),
      cmocka_unit_test(test_open_address_with_token_starts),
      cmocka_unit_test(test_open_address_insecure_starts_with_warning),
      cmocka_unit_test(test_loopback_without_token_starts),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  curl_global_cleanup();
  return prereq_exit(rc);
}
