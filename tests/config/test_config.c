/* test_config.c — settings: their forms, their precedence, and lotlined's
 * refusal to start on a bad one.
 *
 * The first half drives ll_config directly. The second runs the lotlined
 * binary: `--print-config` shows the merged settings with where each came
 * from, which proves the precedence default < file < environment < flag;
 * every bad setting (unknown key, bad value, a kafka.* property librdkafka
 * refuses, a token or TLS file that does not fit) must exit 2 with a
 * message naming the key, before anything runs: the data directory is not
 * even created. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "ll_config.h"
#include "prereq.h"

#define RUN_TIMEOUT_MS 20000
#define OUTPUT_MAX_BYTES 65536

static char tmp[256];

static int setup(void **state) {
  (void)state;
  const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
  snprintf(tmp, sizeof tmp, "%s/ll-config-XXXXXX", base);
  return mkdtemp(tmp) != NULL ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
  return system(cmd) == 0 ? 0 : -1;
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

/* A path in the test's directory; each test asks for at most 16. */
static char *path_in_tmp(const char *name) {
  static char paths[16][512];
  static int next;
  char *p = paths[next++ % 16];
  snprintf(p, 512, "%s/%s", tmp, name);
  return p;
}

/* ---- ll_config itself ---- */

static void expect_set_fails(const char *key, const char *value,
                             const char *mention) {
  ll_config c;
  ll_config_init(&c);
  ll_err e = {0};
  if (ll_config_set(&c, key, value, &e) == 0)
    fail_msg("%s=%s was accepted", key, value);
  if (strstr(e.message, mention) == NULL)
    fail_msg("%s=%s: message does not name '%s': %s", key, value, mention,
             e.message);
  ll_config_free(&c);
}

static void expect_set_ok(const char *key, const char *value) {
  ll_config c;
  ll_config_init(&c);
  ll_err e = {0};
  if (ll_config_set(&c, key, value, &e) != 0)
    fail_msg("%s=%s refused: %s", key, value, e.message);
  assert_string_equal(ll_config_get(&c, key), value);
  ll_config_free(&c);
}

static void test_defaults(void **state) {
  (void)state;
  ll_config c;
  ll_config_init(&c);
  assert_string_equal(ll_config_get(&c, "http.listen"), "127.0.0.1:8080");
  assert_string_equal(ll_config_get(&c, "log.format"), "text");
  assert_false(ll_config_has(&c, "brokers"));
  assert_false(ll_config_has(&c, "http.token.write"));
  int64_t n = 0;
  ll_err e;
  assert_int_equal(ll_config_get_int(&c, "batch.max.events", &n, &e), 0);
  assert_int_equal(n, 5000);
  assert_false(ll_config_get_bool(&c, "rules.allow_expired_delivery"));
  assert_int_equal(ll_config_check(&c, &e), 0);
  ll_config_free(&c);
}

static void test_value_forms(void **state) {
  (void)state;
  expect_set_fails("bogus.key", "1", "'bogus.key'");
  expect_set_fails("kafka.", "1", "'kafka.'");
  expect_set_fails("batch.max.events", "abc", "'batch.max.events'");
  expect_set_fails("batch.max.events", "0", "from 1 to 100000");
  expect_set_fails("batch.max.events", "100001", "'batch.max.events'");
  expect_set_fails("batch.max.events", " 5", "'batch.max.events'");
  expect_set_fails("batch.max.ms", "-1", "'batch.max.ms'");
  expect_set_fails("write.timeout.ms", "6000", "'write.timeout.ms'");
  expect_set_fails("rules.allow_expired_delivery", "maybe",
                   "'rules.allow_expired_delivery'");
  expect_set_fails("log.level", "verbose", "debug, info, warn, error");
  expect_set_fails("log.format", "yaml", "'log.format'");
  expect_set_fails("http.listen", "8080", "'http.listen'");
  expect_set_fails("http.listen", "127.0.0.1:65536", "'http.listen'");
  expect_set_fails("http.listen", "::1:80", "'http.listen'");
  expect_set_fails("http.listen", ":80", "'http.listen'");
  expect_set_fails("metrics.listen", "127.0.0.1:x", "'metrics.listen'");
  expect_set_fails("brokers", "a:9092,,b:9092", "'brokers'");
  expect_set_fails("brokers", "a b:9092", "'brokers'");
  expect_set_fails("brokers", "a:99999", "'brokers'");
  expect_set_fails("topic.inbound", "lots inbound", "'topic.inbound'");
  expect_set_fails("topic.inbound", "", "'topic.inbound'");
  expect_set_fails("topic.events", "..", "'topic.events'");
  expect_set_fails("schema.registry.url", "registry:8081",
                   "'schema.registry.url'");
  expect_set_fails("data", "", "'data'");
  expect_set_fails("group.id", "a\nb", "'group.id'");

  expect_set_ok("http.listen", "[::1]:0");
  expect_set_ok("http.listen", "0.0.0.0:8443");
  expect_set_ok("brokers", "k1:9092,SSL://k2:9093,k3");
  expect_set_ok("brokers", ""); /* optional: the embedded broker */
  expect_set_ok("rules.allow_expired_delivery", "Yes");
  expect_set_ok("log.level", "DEBUG");
  expect_set_ok("schema.registry.url", "https://registry.example:8081");
  expect_set_ok("kafka.security.protocol", "sasl_ssl");
  expect_set_ok("kafka.anything.at.all", "librdkafka decides");
}

static void test_file_lines_and_env(void **state) {
  (void)state;
  char *path = path_in_tmp("unit.conf");
  write_file(path, "# comment\n"
                   "\n"
                   "  batch.max.events = 10  \n"
                   "kafka.client.id=lotline-test\n"
                   "batch.max.ms = soon\n");
  ll_config c;
  ll_config_init(&c);
  ll_err e = {0};
  assert_int_equal(ll_config_load_file(&c, path, &e), -1);
  assert_non_null(strstr(e.message, ":5:"));
  assert_non_null(strstr(e.message, "'batch.max.ms'"));
  assert_string_equal(ll_config_get(&c, "batch.max.events"), "10");
  assert_string_equal(ll_config_get(&c, "kafka.client.id"), "lotline-test");
  ll_config_free(&c);

  write_file(path, "just words\n");
  ll_config_init(&c);
  assert_int_equal(ll_config_load_file(&c, path, &e), -1);
  assert_non_null(strstr(e.message, "key=value"));
  ll_config_free(&c);

  setenv("LOTLINE_BATCH_MAX_EVENTS", "lots", 1);
  ll_config_init(&c);
  assert_int_equal(ll_config_load_env(&c, &e), -1);
  assert_non_null(strstr(e.message, "LOTLINE_BATCH_MAX_EVENTS"));
  assert_non_null(strstr(e.message, "'batch.max.events'"));
  ll_config_free(&c);
  setenv("LOTLINE_BATCH_MAX_EVENTS", "77", 1);
  ll_config_init(&c);
  assert_int_equal(ll_config_load_env(&c, &e), 0);
  assert_string_equal(ll_config_get(&c, "batch.max.events"), "77");
  ll_config_free(&c);
  unsetenv("LOTLINE_BATCH_MAX_EVENTS");
}

static void test_checks_across_keys(void **state) {
  (void)state;
  ll_config c;
  ll_err e = {0};
  char *token = path_in_tmp("token");
  write_file(token, "s3cret-token\n");

  ll_config_init(&c);
  assert_int_equal(ll_config_set(&c, "http.token.read", "r", &e), 0);
  assert_int_equal(ll_config_check(&c, &e), -1);
  assert_non_null(strstr(e.message, "'http.token.write'"));
  assert_int_equal(ll_config_set(&c, "http.token.write_file", token, &e), 0);
  assert_int_equal(ll_config_check(&c, &e), 0);
  char *secret = NULL;
  assert_int_equal(ll_config_get_secret(&c, "http.token.write", &secret, &e),
                   0);
  assert_string_equal(secret, "s3cret-token"); /* the newline is dropped */
  free(secret);
  assert_int_equal(ll_config_set(&c, "http.token.write", "w", &e), 0);
  assert_int_equal(ll_config_check(&c, &e), -1); /* both ways at once */
  assert_non_null(strstr(e.message, "'http.token.write_file'"));
  ll_config_free(&c);

  ll_config_init(&c);
  assert_int_equal(
      ll_config_set(&c, "http.token.write_file", path_in_tmp("missing"), &e),
      0);
  assert_int_equal(ll_config_check(&c, &e), -1);
  assert_non_null(strstr(e.message, "'http.token.write_file'"));
  ll_config_free(&c);

  ll_config_init(&c);
  assert_int_equal(ll_config_set(&c, "http.tls.cert", token, &e), 0);
  assert_int_equal(ll_config_check(&c, &e), -1);
  assert_non_null(strstr(e.message, "'http.tls.key'"));
  ll_config_free(&c);

  ll_config_init(&c);
  assert_int_equal(ll_config_set(&c, "schemas.dir", token, &e), 0);
  assert_int_equal(ll_config_check(&c, &e), -1);
  assert_non_null(strstr(e.message, "not a directory"));
  ll_config_free(&c);
}

/* ---- the lotlined binary ---- */

typedef struct run_result {
  int status; /* exit status, or -1 when killed */
  char out[OUTPUT_MAX_BYTES];
  char err[OUTPUT_MAX_BYTES];
} run_result;

static void read_all(const char *path, char *buf, size_t cap) {
  FILE *f = fopen(path, "r");
  size_t n = f != NULL ? fread(buf, 1, cap - 1, f) : 0;
  buf[n] = '\0';
  if (f != NULL)
    fclose(f);
}

/* Run lotlined with args; env is "NAME=value" strings added to ours. */
static run_result *run(const char *const *env, const char *const *args) {
  static run_result r;
  memset(&r, 0, sizeof r);
  char bin[512];
  snprintf(bin, sizeof bin, "%s/lotlined",
           getenv("LOTLINE_BIN") ? getenv("LOTLINE_BIN") : "build/bin");
  const char *argv[32] = {bin};
  size_t n = 1;
  for (size_t i = 0; args[i] != NULL && n < 31; i++)
    argv[n++] = args[i];
  argv[n] = NULL;
  char out[400], err[400];
  snprintf(out, sizeof out, "%s/stdout", tmp);
  snprintf(err, sizeof err, "%s/stderr", tmp);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    for (size_t i = 0; env != NULL && env[i] != NULL; i++)
      putenv((char *)env[i]);
    int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int fe = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fo, 1);
    dup2(fe, 2);
    execv(bin, (char *const *)argv);
    _exit(127);
  }
  int status = 0;
  for (int waited = 0;; waited += 10) {
    if (waitpid(pid, &status, WNOHANG) == pid)
      break;
    if (waited > RUN_TIMEOUT_MS) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      fail_msg("lotlined %s did not finish", args[0]);
    }
    struct timespec ts = {0, 10 * 1000000L};
    nanosleep(&ts, NULL);
  }
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  read_all(out, r.out, sizeof r.out);
  read_all(err, r.err, sizeof r.err);
  return &r;
}

static bool exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

/* Exit 2, one line on stderr naming `mention` and the kind CONFIG, the
 * data dir untouched. */
static void expect_refused(const char *const *env, const char *const *args,
                           const char *data, const char *mention) {
  run_result *r = run(env, args);
  if (r->status != 2 || strstr(r->err, mention) == NULL)
    fail_msg("want exit 2 naming %s, got %d: %s", mention, r->status, r->err);
  assert_non_null(strstr(r->err, "lotlined: "));
  assert_non_null(strstr(r->err, " (CONFIG)\n"));
  assert_non_null(strchr(r->err, '\n'));
  assert_string_equal(strchr(r->err, '\n'), "\n"); /* one line */
  if (data != NULL && exists(data))
    fail_msg("%s was created before the settings were checked", data);
}

static bool line_in(const char *text, const char *line) {
  size_t n = strlen(line);
  for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
    if ((p == text || p[-1] == '\n') && p[n] == '\n')
      return true;
  return false;
}

static void test_precedence(void **state) {
  (void)state;
  char *conf = path_in_tmp("prec.conf");
  write_file(conf, "http.listen = 127.0.0.1:1111\n"
                   "batch.max.events = 10\n"
                   "batch.max.ms = 7\n"
                   "group.id = file-group\n"
                   "log.level = warn\n"
                   "kafka.client.rack = rack-from-file\n");
  const char *env[] = {"LOTLINE_HTTP_LISTEN=127.0.0.1:2222",
                       "LOTLINE_BATCH_MAX_EVENTS=20", "LOTLINE_BATCH_MAX_MS=8",
                       NULL};
  const char *args[] = {"all",
                        "--config",
                        conf,
                        "--http",
                        "127.0.0.1:3333",
                        "--set",
                        "batch.max.ms=9",
                        "--set",
                        "http.token.write=very-secret",
                        "--print-config",
                        NULL};
  run_result *r = run(env, args);
  if (r->status != 0)
    fail_msg("exit %d: %s", r->status, r->err);
  const char *want[] = {
      "http.listen = 127.0.0.1:3333  # flag",       /* flag > env > file */
      "batch.max.ms = 9  # flag",                   /* --set > env > file */
      "batch.max.events = 20  # environment",       /* env > file */
      "group.id = file-group  # file",              /* file > default */
      "log.level = warn  # file",                   /* file > default */
      "topic.inbound = lots.inbound  # default",    /* default */
      "kafka.client.rack = rack-from-file  # file", /* passthrough */
      "http.token.write = (set)  # flag",           /* never printed */
  };
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
    if (!line_in(r->out, want[i]))
      fail_msg("missing line '%s' in:\n%s", want[i], r->out);
  assert_null(strstr(r->out, "very-secret"));
}

static void test_bad_settings_stop_the_start(void **state) {
  (void)state;
  char *data = path_in_tmp("never-created");
  char *conf = path_in_tmp("bad.conf");
  write_file(conf, "batch.max.events = 5\nbogus.key = 1\n");
  const char *unknown_in_file[] = {"all",      "--data", data,
                                   "--config", conf,     NULL};
  expect_refused(NULL, unknown_in_file, data, "'bogus.key'");
  expect_refused(NULL, unknown_in_file, data, ":2:");

  const char *unknown_flag[] = {"all",   "--data",       data,
                                "--set", "htp.listen=x", NULL};
  expect_refused(NULL, unknown_flag, data, "'htp.listen'");

  const char *bad_int[] = {
      "command", "--data", data, "--set", "batch.max.events=0", NULL};
  expect_refused(NULL, bad_int, data, "'batch.max.events'");

  const char *bad_http[] = {"all", "--data", data, "--http", "localhost", NULL};
  expect_refused(NULL, bad_http, data, "'http.listen'");

  const char *plain[] = {"all", "--data", data, NULL};
  const char *bad_env[] = {"LOTLINE_LOG_FORMAT=yaml", NULL};
  expect_refused(bad_env, plain, data, "LOTLINE_LOG_FORMAT");
  expect_refused(bad_env, plain, data, "'log.format'");

  const char *read_only_token[] = {
      "all", "--data", data, "--set", "http.token.read=r", NULL};
  expect_refused(NULL, read_only_token, data, "'http.token.write'");
}

static void test_kafka_settings_checked_by_librdkafka(void **state) {
  (void)state;
  char *data = path_in_tmp("never-created-kafka");
  const char *unknown[] = {
      "all", "--data", data, "--set", "kafka.no.such.property=1", NULL};
  expect_refused(NULL, unknown, data, "'kafka.no.such.property'");
  const char *bad_value[] = {
      "command", "--data", data, "--set", "kafka.socket.timeout.ms=soon", NULL};
  expect_refused(NULL, bad_value, data, "'kafka.socket.timeout.ms'");
  /* Only creating a client finds this one. */
  const char *missing_ca[] = {"all",
                              "--data",
                              data,
                              "--set",
                              "kafka.security.protocol=ssl",
                              "--set",
                              "kafka.ssl.ca.location=/nonexistent/ca.pem",
                              NULL};
  expect_refused(NULL, missing_ca, data, "ssl.ca.location");

  const char *good[] = {"all",
                        "--data",
                        data,
                        "--set",
                        "kafka.client.rack=r1",
                        "--set",
                        "kafka.sasl.password=hunter2",
                        "--print-config",
                        NULL};
  run_result *r = run(NULL, good);
  if (r->status != 0)
    fail_msg("exit %d: %s", r->status, r->err);
  assert_true(line_in(r->out, "kafka.client.rack = r1  # flag"));
  assert_true(line_in(r->out, "kafka.sasl.password = (set)  # flag"));
  assert_false(exists(data)); /* --print-config starts nothing */
}

static bool have_openssl(void) {
  return system("openssl version >/dev/null 2>&1") == 0;
}

static void make_cert(const char *name) {
  char cmd[1400];
  snprintf(cmd, sizeof cmd,
           "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "
           "/CN=127.0.0.1 -keyout '%s/%s.key' -out '%s/%s.crt' "
           ">/dev/null 2>&1",
           tmp, name, tmp, name);
  assert_int_equal(system(cmd), 0);
}

static void test_tls_files_checked(void **state) {
  (void)state;
  if (!have_openssl())
    prereq_missing("the openssl command (deploy/install-deps.sh installs it)");
  make_cert("a");
  make_cert("b");
  char *data = path_in_tmp("never-created-tls");
  char cert_a[600], key_a[600], key_b[600];
  snprintf(cert_a, sizeof cert_a, "http.tls.cert=%s/a.crt", tmp);
  snprintf(key_a, sizeof key_a, "http.tls.key=%s/a.key", tmp);
  snprintf(key_b, sizeof key_b, "http.tls.key=%s/b.key", tmp);
  const char *mismatch[] = {"all",  "--data", data,  "--set",
                            cert_a, "--set",  key_b, NULL};
  expect_refused(NULL, mismatch, data, "does not belong");
  const char *no_key[] = {"all", "--data", data, "--set", cert_a, NULL};
  expect_refused(NULL, no_key, data, "'http.tls.key'");
  char key_is_cert[600];
  snprintf(key_is_cert, sizeof key_is_cert, "http.tls.key=%s/a.crt", tmp);
  const char *not_a_key[] = {"all",  "--data", data,        "--set",
                             cert_a, "--set",  key_is_cert, NULL};
  expect_refused(NULL, not_a_key, data, "'http.tls.key'");
  const char *good[] = {"all", "--data",         data, "--set", cert_a, "--set",
                        key_a, "--print-config", NULL};
  run_result *r = run(NULL, good);
  if (r->status != 0)
    fail_msg("exit %d: %s", r->status, r->err);
}

/* ---- secure by default ---- */

static void test_loopback_addresses(void **state) {
  (void)state;
  static const char *const loopback[] = {"127.0.0.1:8080", "127.1.2.3:0",
                                         "[::1]:8080", "localhost:80",
                                         "LOCALHOST:1"};
  static const char *const open[] = {"0.0.0.0:8080",  "[::]:8080",
                                     "10.0.0.5:8080", "lotline.example:80",
                                     "128.0.0.1:80",  "[::ffff:10.0.0.1]:80"};
  for (size_t i = 0; i < sizeof loopback / sizeof *loopback; i++)
    if (!ll_config_is_loopback(loopback[i]))
      fail_msg("%s is loopback", loopback[i]);
  for (size_t i = 0; i < sizeof open / sizeof *open; i++)
    if (ll_config_is_loopback(open[i]))
      fail_msg("%s is not loopback", open[i]);
}

static void test_exposure_needs_a_write_token(void **state) {
  (void)state;
  ll_config c;
  ll_err e = {0};
  bool insecure = true;
  ll_config_init(&c);
  assert_int_equal(ll_config_check_exposure(&c, &insecure, &e), 0);
  assert_false(insecure); /* the default address is loopback */
  assert_int_equal(ll_config_set(&c, "http.listen", "0.0.0.0:8080", &e), 0);
  assert_int_equal(ll_config_check_exposure(&c, &insecure, &e), -1);
  assert_int_equal(e.kind, LL_ERR_CONFIG);
  assert_non_null(strstr(e.message, "'http.token.write'"));
  assert_non_null(strstr(e.message, "LOTLINE_HTTP_TOKEN_WRITE"));
  assert_non_null(strstr(e.message, "http.insecure = true"));
  assert_int_equal(ll_config_set(&c, "http.insecure", "true", &e), 0);
  assert_int_equal(ll_config_check_exposure(&c, &insecure, &e), 0);
  assert_true(insecure);
  assert_int_equal(ll_config_set(&c, "http.token.write", "w", &e), 0);
  assert_int_equal(ll_config_check_exposure(&c, &insecure, &e), 0);
  assert_false(insecure); /* a token: nothing to warn about */
  ll_config_free(&c);
}

static void test_open_api_refused_before_start(void **state) {
  (void)state;
  char *data = path_in_tmp("never-created-open");
  const char *open_all[] = {"all", "--data", data, "--http", "0.0.0.0:0", NULL};
  expect_refused(NULL, open_all, data, "LOTLINE_HTTP_TOKEN_WRITE");
  expect_refused(NULL, open_all, data, "http.insecure = true");
  const char *open_env[] = {"LOTLINE_HTTP_LISTEN=[::]:8080", NULL};
  const char *project[] = {"project", "--data", data, NULL};
  expect_refused(open_env, project, data, "'http.listen'");
  /* `command` serves no API: http.listen is not its business */
  const char *command[] = {"command",   "--data",         data, "--http",
                           "0.0.0.0:0", "--print-config", NULL};
  run_result *r = run(NULL, command);
  if (r->status != 0)
    fail_msg("command: exit %d: %s", r->status, r->err);
  const char *with_token[] = {"all",
                              "--data",
                              data,
                              "--http",
                              "0.0.0.0:0",
                              "--set",
                              "http.token.write=t",
                              "--print-config",
                              NULL};
  r = run(NULL, with_token);
  if (r->status != 0)
    fail_msg("with a token: exit %d: %s", r->status, r->err);
}

/* ---- the environment ---- */

static void test_unknown_environment_refused(void **state) {
  (void)state;
  char *data = path_in_tmp("never-created-env");
  const char *plain[] = {"all", "--data", data, NULL};
  const char *typo[] = {"LOTLINE_HTTP_LISTN=0.0.0.0:80", NULL};
  expect_refused(typo, plain, data, "LOTLINE_HTTP_LISTN is not a setting");
  expect_refused(typo, plain, data, "did you mean LOTLINE_HTTP_LISTEN?");
  const char *far[] = {"LOTLINE_COLOUR=blue", NULL};
  expect_refused(far, plain, data, "LOTLINE_COLOUR");
  const char *kafka[] = {"LOTLINE_KAFKA_CLIENT_ID=x", NULL};
  expect_refused(kafka, plain, data, "--set");

  /* what the CLI and the test harnesses set is not a setting, and known */
  const char *others[] = {"LOTLINE_API=http://127.0.0.1:1",
                          "LOTLINE_TOKEN=t",
                          "LOTLINE_CACERT=/nonexistent",
                          "LOTLINE_BIN=/nonexistent",
                          "LOTLINE_SCHEMAS=/nonexistent",
                          "LOTLINE_SOURCE=/nonexistent",
                          "LOTLINE_SEED=1",
                          "LOTLINE_TEST_ANYTHING=1",
                          "LOTLINE_CRASH_EVENTS=1",
                          NULL};
  const char *print[] = {"all", "--data", data, "--print-config", NULL};
  run_result *r = run(others, print);
  if (r->status != 0)
    fail_msg("exit %d: %s", r->status, r->err);
  const char *prefix_only[] = {"LOTLINE_TEST_=1", NULL};
  expect_refused(prefix_only, plain, data, "LOTLINE_TEST_");
}

static void test_print_config_without_mode(void **state) {
  (void)state;
  const char *env[] = {"LOTLINE_LOG_LEVEL=warn", NULL};
  const char *args[] = {"--print-config", "--set", "batch.max.ms=3", NULL};
  run_result *r = run(env, args);
  if (r->status != 0)
    fail_msg("exit %d: %s", r->status, r->err);
  assert_true(line_in(r->out, "batch.max.ms = 3  # flag"));
  assert_true(line_in(r->out, "log.level = warn  # environment"));
  assert_true(line_in(r->out, "http.insecure = false  # default"));
  const char *no_mode[] = {"--data", "x", NULL};
  r = run(NULL, no_mode);
  assert_int_equal(r->status, 2);
  assert_non_null(strstr(r->err, "missing MODE"));
}

/* A runtime failure exits 1 and says what failed and its kind. */
static void test_runtime_failure_shows_its_kind(void **state) {
  (void)state;
  const char *args[] = {"all", "--data", "/proc/lotline-no-such/data", NULL};
  run_result *r = run(NULL, args);
  if (r->status != 1 || strstr(r->err, "cannot create") == NULL ||
      strstr(r->err, " (IO)\n") == NULL)
    fail_msg("want exit 1, 'cannot create ... (IO)', got %d: %s", r->status,
             r->err);
}

static void test_help_lists_every_key(void **state) {
  (void)state;
  const char *args[] = {"--help", NULL};
  run_result *r = run(NULL, args);
  assert_int_equal(r->status, 0);
  static const char *const keys[] = {"http.token.read", "http.token.write_file",
                                     "http.tls.cert",   "metrics.listen",
                                     "ready.lag.max",   "log.format",
                                     "http.insecure",   "kafka.<property>",
                                     "--print-config",  "--log-format",
                                     "/readyz"};
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
    if (strstr(r->out, keys[i]) == NULL)
      fail_msg("--help does not mention %s", keys[i]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_defaults),
      cmocka_unit_test(test_value_forms),
      cmocka_unit_test(test_file_lines_and_env),
      cmocka_unit_test(test_checks_across_keys),
      cmocka_unit_test(test_precedence),
      cmocka_unit_test(test_bad_settings_stop_the_start),
      cmocka_unit_test(test_kafka_settings_checked_by_librdkafka),
      cmocka_unit_test(test_tls_files_checked),
      cmocka_unit_test(test_loopback_addresses),
      cmocka_unit_test(test_exposure_needs_a_write_token),
      cmocka_unit_test(test_open_api_refused_before_start),
      cmocka_unit_test(test_unknown_environment_refused),
      cmocka_unit_test(test_print_config_without_mode),
      cmocka_unit_test(test_runtime_failure_shows_its_kind),
      cmocka_unit_test(test_help_lists_every_key),
  };
  return prereq_exit(cmocka_run_group_tests(tests, setup, teardown));
}
