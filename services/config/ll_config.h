/* ll_config.h — the one config reader.
 *
 * Settings come from, lowest precedence first: built-in defaults, the
 * --config FILE (key=value lines, '#' comments), LOTLINE_* environment
 * variables (LOTLINE_HTTP_LISTEN for http.listen), and command-line flags.
 * Keys starting with "kafka." are passed to librdkafka unchanged (without
 * the prefix). Unknown keys fail at start-up with a message naming them. */
#ifndef LL_CONFIG_H
#define LL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ll_types.h"

#define LL_CONFIG_MAX_ENTRIES 256

typedef struct ll_config_entry {
  char *key;
  char *value;
} ll_config_entry;

typedef struct ll_config {
  ll_config_entry entries[LL_CONFIG_MAX_ENTRIES];
  size_t len;
} ll_config;

void ll_config_init(ll_config *c); /* defaults */
void ll_config_free(ll_config *c);
/* Set a key (validated: known key or kafka.*). */
int ll_config_set(ll_config *c, const char *key, const char *value,
                  ll_err *err);
int ll_config_load_file(ll_config *c, const char *path, ll_err *err);
int ll_config_load_env(ll_config *c, ll_err *err);
const char *ll_config_get(const ll_config *c, const char *key); /* or NULL */
/* Integer value of a key; -1 with err on a non-integer. */
int ll_config_get_int(const ll_config *c, const char *key, int64_t *out,
                      ll_err *err);
bool ll_config_get_bool(const ll_config *c, const char *key);
/* The table of known keys with defaults, for --help. */
void ll_config_print_keys(FILE *out);

#endif
