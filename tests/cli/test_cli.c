/* test_cli.c — the lotline CLI as its users see it.
 *
 * Each test runs the real binary ($LOTLINE_BIN/lotline) and checks its exit
 * status, stdout and stderr. Commands that talk to the API are pointed at a
 * fake HTTP server on 127.0.0.1:0, a thread in this process that answers
 * every request with the canned status and body the test chose and records
 * what it received, so a test can check both what the CLI sent (method,
 * path, headers, JSON body) and how it printed the answer. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#define REQUEST_MAX_BYTES (256 * 1024)
#define ANSWER_MAX_BYTES (64 * 1024)
#define ARGS_MAX 40
#define CLI_TIMEOUT_MS "5000"

/* ---- the fake API ---- */

typedef struct fake_api {
  int listen_fd;
  int port;
  char url[64];
  pthread_t thread;
  pthread_mutex_t mu;
  bool stop;
  /* The canned answer. */
  int status;
  char answer[ANSWER_MAX_BYTES];
  /* The last request. */
  int requests;
  char method[16];
  char target[4096];
  char headers[16384];
  char *body; /* NUL-terminated, malloc'd */
} fake_api;

static fake_api api;

static void fake_answer(int status, const char *body) {
  pthread_mutex_lock(&api.mu);
  api.status = status;
  snprintf(api.answer, sizeof api.answer, "%s", body);
  pthread_mutex_unlock(&api.mu);
}

static size_t content_length(const char *headers) {
  const char *p = strcasestr(headers, "\r\ncontent-length:");
  return p ? strtoul(p + strlen("\r\ncontent-length:"), NULL, 10) : 0;
}

static void serve_one(int fd) {
  char *buf = malloc(REQUEST_MAX_BYTES + 1);
  size_t len = 0;
  char *end = NULL;
  while (len < REQUEST_MAX_BYTES) {
    ssize_t n = read(fd, buf + len, REQUEST_MAX_BYTES - len);
    if (n <= 0) {
      break;
    }
    len += (size_t)n;
    buf[len] = '\0';
    end = strstr(buf, "\r\n\r\n");
    if (end != NULL) {
      size_t want = (size_t)(end + 4 - buf) + content_length(buf);
      if (len >= want) {
        break;
      }
    }
  }
  buf[len] = '\0';
  pthread_mutex_lock(&api.mu);
  api.requests++;
  api.method[0] = api.target[0] = api.headers[0] = '\0';
  free(api.body);
  api.body = NULL;
  if (end != NULL) {
    *end = '\0';
    sscanf(buf, "%15s %4095s", api.method, api.target);
    snprintf(api.headers, sizeof api.headers, "%s\r\n", buf);
    api.body = strdup(end + 4);
  }
  char head[256];
  int body_len = (int)strlen(api.answer);
  int head_len = snprintf(head, sizeof head,
                          "HTTP/1.1 %d Canned\r\n"
                          "Content-Type: application/json\r\n"
                          "Content-Length: %d\r\n"
                          "Connection: close\r\n\r\n",
                          api.status, body_len);
  ssize_t w1 = write(fd, head, (size_t)head_len);
  ssize_t w2 = write(fd, api.answer, (size_t)body_len);
  pthread_mutex_unlock(&api.mu);
  (void)w1;
  (void)w2;
  free(buf);
}

static void *serve(void *arg) {
  (void)arg;
  for (;;) {
    pthread_mutex_lock(&api.mu);
    bool stop = api.stop;
    pthread_mutex_unlock(&api.mu);
    if (stop) {
      return NULL;
    }
    struct pollfd p = {.fd = api.listen_fd, .events = POLLIN};
    if (poll(&p, 1, 50) <= 0) {
      continue;
    }
    int fd = accept(api.listen_fd, NULL, NULL);
    if (fd >= 0) {
      serve_one(fd);
      close(fd);
    }
  }
}

/* A loopback port nothing listens on. */
static int closed_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t alen = sizeof a;
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
  close(fd);
  return ntohs(a.sin_port);
}

static int start_api(void **state) {
  (void)state;
  unsetenv("LOTLINE_API"); /* the children must use what the tests say */
  pthread_mutex_init(&api.mu, NULL);
  api.listen_fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t alen = sizeof a;
  if (api.listen_fd < 0 ||
      bind(api.listen_fd, (struct sockaddr *)&a, sizeof a) != 0 ||
      listen(api.listen_fd, 16) != 0 ||
      getsockname(api.listen_fd, (struct sockaddr *)&a, &alen) != 0) {
    return -1;
  }
  api.port = ntohs(a.sin_port);
  snprintf(api.url, sizeof api.url, "http://127.0.0.1:%d", api.port);
  return pthread_create(&api.thread, NULL, serve, NULL) == 0 ? 0 : -1;
}

static int stop_api(void **state) {
  (void)state;
  pthread_mutex_lock(&api.mu);
  api.stop = true;
  pthread_mutex_unlock(&api.mu);
  pthread_join(api.thread, NULL);
  close(api.listen_fd);
  free(api.body);
  return 0;
}

static int requests_seen(void) {
  pthread_mutex_lock(&api.mu);
  int n = api.requests;
  pthread_mutex_unlock(&api.mu);
  return n;
}

/* The last request's body as JSON (the caller decrefs). */
static json_t *sent_json(void) {
  pthread_mutex_lock(&api.mu);
  json_error_t err;
  json_t *j = api.body ? json_loads(api.body, 0, &err) : NULL;
  pthread_mutex_unlock(&api.mu);
  assert_non_null(j);
  return j;
}

/* ---- running the binary ---- */

typedef struct run_result {
  int status; /* exit status, or -1 if killed */
  char *out;
  char *err;
} run_result;

static void run_result_free(run_result *r) {
  free(r->out);
  free(r->err);
}

static void drain(int fds[2], char *bufs[2]) {
  size_t lens[2] = {0, 0}, caps[2] = {0, 0};
  struct pollfd p[2] = {{.fd = fds[0], .events = POLLIN},
                        {.fd = fds[1], .events = POLLIN}};
  int open_fds = 2;
  for (int i = 0; i < 2; i++) {
    caps[i] = 4096;
    bufs[i] = malloc(caps[i]);
    bufs[i][0] = '\0';
  }
  while (open_fds > 0) {
    if (poll(p, 2, -1) < 0 && errno != EINTR) {
      break;
    }
    for (int i = 0; i < 2; i++) {
      if (p[i].fd < 0 || p[i].revents == 0) {
        continue;
      }
      if (lens[i] + 2048 > caps[i]) {
        caps[i] *= 2;
        bufs[i] = realloc(bufs[i], caps[i]);
      }
      ssize_t n = read(p[i].fd, bufs[i] + lens[i], caps[i] - lens[i] - 1);
      if (n <= 0) {
        close(p[i].fd);
        p[i].fd = -1;
        open_fds--;
        continue;
      }
      lens[i] += (size_t)n;
      bufs[i][lens[i]] = '\0';
    }
  }
}

/* Run lotline with argv (NULL-terminated). */
static run_result run_argv(char **args) {
  const char *dir = getenv("LOTLINE_BIN");
  if (dir == NULL) {
    fail_msg("LOTLINE_BIN is not set: run this test through ctest");
  }
  char bin[1024];
  snprintf(bin, sizeof bin, "%s/lotline", dir);
  int out_pipe[2], err_pipe[2];
  assert_int_equal(pipe(out_pipe), 0);
  assert_int_equal(pipe(err_pipe), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    dup2(out_pipe[1], STDOUT_FILENO);
    dup2(err_pipe[1], STDERR_FILENO);
    close(out_pipe[0]);
    close(err_pipe[0]);
    close(out_pipe[1]);
    close(err_pipe[1]);
    args[0] = bin;
    execv(bin, args);
    fprintf(stderr, "exec %s: %s\n", bin, strerror(errno));
    _exit(127);
  }
  close(out_pipe[1]);
  close(err_pipe[1]);
  run_result r = {0};
  int fds[2] = {out_pipe[0], err_pipe[0]};
  char *bufs[2];
  drain(fds, bufs);
  r.out = bufs[0];
  r.err = bufs[1];
  int wstatus = 0;
  assert_int_equal(waitpid(pid, &wstatus, 0), pid);
  r.status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1;
  return r;
}

/* lotline ARGS... (no API options added) */
static run_result run_cli(const char *first, ...) {
  char *args[ARGS_MAX];
  int n = 0;
  args[n++] = "lotline";
  va_list ap;
  va_start(ap, first);
  for (const char *a = first; a != NULL; a = va_arg(ap, const char *)) {
    assert_true(n < ARGS_MAX - 1);
    args[n++] = (char *)a;
  }
  va_end(ap);
  args[n] = NULL;
  return run_argv(args);
}

/* lotline --api <fake> --timeout-ms 5000 ARGS... */
static run_result run_api(const char *first, ...) {
  char *args[ARGS_MAX];
  int n = 0;
  args[n++] = "lotline";
  args[n++] = "--api";
  args[n++] = api.url;
  args[n++] = "--timeout-ms";
  args[n++] = CLI_TIMEOUT_MS;
  va_list ap;
  va_start(ap, first);
  for (const char *a = first; a != NULL; a = va_arg(ap, const char *)) {
    assert_true(n < ARGS_MAX - 1);
    args[n++] = (char *)a;
  }
  va_end(ap);
  args[n] = NULL;
  return run_argv(args);
}

static const char lot_json[] =
    "{\"lot_id\":\"LOT/1 a\",\"name\":\"0001\",\"product_id\":\"P-100\","
    "\"tracking\":\"LOT\",\"reference\":\"PO-7\",\"description\":"
    "\"two\\nlines\",\"expiration_at\":\"2027-03-01T00:00:00Z\","
    "\"use_by_at\":null,\"removal_at\":null,\"alert_at\":null,"
    "\"version\":3,\"on_hand\":\"12.500000\","
    "\"created_at\":\"2026-11-27T10:00:00Z\","
    "\"updated_at\":\"2026-11-27T11:00:00.250Z\"}";

static const char lot_view[] = "Lot ID:       LOT/1 a\n"
                               "Name:         0001\n"
                               "Product:      P-100\n"
                               "Tracking:     LOT\n"
                               "Reference:    PO-7\n"
                               "Description:  two\n"
                               "              lines\n"
                               "Expiration:   2027-03-01T00:00:00Z\n"
                               "Use by:       -\n"
                               "Removal:      -\n"
                               "Alert:        -\n"
                               "On hand:      12.5\n"
                               "Version:      3\n"
                               "Created:      2026-11-27T10:00:00Z\n"
                               "Updated:      2026-11-27T11:00:00.250Z\n";

/* ---- usage ---- */

static void help_lists_every_command(void **state) {
  (void)state;
  static const char *const commands[] = {"create", "update",    "move",
                                         "show",   "locations", "lots"};
  run_result r = run_cli("--help", NULL);
  assert_int_equal(r.status, 0);
  assert_string_equal(r.err, "");
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
    char line[64];
    snprintf(line, sizeof line, "\n  %s ", commands[i]);
    if (strstr(r.out, line) == NULL) {
      fail_msg("--help does not list '%s'", commands[i]);
    }
    /* Every command answers its own --help, before and after options. */
    run_result c = run_cli(commands[i], "--help", NULL);
    char head[64];
    snprintf(head, sizeof head, "Usage: lotline %s", commands[i]);
    assert_int_equal(c.status, 0);
    assert_non_null(strstr(c.out, head));
    run_result_free(&c);
    c = run_cli("help", commands[i], NULL);
    assert_int_equal(c.status, 0);
    assert_non_null(strstr(c.out, head));
    run_result_free(&c);
  }
  assert_non_null(strstr(r.out, "Examples:"));
  assert_non_null(strstr(r.out, "--api URL"));
  run_result_free(&r);

  r = run_cli("--version", NULL);
  assert_int_equal(r.status, 0);
  assert_true(strncmp(r.out, "lotline ", 8) == 0);
  run_result_free(&r);
}

static void unknown_command_is_a_usage_error(void **state) {
  (void)state;
  run_result r = run_cli("frobnicate", "X", NULL);
  assert_int_equal(r.status, 2);
  assert_string_equal(r.out, "");
  assert_string_equal(r.err, "lotline: unknown command 'frobnicate' (see "
                             "'lotline --help')\n");
  run_result_free(&r);

  r = run_cli(NULL);
  assert_int_equal(r.status, 2);
  assert_non_null(strstr(r.err, "missing command"));
  run_result_free(&r);

  r = run_cli("show", "L-1", "--bogus", NULL);
  assert_int_equal(r.status, 2);
  assert_non_null(strstr(r.err, "--bogus"));
  run_result_free(&r);
}

/* A usage error is one line on stderr, exit 2, and nothing is sent. */
static void assert_usage_error(run_result *r, const char *reason) {
  if (r->status != 2 || strstr(r->err, reason) == NULL) {
    fail_msg("expected exit 2 with '%s', got %d: %s", reason, r->status,
             r->err);
  }
  assert_string_equal(r->out, "");
  const char *newline = strchr(r->err, '\n');
  assert_non_null(newline);
  assert_string_equal(newline + 1, ""); /* exactly one line */
  run_result_free(r);
}

static void missing_or_bad_options_are_usage_errors(void **state) {
  (void)state;
  int before = requests_seen();
  run_result r = run_api("create", "--product", "P", "--name", "N", NULL);
  assert_usage_error(&r, "lotline create: missing --lot-id");
  r = run_api("create", "--lot-id", "L", "--name", "N", NULL);
  assert_usage_error(&r, "missing --product");
  r = run_api("create", "--lot-id", "L", "--product", "P", "--name", " ", NULL);
  assert_usage_error(&r, "--name must not be empty");
  r = run_api("create", "--lot-id", "L", "--product", "P", "--name", "N",
              "--tracking", "batch", NULL);
  assert_usage_error(&r, "--tracking 'batch' must be lot or serial");
  r = run_api("create", "--lot-id", "L", "--product", "P", "--name", "N",
              "--expiration-at", "next week", NULL);
  assert_usage_error(&r, "--expiration-at 'next week' is not a time");
  r = run_api("move", "--product", "P", "--lot-id", "L", "--from", "A", "--to",
              "B", NULL);
  assert_usage_error(&r, "lotline move: missing --qty");
  r = run_api("move", "--product", "P", "--qty", "1", "--from", "A", "--to",
              "B", NULL);
  assert_usage_error(&r, "exactly one of --lot-id and --lot-name");
  r = run_api("move", "--product", "P", "--lot-id", "L", "--qty", "1.5e3",
              "--from", "A", "--to", "B", NULL);
  assert_usage_error(&r, "--qty '1.5e3' is not a decimal number");
  r = run_api("move", "--product", "P", "--lot-id", "L", "--qty", "0.0000001",
              "--from", "A", "--to", "B", NULL);
  assert_usage_error(&r, "more than 6 decimals");
  r = run_api("move", "--product", "P", "--lot-id", "L", "--qty", "0", "--from",
              "A", "--to", "B", NULL);
  assert_usage_error(&r, "--qty must be greater than 0");
  r = run_api("move", "--product", "P", "--lot-id", "L", "--qty", "1", "--from",
              "Vendors:SUPPLYER", "--to", "B", NULL);
  assert_usage_error(&r, "unknown usage 'SUPPLYER'");
  r = run_api("show", NULL);
  assert_usage_error(&r, "lotline show: missing LOT_ID");
  r = run_api("show", "A", "B", NULL);
  assert_usage_error(&r, "unexpected argument 'B'");
  r = run_api("update", "L-1", NULL);
  assert_usage_error(&r, "nothing to update");
  r = run_api("lots", "--limit", "ten", NULL);
  assert_usage_error(&r, "--limit 'ten' is not a whole number");
  r = run_api("lots", "--timeout-ms", NULL);
  assert_usage_error(&r, "--timeout-ms needs a value");
  assert_int_equal(requests_seen(), before);
}

/* ---- reads ---- */

static void show_prints_the_view(void **state) {
  (void)state;
  fake_answer(200, lot_json);
  run_result r = run_api("show", "LOT/1 a", NULL);
  assert_int_equal(r.status, 0);
  assert_string_equal(r.err, "");
  assert_string_equal(r.out, lot_view);
  assert_string_equal(api.method, "GET");
  /* The id is one path segment: '/' and ' ' are percent-encoded. */
  assert_string_equal(api.target, "/v1/lots/LOT%2F1%20a");
  run_result_free(&r);

  /* Dot segments must not be resolved away. */
  r = run_api("show", "..", NULL);
  assert_int_equal(r.status, 0);
  assert_string_equal(api.target, "/v1/lots/%2E%2E");
  run_result_free(&r);
}

static void json_prints_the_answer(void **state) {
  (void)state;
  fake_answer(200, lot_json);
  /* Global options after the command work too. */
  run_result r = run_cli("show", "L-1", "--json", "--api", api.url, NULL);
  assert_int_equal(r.status, 0);
  json_error_t err;
  json_t *got = json_loads(r.out, 0, &err);
  json_t *want = json_loads(lot_json, 0, &err);
  assert_non_null(got);
  assert_true(json_equal(got, want));
  assert_non_null(strstr(r.out, "\n  \"lot_id\": ")); /* pretty */
  json_decref(got);
  json_decref(want);
  run_result_free(&r);
}

static void locations_prints_a_table(void **state) {
  (void)state;
  fake_answer(200, "{\"lot_id\":\"L-1\",\"product_id\":\"P-100\","
                   "\"on_hand\":\"12.5\",\"locations\":["
                   "{\"location\":\"Vendors\",\"usage\":\"SUPPLIER\","
                   "\"quantity\":\"-12.5\"},"
                   "{\"location\":\"WH/Stock\",\"usage\":\"INTERNAL\","
                   "\"quantity\":\"10.500000\"},"
                   "{\"location\":\"WH/Stock/Shelf-2\",\"usage\":"
                   "\"INTERNAL\",\"quantity\":\"2\"}]}");
  run_result r = run_api("locations", "L-1", "--all", NULL);
  assert_int_equal(r.status, 0);
  assert_string_equal(r.err, "");
  assert_string_equal(r.out, "LOCATION          USAGE     QUANTITY\n"
                             "Vendors           SUPPLIER     -12.5\n"
                             "WH/Stock          INTERNAL      10.5\n"
                             "WH/Stock/Shelf-2  INTERNAL         2\n"
                             "\n"
                             "On hand: 12.5\n");
  assert_string_equal(api.target, "/v1/lots/L-1/locations?all=1");
  run_result_free(&r);

  r = run_api("locations", "L-1", NULL);
  assert_int_equal(r.status, 0);
  assert_string_equal(api.target, "/v1/lots/L-1/locations");
  run_result_free(&r);
}

static void lots_prints_a_table_and_the_next_cursor(void **state) {
  (void)state;
  fake_answer(200,
              "{\"lots\":["
              "{\"lot_id\":\"LOT-2027-001\",\"product_id\":\"P-100\","
              "\"name\":\"0001\",\"tracking\":\"LOT\",\"on_hand\":\"7.25\"},"
              "{\"lot_id\":\"SN-9\",\"product_id\":\"P-2\",\"name\":"
              "\"Ünïcode\",\"tracking\":\"SERIAL\",\"on_hand\":\"1\"}],"
              "\"next_cursor\":\"SN-9\"}");
  run_result r =
      run_api("lots", "--product", "P 1", "--q", "a&b", "--limit", "2", NULL);
  assert_int_equal(r.status, 0);
  assert_string_equal(r.err, "");
  /* Columns are aligned by characters, not bytes (Ü is two bytes). */
  assert_string_equal(r.out,
                      "LOT_ID        PRODUCT  NAME     TRACKING  ON_HAND\n"
                      "LOT-2027-001  P-100    0001     LOT          7.25\n"
                      "SN-9          P-2      Ünïcode  SERIAL          1\n"
                      "\n"
                      "Next cursor: SN-9\n");
  assert_string_equal(api.target, "/v1/lots?product_id=P%201&q=a%26b&limit=2");
  run_result_free(&r);

  /* The last page has no cursor line. */
  fake_answer(200, "{\"lots\":[],\"next_cursor\":null}");
  r = run_api("lots", "--cursor", "SN-9", NULL);
  assert_int_equal(r.status, 0);
  assert_string_equal(r.out, "LOT_ID  PRODUCT  NAME  TRACKING  ON_HAND\n");
  assert_string_equal(api.target, "/v1/lots?cursor=SN-9");
  run_result_free(&r);

  /* An answer of another shape is an error, not an empty table. */
  fake_answer(200, "{\"items\":[]}");
  r = run_api("lots", NULL);
  assert_int_equal(r.status, 1);
  assert_non_null(strstr(r.err, "no \"lots\" array"));
  run_result_free(&r);
}

/* ---- writes ---- */

static void create_sends_the_lot_and_prints_it(void **state) {
  (void)state;
  fake_answer(201, lot_json);
  run_result r = run_api(
      "create", "--product", "P-100", "--lot-id", "LOT/1 a", "--name", "0001",
      "--reference", "PO-7", "--expiration-at", "2027-03-01", "--alert-at",
      "2027-02-01T09:00:00+01:00", "--idempotency-key", "req-42", NULL);
  assert_int_equal(r.status, 0);
  assert_string_equal(r.err, "");
  assert_true(strncmp(r.out, "Lot LOT/1 a created.\n\n", 22) == 0);
  assert_string_equal(r.out + 22, lot_view);
  assert_string_equal(api.method, "POST");
  assert_string_equal(api.target, "/v1/lots");
  assert_non_null(strcasestr(api.headers, "\r\nIdempotency-Key: req-42\r\n"));
  assert_non_null(
      strcasestr(api.headers, "\r\nContent-Type: application/json\r\n"));
  json_t *sent = sent_json();
  json_t *want =
      json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "lot_id", "LOT/1 a",
                "product_id", "P-100", "name", "0001", "tracking", "LOT",
                "reference", "PO-7", "expiration_at", "2027-03-01T00:00:00Z",
                "alert_at", "2027-02-01T08:00:00Z");
  if (!json_equal(sent, want)) {
    fail_msg("sent %s", api.body);
  }
  json_decref(sent);
  json_decref(want);
  run_result_free(&r);
}

static void api_errors_are_printed_as_code_and_message(void **state) {
  (void)state;
  fake_answer(409, "{\"code\":\"DUPLICATE_LOT\",\"message\":\"The "
                   "combination of lot/serial number and product must be "
                   "unique.\"}");
  run_result r = run_api("create", "--product", "P-100", "--lot-id", "L-2",
                         "--name", "0001", "--tracking", "Serial", NULL);
  assert_int_equal(r.status, 1);
  assert_string_equal(r.out, "");
  assert_string_equal(r.err, "lotline: DUPLICATE_LOT: The combination of "
                             "lot/serial number and product must be "
                             "unique.\n");
  json_t *sent = sent_json();
  assert_string_equal(json_string_value(json_object_get(sent, "tracking")),
                      "SERIAL");
  json_decref(sent);
  run_result_free(&r);

  fake_answer(404, "{\"code\":\"UNKNOWN_LOT\",\"message\":\"no lot "
                   "\\\"X\\\"\\nsecond line\"}");
  r = run_api("show", "X", NULL);
  assert_int_equal(r.status, 1);
  /* Text from the network stays on one line. */
  assert_string_equal(r.err,
                      "lotline: UNKNOWN_LOT: no lot \"X\" second line\n");
  run_result_free(&r);

  /* Not the API's JSON (a proxy, say): the status and the text. */
  fake_answer(502, "Bad gateway\n");
  r = run_api("locations", "X", NULL);
  assert_int_equal(r.status, 1);
  assert_string_equal(r.err, "lotline: HTTP 502: Bad gateway\n");
  run_result_free(&r);
}

static void update_sends_only_what_changes(void **state) {
  (void)state;
  fake_answer(200, lot_json);
  run_result r =
      run_api("update", "LOT/1 a", "--product", "P-200", "--reference", "",
              "--expected-version", "2", "--use-by-at", "2027-02-15", NULL);
  assert_int_equal(r.status, 0);
  assert_true(strncmp(r.out, "Lot LOT/1 a updated.\n\n", 22) == 0);
  assert_string_equal(api.method, "PATCH");
  /* --product names the lot (product, LOT_ID): the product-scoped route,
   * and no product_id in the body (a lot's product cannot change). */
  assert_string_equal(api.target, "/v1/products/P-200/lots/LOT%2F1%20a");
  json_t *sent = sent_json();
  json_t *want =
      json_pack("{s:s, s:s, s:I}", "reference", "", "use_by_at",
                "2027-02-15T00:00:00Z", "expected_version", (json_int_t)2);
  if (!json_equal(sent, want)) {
    fail_msg("sent %s", api.body);
  }
  json_decref(sent);
  json_decref(want);
  run_result_free(&r);
}

/* hold and release POST {"reason"} to the lot's route and print the lot
 * with its hold; without --reason nothing is sent. recall --hold needs a
 * reason too. */
static void hold_and_release_send_the_reason(void **state) {
  (void)state;
  size_t before = requests_seen();
  run_result r = run_api("hold", "L-1", NULL);
  assert_usage_error(&r, "missing --reason");
  r = run_api("recall", "L-1", "--hold", NULL);
  assert_usage_error(&r, "--hold needs --reason");
  r = run_api("recall", "L-1", "--reason", "R", NULL);
  assert_usage_error(&r, "--reason goes with --hold");
  r = run_api("lots", "--property", "nokey", NULL);
  assert_usage_error(&r, "--property must be KEY=VALUE");
  assert_int_equal(requests_seen(), before);

  static const char held[] =
      "{\"lot_id\":\"L-1\",\"name\":\"0001\",\"product_id\":\"P\","
      "\"on_hand\":\"5\",\"uom\":\"kg\",\"hold\":{\"reason\":\"RC-7\","
      "\"since\":\"2027-01-10T09:00:00Z\"},\"properties\":{}}";
  fake_answer(200, held);
  r = run_api("hold", "L-1", "--product", "P", "--reason", "RC-7", NULL);
  assert_int_equal(r.status, 0);
  assert_string_equal(api.method, "POST");
  assert_string_equal(api.target, "/v1/products/P/lots/L-1/hold");
  assert_non_null(strstr(r.out, "Lot L-1 held."));
  assert_non_null(
      strstr(r.out, "On hold:      since 2027-01-10T09:00:00Z: RC-7"));
  assert_non_null(strstr(r.out, "On hand:      5 kg"));
  json_t *sent = sent_json();
  json_t *want = json_pack("{s:s}", "reason", "RC-7");
  assert_true(json_equal(sent, want));
  json_decref(sent);
  json_decref(want);
  run_result_free(&r);

  fake_answer(200, lot_json);
  r = run_api("release", "L-1", "--reason", "lab negative", NULL);
  assert_int_equal(r.status, 0);
  assert_string_equal(api.target, "/v1/lots/L-1/release");
  run_result_free(&r);
}

/* A lot is (product, LOT_ID): --product picks the product-scoped routes;
 * without it, an AMBIGUOUS_LOT answer shows its message and the products,
 * and the exit status is 1 like any other API error. */
static void product_option_names_the_lot(void **state) {
  (void)state;
  static const char *const cmds[][2] = {{"show", ""},
                                        {"locations", "/locations"},
                                        {"history", "/moves"},
                                        {"trace", "/trace"}};
  for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
    fake_answer(409, "{\"code\":\"AMBIGUOUS_LOT\",\"message\":\"2 "
                     "products have a lot with id L-1\",\"products\":"
                     "[\"GLUE\",\"PAINT\"]}");
    run_result r = run_api(cmds[i][0], "L-1", NULL);
    assert_int_equal(r.status, 1);
    assert_string_equal(r.out, "");
    assert_string_equal(r.err, "lotline: AMBIGUOUS_LOT: 2 products have a "
                               "lot with id L-1; products: GLUE, PAINT "
                               "(choose one with --product)\n");
    assert_true(strncmp(api.target, "/v1/lots/L-1", 12) == 0);
    run_result_free(&r);

    fake_answer(404, "{\"code\":\"UNKNOWN_LOT\",\"message\":\"no\"}");
    r = run_api(cmds[i][0], "L-1", "--product", "PAINT/2", NULL);
    assert_int_equal(r.status, 1);
    char want[128];
    snprintf(want, sizeof want, "/v1/products/PAINT%%2F2/lots/L-1%s",
             cmds[i][1]);
    assert_true(strncmp(api.target, want, strlen(want)) == 0);
    run_result_free(&r);
  }
}

static void move_sends_a_decimal_string_and_usages(void **state) {
  (void)state;
  fake_answer(201, "{\"event_id\":\"e-1\",\"position\":7,\"lot\":{"
                   "\"lot_id\":\"L-1\",\"on_hand\":\"2.500000\"}}");
  run_result r = run_api("move", "--product", "P-100", "--lot-name", "0001",
                         "--qty", "2.50", "--from", "Vendors:supplier", "--to",
                         "Dock:3:INTERNAL", "--reference", "PO-7", NULL);
  assert_int_equal(r.status, 0);
  assert_string_equal(r.err, "");
  assert_string_equal(r.out, "Moved 2.5 of lot L-1 from Vendors (SUPPLIER) "
                             "to Dock:3 (INTERNAL).\n"
                             "On hand: 2.5\n");
  assert_string_equal(api.method, "POST");
  assert_string_equal(api.target, "/v1/moves");
  json_t *sent = sent_json();
  json_t *want =
      json_pack("{s:s, s:s, s:s, s:{s:s, s:s}, s:{s:s, s:s}, s:s}",
                "product_id", "P-100", "lot_name", "0001", "quantity", "2.5",
                "from", "id", "Vendors", "usage", "SUPPLIER", "to", "id",
                "Dock:3", "usage", "INTERNAL", "reference", "PO-7");
  if (!json_equal(sent, want)) {
    fail_msg("sent %s", api.body);
  }
  json_decref(sent);
  json_decref(want);
  run_result_free(&r);

  /* No usage means INTERNAL. */
  r = run_api("move", "--product", "P-100", "--lot-id", "L-1", "--qty", "1",
              "--from", "WH/Stock", "--to", "Customers:CUSTOMER", NULL);
  assert_int_equal(r.status, 0);
  sent = sent_json();
  assert_string_equal(json_string_value(json_object_get(
                          json_object_get(sent, "from"), "usage")),
                      "INTERNAL");
  assert_string_equal(json_string_value(json_object_get(sent, "lot_id")),
                      "L-1");
  json_decref(sent);
  run_result_free(&r);
}

/* ---- finding the API ---- */

static void unreachable_api_is_a_runtime_failure(void **state) {
  (void)state;
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%d", closed_port());
  run_result r = run_cli("--api", url, "show", "L-1", NULL);
  assert_int_equal(r.status, 1);
  assert_string_equal(r.out, "");
  char want[128];
  snprintf(want, sizeof want,
           "lotline: cannot reach the lotline API at %s: ", url);
  if (strncmp(r.err, want, strlen(want)) != 0) {
    fail_msg("stderr: %s", r.err);
  }
  run_result_free(&r);
}

static void data_dir_gives_the_address(void **state) {
  (void)state;
  char dir[] = "/tmp/lotline-cli-test-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char path[256];
  snprintf(path, sizeof path, "%s/http.addr", dir);

  run_result r = run_cli("--data", dir, "show", "L-1", NULL);
  assert_int_equal(r.status, 1);
  assert_non_null(strstr(r.err, "http.addr"));
  run_result_free(&r);

  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fprintf(f, "127.0.0.1:%d\n", api.port);
  fclose(f);
  fake_answer(200, lot_json);
  /* --data wins over the environment: it names one deployment. */
  setenv("LOTLINE_API", "http://127.0.0.1:1", 1);
  r = run_cli("--data", dir, "show", "L-1", NULL);
  unsetenv("LOTLINE_API");
  assert_int_equal(r.status, 0);
  assert_string_equal(r.out, lot_view);
  assert_string_equal(api.target, "/v1/lots/L-1");
  run_result_free(&r);

  /* And $LOTLINE_API is used when nothing is said. */
  setenv("LOTLINE_API", api.url, 1);
  r = run_cli("show", "L-1", NULL);
  unsetenv("LOTLINE_API");
  assert_int_equal(r.status, 0);
  run_result_free(&r);

  unlink(path);
  rmdir(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(help_lists_every_command),
      cmocka_unit_test(unknown_command_is_a_usage_error),
      cmocka_unit_test(missing_or_bad_options_are_usage_errors),
      cmocka_unit_test(show_prints_the_view),
      cmocka_unit_test(json_prints_the_answer),
      cmocka_unit_test(locations_prints_a_table),
      cmocka_unit_test(lots_prints_a_table_and_the_next_cursor),
      cmocka_unit_test(create_sends_the_lot_and_prints_it),
      cmocka_unit_test(api_errors_are_printed_as_code_and_message),
      cmocka_unit_test(update_sends_only_what_changes),
      cmocka_unit_test(product_option_names_the_lot),
      cmocka_unit_test(hold_and_release_send_the_reason),
      cmocka_unit_test(move_sends_a_decimal_string_and_usages),
      cmocka_unit_test(unreachable_api_is_a_runtime_failure),
      cmocka_unit_test(data_dir_gives_the_address),
  };
  return cmocka_run_group_tests(tests, start_api, stop_api);
}
