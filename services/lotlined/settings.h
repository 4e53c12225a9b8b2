/* settings.h — lotlined's settings: the mode, the flags, the --config file
 * and the LOTLINE_* environment merged into one ll_config, every value
 * checked, and what start-up takes from them (tokens, TLS files, the
 * command consumer's bounds).
 *
 * Nothing here starts anything: a bad setting ends the process with exit
 * status 2 and one line naming the key before the data directory is even
 * created (docs/operations.md, "Configuration"). */
#ifndef LOTLINED_SETTINGS_H
#define LOTLINED_SETTINGS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "ll_config.h"

#define LD_EXIT_USAGE 2
#define LD_SETTINGS_RUN (-1) /* ld_settings_load: go on and run */

typedef enum ld_mode {
  LD_MODE_ALL = 0,
  LD_MODE_COMMAND,
  LD_MODE_PROJECT,
  LD_MODE_BROKER,
} ld_mode;

typedef struct ld_settings {
  ll_config cfg;
  ld_mode mode;
  const char *mode_name;
  bool data_given;   /* --data: `broker` writes broker.addr only then */
  bool api_insecure; /* http.insecure let an open API start: warn */
  char *read_token, *write_token; /* NULL: that access is open */
  char *tls_cert, *tls_key;       /* PEM text; NULL: plain HTTP */
  int64_t batch_max_events;       /* the command consumer's bounds */
  int64_t batch_max_ms;
  int64_t min_free_mb;
} ld_settings;

/* Read argv (MODE first; `lotlined --print-config ...` alone means `all`),
 * load and check every setting. Returns LD_SETTINGS_RUN when the daemon is
 * to run, else the exit status: 0 after --help, --version or
 * --print-config, LD_EXIT_USAGE after printing why on stderr. Free s with
 * ld_settings_free() either way. */
int ld_settings_load(ld_settings *s, int argc, char **argv);
void ld_settings_free(ld_settings *s);

/* Does this mode serve the HTTP API (and so need the exposure check)? */
bool ld_mode_has_api(ld_mode mode);

#endif
