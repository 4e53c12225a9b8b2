/* ll_config.h — the one config reader.
 *
 * Settings come from, lowest precedence first: built-in defaults, the
 * --config FILE (key=value lines, '#' comments), LOTLINE_* environment
 * variables (LOTLINE_HTTP_LISTEN for http.listen), and command-line flags.
 * Any other LOTLINE_* variable stops the start, naming it and the closest
 * setting, except the few that are known not to be settings (the CLI's and
 * the test harnesses', listed in docs/operations.md).
 * Keys starting with "kafka." are passed to librdkafka unchanged (without
 * the prefix). Unknown keys fail at start-up with a message naming them.
 *
 * Values are checked twice: their form when they are set (an integer in
 * range, a boolean, one of an enum's names, HOST:PORT, a topic name, a
 * URL), and, once everything is loaded, by ll_config_check(): files that
 * must exist, and keys that only make sense together. Every message names
 * the key. */
#ifndef LL_CONFIG_H
#define LL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ll_types.h"

#define LL_CONFIG_MAX_ENTRIES 256
#define LL_CONFIG_LINE_MAX_BYTES 4096
#define LL_CONFIG_SECRET_MAX_BYTES 4096   /* a token file */
#define LL_CONFIG_PEM_MAX_BYTES (1 << 20) /* a certificate or key file */

/* Where a value came from (for --print-config). */
typedef enum ll_config_source {
  LL_CONFIG_SRC_DEFAULT = 0,
  LL_CONFIG_SRC_FILE = 1,
  LL_CONFIG_SRC_ENV = 2,
  LL_CONFIG_SRC_FLAG = 3,
} ll_config_source;

typedef struct ll_config_entry {
  char *key;
  char *value;
  ll_config_source source;
} ll_config_entry;

typedef struct ll_config {
  ll_config_entry entries[LL_CONFIG_MAX_ENTRIES];
  size_t len;
  ll_config_source loading; /* stamped on values set now */
} ll_config;

void ll_config_init(ll_config *c); /* defaults */
void ll_config_free(ll_config *c);
/* Set a key (known key or kafka.*) to a value of the right form. */
int ll_config_set(ll_config *c, const char *key, const char *value,
                  ll_err *err);
int ll_config_load_file(ll_config *c, const char *path, ll_err *err);
int ll_config_load_env(ll_config *c, ll_err *err);
/* After loading: files exist, related keys agree. */
int ll_config_check(const ll_config *c, ll_err *err);

const char *ll_config_get(const ll_config *c, const char *key); /* or NULL */
/* Is the key set to a non-empty value? */
bool ll_config_has(const ll_config *c, const char *key);
/* Integer value of a key; -1 with err on a non-integer. */
int ll_config_get_int(const ll_config *c, const char *key, int64_t *out,
                      ll_err *err);
bool ll_config_get_bool(const ll_config *c, const char *key);
/* A secret given either as KEY or as KEY_file (a file holding it; trailing
 * white space dropped). *out is malloc'd, NULL when neither is set. */
int ll_config_get_secret(const ll_config *c, const char *key, char **out,
                         ll_err *err);
/* Read a whole file of at most max_bytes; *out is malloc'd and
 * NUL-terminated, *len its length. */
int ll_config_read_file(const char *path, size_t max_bytes, char **out,
                        size_t *len, ll_err *err);

/* "HOST:PORT" or "[V6]:PORT" with a port from 0 to 65535. */
bool ll_config_is_hostport(const char *s);

/* Is HOST:PORT's host loopback (127.0.0.0/8, [::1], localhost)? */
bool ll_config_is_loopback(const char *hostport);
/* An http.listen beyond loopback needs http.token.write (or its _file):
 * -1 with a message saying how to set one, unless http.insecure = true,
 * which sets *insecure (the caller warns) and returns 0. */
int ll_config_check_exposure(const ll_config *c, bool *insecure, ll_err *err);
/* A LOTLINE_* variable that is not a setting but known (the CLI's, the
 * test harnesses'): ll_config_load_env leaves it alone. */
bool ll_config_env_is_not_setting(const char *name);

/* The table of known keys with defaults, for --help. */
void ll_config_print_keys(FILE *out);
/* Every setting as "key = value  # source", secrets shown as "(set)". */
void ll_config_print(const ll_config *c, FILE *out);

#endif
