/* ll_config.c — the one config reader (see ll_config.h for precedence).
 *
 * Every known key is listed once in `known_keys` with its default and a
 * one-line description; `lotlined --help` prints the same table. A key not
 * in the table (and not kafka.*) is an error at start-up, so a typo in a
 * config file never silently falls back to a default. */
#include "ll_config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ll_event.h"

typedef struct known_key {
  const char *key;
  const char *default_value; /* NULL: no default */
  const char *help;
} known_key;

static const known_key known_keys[] = {
    {"data", "./lotline-data", "data directory (log, views, broker.addr)"},
    {"brokers", NULL,
     "Kafka bootstrap list; empty = start the embedded broker"},
    {"http.listen", "127.0.0.1:8080",
     "HTTP API address (HOST:PORT, port 0 = any)"},
    {"group.id", "lotline", "consumer group of the command consumer"},
    {"topic.inbound", "lots.inbound", "input topic"},
    {"topic.events", "lots.events", "accepted events topic"},
    {"topic.rejected", "lots.rejected", "rejections topic"},
    {"topic.quantities", "lots.quantities", "quantity changes topic"},
    {"schemas.dir", NULL, "directory of the .avsc schema versions"},
    {"schema.registry.url", NULL, "Confluent Schema Registry URL"},
    {"batch.max.events", "2000",
     "a durable batch ends at this many input messages (1..100000)"},
    {"batch.max.ms", "5",
     "... or this many ms after its first message (0..10000)"},
    {"storage.min.free.mb", "64",
     "the command consumer stops when less is free on the log's disk (0 off)"},
    {"rules.allow_expired_delivery", "false",
     "accept expired lots to CUSTOMER"},
    {"broker.partitions", "16", "embedded broker: partitions per topic"},
    {"broker.count", "1", "embedded broker: number of brokers"},
    {"write.timeout.ms", "5000", "HTTP writes: longest wait for the outcome"},
    {"log.level", "info", "debug, info, warn or error"},
};

#define KNOWN_KEY_COUNT (sizeof known_keys / sizeof known_keys[0])

static bool key_is_known(const char *key) {
  if (strncmp(key, "kafka.", 6) == 0 && key[6] != '\0')
    return true;
  for (size_t i = 0; i < KNOWN_KEY_COUNT; i++)
    if (strcmp(known_keys[i].key, key) == 0)
      return true;
  return false;
}

void ll_config_init(ll_config *c) {
  memset(c, 0, sizeof *c);
  for (size_t i = 0; i < KNOWN_KEY_COUNT; i++)
    if (known_keys[i].default_value)
      ll_config_set(c, known_keys[i].key, known_keys[i].default_value, NULL);
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
  if (!key_is_known(key))
    return ll_err_set(err, LL_OK, "unknown config key '%s'", key);
  for (size_t i = 0; i < c->len; i++) {
    if (strcmp(c->entries[i].key, key) == 0) {
      free(c->entries[i].value);
      c->entries[i].value = ll_strdup(value);
      return 0;
    }
  }
  if (c->len == LL_CONFIG_MAX_ENTRIES)
    return ll_err_set(err, LL_OK, "too many config keys (limit %d)",
                      LL_CONFIG_MAX_ENTRIES);
  c->entries[c->len].key = ll_strdup(key);
  c->entries[c->len].value = ll_strdup(value);
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
    return ll_err_set(err, LL_OK, "cannot open config file %s: %s", path,
                      strerror(errno));
  char line[4096];
  int lineno = 0, rc = 0;
  while (rc == 0 && fgets(line, sizeof line, f)) {
    lineno++;
    char *s = trim_in_place(line);
    if (*s == '\0' || *s == '#')
      continue;
    char *eq = strchr(s, '=');
    if (!eq) {
      rc = ll_err_set(err, LL_OK, "%s:%d: expected key=value", path, lineno);
      break;
    }
    *eq = '\0';
    char *key = trim_in_place(s), *value = trim_in_place(eq + 1);
    ll_err e;
    if (ll_config_set(c, key, value, &e) != 0)
      rc = ll_err_set(err, LL_OK, "%s:%d: %s", path, lineno, e.message);
  }
  fclose(f);
  return rc;
}

/* LOTLINE_<KEY> with '.' -> '_' and upper case, for every known key.
 * kafka.* keys come only from the file or flags: their names hold dots
 * that an environment variable cannot carry unambiguously. */
int ll_config_load_env(ll_config *c, ll_err *err) {
  for (size_t i = 0; i < KNOWN_KEY_COUNT; i++) {
    char name[128] = "LOTLINE_";
    size_t n = strlen(name);
    for (const char *k = known_keys[i].key; *k && n < sizeof name - 1; k++)
      name[n++] = *k == '.' ? '_' : (char)toupper((unsigned char)*k);
    name[n] = '\0';
    const char *v = getenv(name);
    if (v && ll_config_set(c, known_keys[i].key, v, err) != 0)
      return -1;
  }
  return 0;
}

const char *ll_config_get(const ll_config *c, const char *key) {
  for (size_t i = 0; i < c->len; i++)
    if (strcmp(c->entries[i].key, key) == 0)
      return c->entries[i].value;
  return NULL;
}

int ll_config_get_int(const ll_config *c, const char *key, int64_t *out,
                      ll_err *err) {
  const char *v = ll_config_get(c, key);
  if (!v || !*v)
    return ll_err_set(err, LL_OK, "config key '%s' is not set", key);
  char *end;
  errno = 0;
  long long n = strtoll(v, &end, 10);
  if (errno || *end != '\0')
    return ll_err_set(err, LL_OK, "config key '%s': '%s' is not an integer",
                      key, v);
  *out = n;
  return 0;
}

bool ll_config_get_bool(const ll_config *c, const char *key) {
  const char *v = ll_config_get(c, key);
  return v && (strcmp(v, "true") == 0 || strcmp(v, "1") == 0 ||
               strcmp(v, "yes") == 0 || strcmp(v, "on") == 0);
}

void ll_config_print_keys(FILE *out) {
  for (size_t i = 0; i < KNOWN_KEY_COUNT; i++)
    fprintf(out, "  %-30s %-18s %s\n", known_keys[i].key,
            known_keys[i].default_value ? known_keys[i].default_value : "-",
            known_keys[i].help);
  fprintf(out, "  %-30s %-18s %s\n", "kafka.<property>", "-",
          "passed to librdkafka unchanged (SASL, TLS, ...)");
}
