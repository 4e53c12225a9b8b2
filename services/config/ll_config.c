/* ll_config.c — the one config reader (see ll_config.h for precedence).
 *
 * Every known key is listed once in `known_keys` with its default, a
 * one-line description and the form its value must have; `lotlined --help`
 * prints the same table. A key not in the table (and not kafka.*) is an
 * error at start-up, so a typo in a config file never silently falls back
 * to a default. A row without a form (KIND_TEXT) takes any text.
 *
 * Optional keys (`optional`) treat an empty value as "not set". */
#include "ll_config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ll_mem.h"
#include "ll_types.h"

typedef enum key_kind {
  KIND_TEXT = 0, /* anything */
  KIND_NAME,     /* non-empty, no control characters */
  KIND_INT,      /* decimal integer from min to max */
  KIND_BOOL,     /* true/false, 1/0, yes/no, on/off */
  KIND_ENUM,     /* one of `choices` (case-insensitive) */
  KIND_HOSTPORT, /* HOST:PORT or [V6]:PORT */
  KIND_BROKERS,  /* comma-separated [proto://]host[:port] */
  KIND_TOPIC,    /* a Kafka topic name */
  KIND_URL,      /* http:// or https:// */
  KIND_FILE,     /* a readable file (checked once loaded) */
  KIND_DIR,      /* a directory (checked once loaded) */
  KIND_SECRET,   /* text never printed back */
} key_kind;

typedef struct known_key {
  const char *key;
  const char *default_value; /* NULL: no default */
  const char *help;
  key_kind kind;
  bool optional; /* empty = not set */
  int64_t min, max;
  const char *const *choices; /* KIND_ENUM, NULL-terminated */
} known_key;

static const char *const log_levels[] = {"debug", "info", "warn", "error",
                                         NULL};
static const char *const log_formats[] = {"text", "json", NULL};

/* Limits that other modules enforce too, repeated here so a bad value
 * stops the start rather than a thread: batch limits (command.h), the
 * embedded broker's partitions (a command batch tracks at most 1024) and
 * the 5 s docs/api.md gives a write's outcome. */
static const known_key known_keys[] = {
    {"data", "./lotline-data", "data directory (log, views, broker.addr)",
     KIND_NAME},
    {"brokers", NULL, "Kafka bootstrap list; empty = start the embedded broker",
     KIND_BROKERS, true},
    {"http.listen", "127.0.0.1:8080",
     "HTTP API address (HOST:PORT, port 0 = any)", KIND_HOSTPORT},
    {"http.token.read", NULL,
     "bearer token for reads and /metrics (empty = open)", KIND_SECRET, true},
    {"http.token.write", NULL,
     "bearer token for writes, also good for reads (empty = open)", KIND_SECRET,
     true},
    {"http.token.read_file", NULL, "file holding http.token.read", KIND_FILE,
     true},
    {"http.token.write_file", NULL, "file holding http.token.write", KIND_FILE,
     true},
    {"http.insecure", "false",
     "serve a non-loopback http.listen with no write token", KIND_BOOL},
    {"http.tls.cert", NULL, "PEM certificate (chain): serve HTTPS", KIND_FILE,
     true},
    {"http.tls.key", NULL, "PEM private key of http.tls.cert", KIND_FILE, true},
    {"http.threads", "0",
     "API worker threads (0 = one per core, at least 2; 0..64)", KIND_INT,
     false, 0, 64},
    {"metrics.listen", NULL,
     "extra address for /healthz /readyz /metrics only (e.g. for command)",
     KIND_HOSTPORT, true},
    {"ready.lag.max", "1000",
     "/readyz: most log positions the views may trail (>= 1)", KIND_INT, false,
     1, 1000000000},
    {"group.id", "lotline", "consumer group of the command consumer",
     KIND_NAME},
    {"topic.inbound", "lots.inbound", "input topic", KIND_TOPIC},
    {"topic.events", "lots.events", "accepted events topic", KIND_TOPIC},
    {"topic.rejected", "lots.rejected", "rejections topic", KIND_TOPIC},
    {"topic.quantities", "lots.quantities", "quantity changes topic",
     KIND_TOPIC},
    {"topic.changelog", "lots.changelog",
     "cluster: internal topic of each task's rejections and progress marks "
     "(as many partitions as the input)",
     KIND_TOPIC},
    {"topic.members", "lots.members",
     "cluster: compacted topic of the instances' partition claims", KIND_TOPIC},
    {"http.advertise", NULL,
     "cluster: the API's URL as others reach it (its host is "
     "cluster.advertise's default)",
     KIND_URL, true},
    {"cluster.listen", NULL,
     "cluster: where the other instances' forwarded requests are served "
     "(default: http.listen's host, a free port)",
     KIND_HOSTPORT, true},
    {"cluster.advertise", NULL,
     "cluster: the URL other instances forward to (default: http.advertise's "
     "host or the bound address, cluster.listen's port)",
     KIND_URL, true},
    {"cluster.instance.id", NULL,
     "cluster: this instance's id (default: <data>/instance.id, made once)",
     KIND_NAME, true},
    {"cluster.standby.replicas", "1",
     "cluster: instances that keep a warm copy of each partition, deciding "
     "it in the shadow (0 off, 0..8)",
     KIND_INT, false, 0, 8},
    {"topic.alerts", "lots.alerts", "date alerts topic (LotDateReached)",
     KIND_TOPIC},
    {"publish.enabled", "true",
     "publish the log to lots.events and lots.quantities", KIND_BOOL},
    {"publish.batch.max.events", "1000",
     "most log entries per publish transaction (1..100000)", KIND_INT, false, 1,
     100000},
    {"publish.transactional.id", NULL,
     "publisher transactional.id, one per instance; default "
     "<group.id>-publisher-<instance>",
     KIND_NAME, true},
    {"schemas.dir", NULL, "directory of the .avsc schema versions", KIND_DIR,
     true},
    {"schema.registry.url", NULL, "Confluent Schema Registry URL", KIND_URL,
     true},
    {"batch.max.events", "5000", "most events per durable batch (1..100000)",
     KIND_INT, false, 1, 100000},
    {"batch.max.ms", "20",
     "longest a batch stays open while messages keep coming, ms (0..10000)",
     KIND_INT, false, 0, 10000},
    {"storage.min.free.mb", "64",
     "the command consumer stops when less is free on the log's disk (0 off)",
     KIND_INT, false, 0, 1048576},
    {"rules.allow_expired_delivery", "false", "accept expired lots to CUSTOMER",
     KIND_BOOL},
    {"input.allow_truncated", "false",
     "start a partition whose first events retention deleted (partial state)",
     KIND_BOOL},
    {"broker.partitions", "16", "embedded broker: partitions per topic",
     KIND_INT, false, 1, 1024},
    {"broker.count", "1", "embedded broker: number of brokers", KIND_INT, false,
     1, 32},
    {"write.timeout.ms", "5000",
     "HTTP writes: longest wait for the outcome (1..5000)", KIND_INT, false, 1,
     5000},
    {"log.level", "info", "debug, info, warn or error", KIND_ENUM, false, 0, 0,
     log_levels},
    {"log.format", "text", "text or json (one object per line)", KIND_ENUM,
     false, 0, 0, log_formats},
};

#define KNOWN_KEY_COUNT (sizeof known_keys / sizeof known_keys[0])

static const known_key *find_key(const char *key) {
  for (size_t i = 0; i < KNOWN_KEY_COUNT; i++)
    if (strcmp(known_keys[i].key, key) == 0)
      return &known_keys[i];
  return NULL;
}

static bool is_kafka_key(const char *key) {
  return strncmp(key, "kafka.", 6) == 0 && key[6] != '\0';
}

/* ---- value forms ---- */

static bool parse_int(const char *v, int64_t *out) {
  if (*v == '\0' || isspace((unsigned char)*v))
    return false;
  char *end;
  errno = 0;
  long long n = strtoll(v, &end, 10);
  if (errno != 0 || *end != '\0')
    return false;
  *out = n;
  return true;
}

static int parse_bool(const char *v) {
  static const char *const yes[] = {"true", "1", "yes", "on"};
  static const char *const no[] = {"false", "0", "no", "off"};
  for (size_t i = 0; i < 4; i++) {
    if (strcasecmp(v, yes[i]) == 0)
      return 1;
    if (strcasecmp(v, no[i]) == 0)
      return 0;
  }
  return -1;
}

static bool has_control_or_space(const char *s, bool allow_space) {
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c < 0x20 || c == 0x7F || (!allow_space && c == ' '))
      return true;
  }
  return false;
}

static bool is_port(const char *p, size_t n, bool allow_empty) {
  if (n == 0)
    return allow_empty;
  if (n > 5)
    return false;
  unsigned v = 0;
  for (size_t i = 0; i < n; i++) {
    if (p[i] < '0' || p[i] > '9')
      return false;
    v = v * 10 + (unsigned)(p[i] - '0');
  }
  return v <= 65535;
}

/* host[:port] or [v6][:port] in s[0..n); port required when need_port. */
static bool is_host_port(const char *s, size_t n, bool need_port) {
  if (n == 0 || has_control_or_space(s, false))
    return false;
  size_t host_end;
  const char *rest;
  if (s[0] == '[') {
    const char *close = memchr(s, ']', n);
    if (close == NULL || close == s + 1)
      return false;
    host_end = (size_t)(close - s) + 1;
    rest = close + 1;
  } else {
    const char *colon = memchr(s, ':', n);
    host_end = colon != NULL ? (size_t)(colon - s) : n;
    if (host_end == 0)
      return false;
    rest = s + host_end;
    if (colon != NULL && memchr(colon + 1, ':', n - host_end - 1) != NULL)
      return false; /* bare IPv6: needs brackets */
  }
  size_t rest_n = n - host_end;
  if (rest_n == 0)
    return !need_port;
  if (rest[0] != ':')
    return false;
  return is_port(rest + 1, rest_n - 1, false);
}

bool ll_config_is_hostport(const char *s) {
  return s != NULL && is_host_port(s, strlen(s), true);
}

static bool is_brokers(const char *v) {
  const char *p = v;
  for (;;) {
    size_t n = strcspn(p, ",");
    const char *item = p;
    const char *scheme = NULL;
    for (size_t i = 0; i + 2 < n; i++) {
      if (item[i] == ':' && item[i + 1] == '/' && item[i + 2] == '/') {
        scheme = item + i;
        break;
      }
    }
    if (scheme != NULL) {
      if (scheme == item)
        return false;
      n -= (size_t)(scheme - item) + 3;
      item = scheme + 3;
    }
    if (!is_host_port(item, n, false))
      return false;
    p = item + n;
    if (*p == '\0')
      return true;
    p++;
  }
}

static bool is_topic(const char *v) {
  size_t n = strlen(v);
  if (n == 0 || n > 249 || strcmp(v, ".") == 0 || strcmp(v, "..") == 0)
    return false;
  for (size_t i = 0; i < n; i++) {
    char c = v[i];
    if (!isalnum((unsigned char)c) && c != '.' && c != '_' && c != '-')
      return false;
  }
  return true;
}

static bool is_url(const char *v) {
  return (strncmp(v, "http://", 7) == 0 || strncmp(v, "https://", 8) == 0) &&
         strlen(v) > 8 && !has_control_or_space(v, false);
}

/* The value's form for a known key; a message naming the key otherwise. */
static int check_form(const known_key *k, const char *v, ll_err *err) {
  if (k->optional && *v == '\0')
    return 0;
  switch (k->kind) {
  case KIND_TEXT:
    return 0;
  case KIND_NAME:
  case KIND_SECRET:
  case KIND_FILE:
  case KIND_DIR:
    if (*v == '\0' || has_control_or_space(v, true))
      return ll_fail(err, LL_ERR_CONFIG,
                     "config key '%s': the value is empty or has control "
                     "characters",
                     k->key);
    return 0;
  case KIND_INT: {
    int64_t n;
    if (!parse_int(v, &n) || n < k->min || n > k->max)
      return ll_fail(err, LL_ERR_CONFIG,
                     "config key '%s': '%s' is not an integer from %lld "
                     "to %lld",
                     k->key, v, (long long)k->min, (long long)k->max);
    return 0;
  }
  case KIND_BOOL:
    if (parse_bool(v) < 0)
      return ll_fail(err, LL_ERR_CONFIG,
                     "config key '%s': '%s' is not a boolean (true, "
                     "false, 1, 0, yes, no, on, off)",
                     k->key, v);
    return 0;
  case KIND_ENUM: {
    char names[256] = "";
    for (size_t i = 0; k->choices[i] != NULL; i++) {
      if (strcasecmp(v, k->choices[i]) == 0)
        return 0;
      size_t len = strlen(names);
      snprintf(names + len, sizeof names - len, "%s%s", i ? ", " : "",
               k->choices[i]);
    }
    return ll_fail(err, LL_ERR_CONFIG,
                   "config key '%s': '%s' is not one of: %s", k->key, v, names);
  }
  case KIND_HOSTPORT:
    if (!ll_config_is_hostport(v))
      return ll_fail(err, LL_ERR_CONFIG,
                     "config key '%s': '%s' is not HOST:PORT (IPv6 "
                     "hosts in brackets, port 0 to 65535)",
                     k->key, v);
    return 0;
  case KIND_BROKERS:
    if (!is_brokers(v))
      return ll_fail(err, LL_ERR_CONFIG,
                     "config key '%s': '%s' is not a comma-separated "
                     "list of host:port",
                     k->key, v);
    return 0;
  case KIND_TOPIC:
    if (!is_topic(v))
      return ll_fail(err, LL_ERR_CONFIG,
                     "config key '%s': '%s' is not a Kafka topic name "
                     "(1 to 249 of a-z A-Z 0-9 . _ -)",
                     k->key, v);
    return 0;
  case KIND_URL:
    if (!is_url(v))
      return ll_fail(err, LL_ERR_CONFIG,
                     "config key '%s': '%s' is not an http:// or "
                     "https:// URL",
                     k->key, v);
    return 0;
  }
  return 0;
}

/* ---- the table of settings ---- */

void ll_config_init(ll_config *c) {
  memset(c, 0, sizeof *c);
  c->loading = LL_CONFIG_SRC_DEFAULT;
  for (size_t i = 0; i < KNOWN_KEY_COUNT; i++)
    if (known_keys[i].default_value)
      ll_config_set(c, known_keys[i].key, known_keys[i].default_value, NULL);
  c->loading = LL_CONFIG_SRC_FLAG; /* what callers set directly */
}

void ll_config_free(ll_config *c) {
  for (size_t i = 0; i < c->len; i++) {
    free(c->entries[i].key);
    free(c->entries[i].value);
  }
  c->len = 0;
}

int ll_config_set(ll_config *c, const char *key, const char *value,
                  ll_err *err) {
  const known_key *k = find_key(key);
  if (k == NULL && !is_kafka_key(key))
    return ll_fail(err, LL_ERR_CONFIG,
                   "unknown config key '%s' (lotlined --help lists them)", key);
  if (k != NULL && check_form(k, value, err) != 0)
    return -1;
  for (size_t i = 0; i < c->len; i++) {
    if (strcmp(c->entries[i].key, key) == 0) {
      free(c->entries[i].value);
      c->entries[i].value = ll_strdup(value);
      c->entries[i].source = c->loading;
      return 0;
    }
  }
  if (c->len == LL_CONFIG_MAX_ENTRIES)
    return ll_fail(err, LL_ERR_CONFIG, "too many config keys (limit %d)",
                   LL_CONFIG_MAX_ENTRIES);
  c->entries[c->len].key = ll_strdup(key);
  c->entries[c->len].value = ll_strdup(value);
  c->entries[c->len].source = c->loading;
  c->len++;
  return 0;
}

static char *trim_in_place(char *s) {
  while (isspace((unsigned char)*s))
    s++;
  size_t n = strlen(s);
  while (n > 0 && isspace((unsigned char)s[n - 1]))
    s[--n] = '\0';
  return s;
}

int ll_config_load_file(ll_config *c, const char *path, ll_err *err) {
  FILE *f = fopen(path, "r");
  if (!f)
    return ll_fail(err, LL_ERR_CONFIG, "cannot open config file %s: %s", path,
                   strerror(errno));
  char line[LL_CONFIG_LINE_MAX_BYTES];
  int lineno = 0, rc = 0;
  ll_config_source was = c->loading;
  c->loading = LL_CONFIG_SRC_FILE;
  while (rc == 0 && fgets(line, sizeof line, f)) {
    lineno++;
    if (strchr(line, '\n') == NULL && !feof(f)) {
      rc = ll_fail(err, LL_ERR_CONFIG, "%s:%d: line longer than %d bytes", path,
                   lineno, LL_CONFIG_LINE_MAX_BYTES - 2);
      break;
    }
    char *s = trim_in_place(line);
    if (*s == '\0' || *s == '#')
      continue;
    char *eq = strchr(s, '=');
    if (!eq) {
      rc = ll_fail(err, LL_ERR_CONFIG, "%s:%d: expected key=value", path,
                   lineno);
      break;
    }
    *eq = '\0';
    char *key = trim_in_place(s), *value = trim_in_place(eq + 1);
    ll_err e;
    if (ll_config_set(c, key, value, &e) != 0)
      rc = ll_fail(err, LL_ERR_CONFIG, "%s:%d: %s", path, lineno, e.message);
  }
  if (rc == 0 && ferror(f))
    rc = ll_fail(err, LL_ERR_CONFIG, "cannot read config file %s", path);
  fclose(f);
  c->loading = was;
  return rc;
}

/* ---- the environment ---- */

/* LOTLINE_* variables that are not settings, so lotlined leaves them
 * alone (docs/operations.md lists them): the lotline CLI's own, and those
 * the build, the test harnesses and the scripts set, which a daemon they
 * start inherits. Any other LOTLINE_* variable stops the start: a
 * misspelt one would otherwise be a setting silently not applied. */
static const char *const env_not_settings[] = {
    "LOTLINE_API",     "LOTLINE_TOKEN",        "LOTLINE_CACERT", /* CLI */
    "LOTLINE_BIN",     "LOTLINE_BUILD",        "LOTLINE_SOURCE",
    "LOTLINE_SCHEMAS", "LOTLINE_SEED",         "LOTLINE_MODEL_EVENTS",
    "LOTLINE_STAGES",  "LOTLINE_FUZZ_SECONDS", "LOTLINE_KEEP_TMP",
};
static const char *const env_not_settings_prefixes[] = {
    "LOTLINE_TEST_", "LOTLINE_CRASH_", "LOTLINE_BENCH_", "LOTLINE_DEMO_"};

#define ENV_PREFIX "LOTLINE_"
#define ENV_NAME_MAX_BYTES 128
#define ENV_SUGGEST_MAX_EDITS 3 /* "did you mean" only for near misses */

extern char **environ;

/* LOTLINE_<KEY>, upper case, dots to underscores: LOTLINE_HTTP_LISTEN. */
static void env_name_of(const char *key, char name[ENV_NAME_MAX_BYTES]) {
  size_t n = strlen(ENV_PREFIX);
  memcpy(name, ENV_PREFIX, n);
  for (; *key && n < ENV_NAME_MAX_BYTES - 1; key++)
    name[n++] = *key == '.' ? '_' : (char)toupper((unsigned char)*key);
  name[n] = '\0';
}

bool ll_config_env_is_not_setting(const char *name) {
  for (size_t i = 0; i < sizeof env_not_settings / sizeof *env_not_settings;
       i++)
    if (strcmp(name, env_not_settings[i]) == 0)
      return true;
  for (size_t i = 0;
       i < sizeof env_not_settings_prefixes / sizeof *env_not_settings_prefixes;
       i++) {
    const char *p = env_not_settings_prefixes[i];
    if (strncmp(name, p, strlen(p)) == 0 && name[strlen(p)] != '\0')
      return true;
  }
  return false;
}

/* Levenshtein distance of two short names (longer ones count as far). */
static size_t edit_distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la >= ENV_NAME_MAX_BYTES || lb >= ENV_NAME_MAX_BYTES)
    return SIZE_MAX;
  size_t row[ENV_NAME_MAX_BYTES];
  for (size_t j = 0; j <= lb; j++)
    row[j] = j;
  for (size_t i = 1; i <= la; i++) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= lb; j++) {
      size_t up = row[j];
      size_t best = diag + (a[i - 1] != b[j - 1]);
      if (up + 1 < best)
        best = up + 1;
      if (row[j - 1] + 1 < best)
        best = row[j - 1] + 1;
      row[j] = best;
      diag = up;
    }
  }
  return row[lb];
}

/* The known setting whose variable is closest to `name`, if near enough. */
static const known_key *closest_env_key(const char *name) {
  const known_key *best = NULL;
  size_t best_d = ENV_SUGGEST_MAX_EDITS + 1;
  for (size_t i = 0; i < KNOWN_KEY_COUNT; i++) {
    char env[ENV_NAME_MAX_BYTES];
    env_name_of(known_keys[i].key, env);
    size_t d = edit_distance(name, env);
    if (d < best_d) {
      best_d = d;
      best = &known_keys[i];
    }
  }
  return best;
}

/* A LOTLINE_* variable that is neither a setting nor a known other one. */
static int refuse_env(const char *name, ll_err *err) {
  if (strncmp(name, ENV_PREFIX "KAFKA_", strlen(ENV_PREFIX "KAFKA_")) == 0)
    return ll_fail(err, LL_ERR_CONFIG,
                   "environment %s: kafka.* settings come from the config "
                   "file or --set only (their names hold dots)",
                   name);
  const known_key *near = closest_env_key(name);
  char env[ENV_NAME_MAX_BYTES] = "";
  if (near != NULL)
    env_name_of(near->key, env);
  return ll_fail(err, LL_ERR_CONFIG,
                 "environment %s is not a setting%s%s%s. lotlined --help "
                 "lists the keys, docs/operations.md the other LOTLINE_* "
                 "variables it leaves alone",
                 name, near ? " (did you mean " : "", env, near ? "?)" : "");
}

/* Every LOTLINE_* variable: a known key's is set, a known non-setting is
 * left alone, any other refuses the start. kafka.* keys come only from the
 * file or flags: their names hold dots that an environment variable cannot
 * carry unambiguously. */
int ll_config_load_env(ll_config *c, ll_err *err) {
  ll_config_source was = c->loading;
  c->loading = LL_CONFIG_SRC_ENV;
  int rc = 0;
  for (char **ep = environ; ep != NULL && *ep != NULL && rc == 0; ep++) {
    const char *eq = strchr(*ep, '=');
    size_t n = eq != NULL ? (size_t)(eq - *ep) : strlen(*ep);
    if (strncmp(*ep, ENV_PREFIX, strlen(ENV_PREFIX)) != 0)
      continue;
    if (n >= ENV_NAME_MAX_BYTES) {
      rc = ll_fail(err, LL_ERR_CONFIG,
                   "environment %.40s...: not a setting (name too long)", *ep);
      break;
    }
    char name[ENV_NAME_MAX_BYTES];
    memcpy(name, *ep, n);
    name[n] = '\0';
    const char *value = eq != NULL ? eq + 1 : "";
    const known_key *k = NULL;
    for (size_t i = 0; i < KNOWN_KEY_COUNT && k == NULL; i++) {
      char env[ENV_NAME_MAX_BYTES];
      env_name_of(known_keys[i].key, env);
      if (strcmp(env, name) == 0)
        k = &known_keys[i];
    }
    ll_err e;
    if (k != NULL && ll_config_set(c, k->key, value, &e) != 0)
      rc = ll_fail(err, LL_ERR_CONFIG, "environment %s: %s", name, e.message);
    else if (k == NULL && !ll_config_env_is_not_setting(name))
      rc = refuse_env(name, err);
  }
  c->loading = was;
  return rc;
}

const char *ll_config_get(const ll_config *c, const char *key) {
  for (size_t i = 0; i < c->len; i++)
    if (strcmp(c->entries[i].key, key) == 0)
      return c->entries[i].value;
  return NULL;
}

bool ll_config_has(const ll_config *c, const char *key) {
  const char *v = ll_config_get(c, key);
  return v != NULL && *v != '\0';
}

int ll_config_get_int(const ll_config *c, const char *key, int64_t *out,
                      ll_err *err) {
  const char *v = ll_config_get(c, key);
  if (!v || !*v)
    return ll_fail(err, LL_ERR_CONFIG, "config key '%s' is not set", key);
  if (!parse_int(v, out))
    return ll_fail(err, LL_ERR_CONFIG,
                   "config key '%s': '%s' is not an integer", key, v);
  return 0;
}

bool ll_config_get_bool(const ll_config *c, const char *key) {
  const char *v = ll_config_get(c, key);
  return v && parse_bool(v) == 1;
}

/* ---- files and secrets ---- */

int ll_config_read_file(const char *path, size_t max_bytes, char **out,
                        size_t *len, ll_err *err) {
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return ll_fail(err, LL_ERR_IO, "cannot read %s: %s", path, strerror(errno));
  char *buf = ll_xmalloc(max_bytes + 1);
  size_t n = fread(buf, 1, max_bytes + 1, f);
  bool failed = ferror(f) != 0;
  fclose(f);
  if (failed || n > max_bytes) {
    free(buf);
    if (failed)
      return ll_fail(err, LL_ERR_IO, "cannot read %s", path);
    return ll_fail(err, LL_ERR_FULL, "%s is larger than %zu bytes", path,
                   max_bytes);
  }
  buf[n] = '\0';
  *out = buf;
  if (len != NULL)
    *len = n;
  return 0;
}

int ll_config_get_secret(const ll_config *c, const char *key, char **out,
                         ll_err *err) {
  *out = NULL;
  if (ll_config_has(c, key)) {
    *out = ll_strdup(ll_config_get(c, key));
    return 0;
  }
  char file_key[128];
  snprintf(file_key, sizeof file_key, "%s_file", key);
  if (!ll_config_has(c, file_key))
    return 0;
  char *text;
  ll_err e;
  if (ll_config_read_file(ll_config_get(c, file_key),
                          LL_CONFIG_SECRET_MAX_BYTES, &text, NULL, &e) != 0)
    return ll_fail(err, LL_ERR_CONFIG, "config key '%s': %s", file_key,
                   e.message);
  size_t n = strlen(text);
  while (n > 0 && isspace((unsigned char)text[n - 1]))
    text[--n] = '\0';
  if (n == 0 || has_control_or_space(text, true)) {
    free(text);
    return ll_fail(err, LL_ERR_CONFIG,
                   "config key '%s': the file is empty or holds control "
                   "characters",
                   file_key);
  }
  *out = text;
  return 0;
}

static int check_path(const known_key *k, const char *v, ll_err *err) {
  struct stat st;
  if (stat(v, &st) != 0)
    return ll_fail(err, LL_ERR_CONFIG, "config key '%s': %s: %s", k->key, v,
                   strerror(errno));
  if (k->kind == KIND_DIR && !S_ISDIR(st.st_mode))
    return ll_fail(err, LL_ERR_CONFIG, "config key '%s': %s is not a directory",
                   k->key, v);
  if (k->kind == KIND_FILE && (!S_ISREG(st.st_mode) || access(v, R_OK) != 0))
    return ll_fail(err, LL_ERR_CONFIG,
                   "config key '%s': %s is not a readable file", k->key, v);
  return 0;
}

int ll_config_check(const ll_config *c, ll_err *err) {
  for (size_t i = 0; i < KNOWN_KEY_COUNT; i++) {
    const known_key *k = &known_keys[i];
    if ((k->kind == KIND_FILE || k->kind == KIND_DIR) &&
        ll_config_has(c, k->key) &&
        check_path(k, ll_config_get(c, k->key), err) != 0)
      return -1;
  }
  static const char *const tokens[] = {"http.token.read", "http.token.write"};
  for (size_t i = 0; i < 2; i++) {
    char file_key[64];
    snprintf(file_key, sizeof file_key, "%s_file", tokens[i]);
    if (ll_config_has(c, tokens[i]) && ll_config_has(c, file_key))
      return ll_fail(err, LL_ERR_CONFIG,
                     "config keys '%s' and '%s': set one of them, not "
                     "both",
                     tokens[i], file_key);
    char *secret = NULL;
    if (ll_config_get_secret(c, tokens[i], &secret, err) != 0)
      return -1;
    free(secret);
  }
  bool read = ll_config_has(c, "http.token.read") ||
              ll_config_has(c, "http.token.read_file");
  bool write = ll_config_has(c, "http.token.write") ||
               ll_config_has(c, "http.token.write_file");
  if (read && !write)
    return ll_fail(err, LL_ERR_CONFIG,
                   "config key 'http.token.read' is set but "
                   "'http.token.write' is not: writes would be open to "
                   "anyone (set both; they may be equal)");
  if (ll_config_has(c, "http.tls.cert") != ll_config_has(c, "http.tls.key"))
    return ll_fail(
        err, LL_ERR_CONFIG,
        "config key '%s' is set without '%s': HTTPS needs "
        "both",
        ll_config_has(c, "http.tls.cert") ? "http.tls.cert" : "http.tls.key",
        ll_config_has(c, "http.tls.cert") ? "http.tls.key" : "http.tls.cert");
  return 0;
}

/* ---- who can reach the API ---- */

bool ll_config_is_loopback(const char *hostport) {
  char host[256];
  const char *end;
  if (hostport[0] == '[') {
    hostport++;
    end = strchr(hostport, ']');
  } else {
    end = strrchr(hostport, ':');
  }
  size_t n = end != NULL ? (size_t)(end - hostport) : strlen(hostport);
  if (n == 0 || n >= sizeof host)
    return false;
  memcpy(host, hostport, n);
  host[n] = '\0';
  if (strcasecmp(host, "localhost") == 0)
    return true;
  struct in_addr v4;
  struct in6_addr v6;
  if (inet_pton(AF_INET, host, &v4) == 1)
    return (ntohl(v4.s_addr) >> 24) == 127; /* 127.0.0.0/8 */
  if (inet_pton(AF_INET6, host, &v6) == 1)
    return memcmp(&v6, &in6addr_loopback, sizeof v6) == 0;
  return false; /* a name: it may resolve to anything */
}

/* Secure by default, as Redis's protected mode: an API that other hosts
 * can reach takes writes only with a token, unless http.insecure says the
 * risk is known (docs/operations.md, "Security of the API"). */
/* The listener that is not loopback, http.listen first; NULL: none. */
static const char *exposed_listener(const ll_config *c, const char **key) {
  static const char *const keys[] = {"http.listen", "cluster.listen"};
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
    const char *listen = ll_config_get(c, keys[i]);
    if (listen != NULL && *listen != '\0' && !ll_config_is_loopback(listen)) {
      *key = keys[i];
      return listen;
    }
  }
  return NULL;
}

int ll_config_check_exposure(const ll_config *c, bool *insecure, ll_err *err) {
  *insecure = false;
  const char *key = NULL;
  const char *listen = exposed_listener(c, &key);
  if (listen == NULL || ll_config_has(c, "http.token.write") ||
      ll_config_has(c, "http.token.write_file"))
    return 0;
  if (ll_config_get_bool(c, "http.insecure")) {
    *insecure = true;
    return 0;
  }
  return ll_fail(err, LL_ERR_CONFIG,
                 "config key '%s' is %s, not a loopback address, "
                 "and no write token is set: anyone who reaches it could "
                 "write. Set 'http.token.write_file' (a file holding the "
                 "token) or 'http.token.write' (environment "
                 "LOTLINE_HTTP_TOKEN_WRITE), or set 'http.insecure = true' "
                 "(LOTLINE_HTTP_INSECURE=true) to accept the risk knowingly",
                 key, listen);
}

/* ---- printing ---- */

void ll_config_print_keys(FILE *out) {
  for (size_t i = 0; i < KNOWN_KEY_COUNT; i++)
    fprintf(out, "  %-30s %-18s %s\n", known_keys[i].key,
            known_keys[i].default_value ? known_keys[i].default_value : "-",
            known_keys[i].help);
  fprintf(out, "  %-30s %-18s %s\n", "kafka.<property>", "-",
          "passed to librdkafka unchanged (SASL, TLS, ...)");
}

/* kafka.* properties that hold credentials. */
static bool kafka_secret(const char *key) {
  static const char *const marks[] = {"password", "secret", ".pem",
                                      "oauthbearer.config", "jaas"};
  for (size_t i = 0; i < sizeof marks / sizeof marks[0]; i++)
    if (strstr(key, marks[i]) != NULL)
      return true;
  return false;
}

void ll_config_print(const ll_config *c, FILE *out) {
  static const char *const sources[] = {"default", "file", "environment",
                                        "flag"};
  for (size_t i = 0; i < c->len; i++) {
    const ll_config_entry *e = &c->entries[i];
    const known_key *k = find_key(e->key);
    bool secret = k != NULL ? k->kind == KIND_SECRET : kafka_secret(e->key);
    const char *shown = secret && *e->value ? "(set)" : e->value;
    fprintf(out, "%s = %s  # %s\n", e->key, shown, sources[e->source]);
  }
}
