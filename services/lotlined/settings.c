/* settings.c — lotlined's settings (see settings.h): argv, --config, the
 * environment, then every check, in that order. Two passes over argv: the
 * config file is read first so that flags override it; precedence is
 * defaults < file < LOTLINE_* environment < flags (docs/operations.md). */
#include "settings.h"

#include <getopt.h>
#include <librdkafka/rdkafka.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"
#include "ll_api.h"
#include "ll_kafka.h"
#include "ll_types.h"

enum {
  OPT_DATA = 1,
  OPT_BROKERS,
  OPT_HTTP,
  OPT_CONFIG,
  OPT_SET,
  OPT_LOG,
  OPT_LOG_FORMAT,
  OPT_PRINT_CONFIG,
  OPT_HELP
};

static const struct option longopts[] = {
    {"data", required_argument, NULL, OPT_DATA},
    {"brokers", required_argument, NULL, OPT_BROKERS},
    {"http", required_argument, NULL, OPT_HTTP},
    {"config", required_argument, NULL, OPT_CONFIG},
    {"set", required_argument, NULL, OPT_SET},
    {"log-level", required_argument, NULL, OPT_LOG},
    {"log-format", required_argument, NULL, OPT_LOG_FORMAT},
    {"print-config", no_argument, NULL, OPT_PRINT_CONFIG},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0}};

static const char *const mode_names[] = {"all", "command", "project", "broker"};

/* What the first pass over argv finds. */
typedef struct first_pass {
  int first_opt; /* argv index of the first option */
  const char *config_file;
  bool print_config;
} first_pass;

static void usage(FILE *out) {
  fprintf(
      out,
      "usage: lotlined MODE [options]\n"
      "       lotlined --print-config [options]   (the settings of `all`)\n"
      "\n"
      "Lot and serial-number traceability service.\n"
      "\n"
      "modes:\n"
      "  all       command consumer + projection worker + HTTP API in one\n"
      "            process; without --brokers it starts the embedded broker\n"
      "            and writes its bootstrap list to <data>/broker.addr\n"
      "  command   the command consumer alone (owns <data>/log)\n"
      "  project   the projection worker + HTTP API (reads <data>/log,\n"
      "            owns <data>/views)\n"
      "  broker    the embedded broker alone; prints its bootstrap list as\n"
      "            the first line on stdout\n"
      "\n"
      "options:\n"
      "  --data DIR          data directory (default ./lotline-data)\n"
      "  --brokers LIST      Kafka bootstrap servers; command and project\n"
      "                      fall back to <data>/broker.addr\n"
      "  --http HOST:PORT    HTTP API address (default 127.0.0.1:8080;\n"
      "                      port 0 picks a free one, see <data>/http.addr)\n"
      "  --config FILE       key=value settings (see below)\n"
      "  --set KEY=VALUE     one setting (repeatable)\n"
      "  --log-level LEVEL   debug, info, warn, error\n"
      "  --log-format FMT    text, or json (one object per line: ts, level,\n"
      "                      component, msg)\n"
      "  --print-config      check every setting, print them with where\n"
      "                      each came from (secrets hidden), and exit\n"
      "  --help, --version\n"
      "\n"
      "Settings, lowest precedence first: defaults, --config FILE,\n"
      "LOTLINE_<KEY> environment variables (dots become underscores,\n"
      "e.g. LOTLINE_HTTP_LISTEN), then flags. Every value is checked at\n"
      "start-up, kafka.* ones by librdkafka; an unknown key, a bad value or\n"
      "an unknown LOTLINE_* variable stops the start with exit status 2 and\n"
      "a message naming it.\n"
      "\n"
      "HTTP: GET /healthz (alive), /readyz (the views within ready.lag.max\n"
      "of the log, and in 'all' the consumer holds partitions), /metrics\n"
      "(Prometheus text). An http.listen that is not loopback needs\n"
      "http.token.write (or http.insecure = true, to accept open writes).\n"
      "With http.token.write set, writes need\n"
      "'Authorization: Bearer <token>'; with http.token.read set too, so\n"
      "do reads and /metrics. http.tls.cert + http.tls.key serve HTTPS.\n"
      "'command' serves /healthz, /readyz and /metrics on metrics.listen.\n"
      "\n"
      "keys:                           default            meaning\n");
  ll_config_print_keys(out);
  fprintf(out,
          "\n"
          "files in the data directory: log/ (the event log, RocksDB),\n"
          "views/ (the read models), broker.addr (embedded broker's\n"
          "bootstrap list), http.addr (the API's HOST:PORT, https://HOST:PORT\n"
          "with TLS), metrics.addr (metrics.listen's HOST:PORT).\n"
          "\n"
          "SIGTERM or SIGINT: the batch in flight is synced, then exit 0.\n"
          "Exit status: 0 on success, 1 on runtime failure, 2 on bad "
          "usage.\n");
}

/* A bad command line: one line on stderr, exit status 2. */
static int fail_usage(const char *fmt, const char *arg) {
  fprintf(stderr, "lotlined: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, " (see lotlined --help)\n");
  return LD_EXIT_USAGE;
}

/* A bad setting: one line naming it, exit 2. Its kind is CONFIG whichever
 * layer found the fault (librdkafka on kafka.*, TLS on the PEM files). */
static int fail_setting(const ll_err *e) {
  fprintf(stderr, "lotlined: %s (%s)\n", e->message,
          ll_err_kind_name(LL_ERR_CONFIG));
  return LD_EXIT_USAGE;
}

bool ld_mode_has_api(ld_mode mode) {
  return mode == LD_MODE_ALL || mode == LD_MODE_PROJECT;
}

/* argv[1]: the mode, or --help / --version, or an option: only
 * `lotlined --print-config ...` may leave the mode out (it means `all`). */
static int parse_mode(ld_settings *s, int argc, char **argv, int *first_opt) {
  if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
      strcmp(argv[1], "-h") == 0) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? LD_EXIT_USAGE : 0;
  }
  if (strcmp(argv[1], "--version") == 0) {
    printf("lotlined %s\n", LOTLINE_VERSION);
    return 0;
  }
  if (argv[1][0] == '-') {
    for (int i = 1; i < argc; i++) {
      if (strcmp(argv[i], "--print-config") == 0) {
        s->mode = LD_MODE_ALL;
        s->mode_name = mode_names[LD_MODE_ALL];
        *first_opt = 1;
        return LD_SETTINGS_RUN;
      }
    }
    return fail_usage("missing MODE (all, command, project or broker) "
                      "before '%s'",
                      argv[1]);
  }
  for (size_t m = 0; m < sizeof mode_names / sizeof *mode_names; m++) {
    if (strcmp(argv[1], mode_names[m]) == 0) {
      s->mode = (ld_mode)m;
      s->mode_name = mode_names[m];
      *first_opt = 2;
      return LD_SETTINGS_RUN;
    }
  }
  return fail_usage("unknown mode '%s'", argv[1]);
}

/* Pass one: --config, --print-config, --help, and the shape of argv. */
static int scan_options(int argc, char **argv, first_pass *fp) {
  opterr = 0;
  optind = fp->first_opt;
  int c;
  while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    if (c == OPT_CONFIG)
      fp->config_file = optarg;
    else if (c == OPT_PRINT_CONFIG)
      fp->print_config = true;
    else if (c == OPT_HELP) {
      usage(stdout);
      return 0;
    } else if (c == '?')
      return fail_usage("unknown or incomplete option '%s'", argv[optind - 1]);
  }
  if (optind < argc)
    return fail_usage("unexpected argument '%s'", argv[optind]);
  return LD_SETTINGS_RUN;
}

/* One flag of pass two into the settings. */
static int apply_flag(ld_settings *s, int c, char *arg, ll_err *e) {
  static const struct {
    int opt;
    const char *key;
  } keys[] = {{OPT_DATA, "data"},
              {OPT_BROKERS, "brokers"},
              {OPT_HTTP, "http.listen"},
              {OPT_LOG, "log.level"},
              {OPT_LOG_FORMAT, "log.format"}};
  for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
    if (keys[i].opt == c) {
      s->data_given |= c == OPT_DATA;
      return ll_config_set(&s->cfg, keys[i].key, arg, e);
    }
  }
  if (c != OPT_SET)
    return 0;
  char *eq = strchr(arg, '=');
  if (eq == NULL)
    return ll_fail(e, LL_ERR_CONFIG, "--set needs KEY=VALUE, got '%s'", arg);
  *eq = '\0';
  int rc = ll_config_set(&s->cfg, arg, eq + 1, e);
  *eq = '=';
  return rc;
}

/* Pass two: the file, the environment, then the flags over them. */
static int load_sources(ld_settings *s, int argc, char **argv,
                        const first_pass *fp) {
  ll_err e;
  if (fp->config_file && ll_config_load_file(&s->cfg, fp->config_file, &e))
    return fail_setting(&e);
  if (ll_config_load_env(&s->cfg, &e) != 0)
    return fail_setting(&e);
  optind = fp->first_opt;
  int c;
  while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1)
    if (apply_flag(s, c, optarg, &e) != 0)
      return fail_setting(&e);
  return LD_SETTINGS_RUN;
}

static void quiet_rdkafka_log(const rd_kafka_t *rk, int level, const char *fac,
                              const char *buf) {
  (void)rk;
  (void)level;
  (void)fac;
  (void)buf;
}

/* librdkafka's own verdict on the kafka.* properties: every one is set on a
 * fresh configuration (unknown names and bad values fail there, naming the
 * key), then a client is created and dropped, which checks what only
 * creation checks (TLS files, SASL mechanisms). No broker is contacted. */
static int check_kafka_settings(const ll_config *cfg, ll_err *err) {
  bool any = false;
  for (size_t i = 0; i < cfg->len && !any; i++)
    any = strncmp(cfg->entries[i].key, "kafka.", 6) == 0;
  if (!any)
    return 0;
  rd_kafka_conf_t *conf = ll_kafka_conf_new(NULL, 0, cfg, "kafka", err);
  if (conf == NULL)
    return -1;
  rd_kafka_conf_set_log_cb(conf, quiet_rdkafka_log);
  char errstr[512];
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (rk == NULL) {
    rd_kafka_conf_destroy(conf);
    return ll_fail(err, LL_ERR_CONFIG, "kafka.* settings: %s", errstr);
  }
  rd_kafka_destroy(rk);
  return 0;
}

/* The tokens, and the HTTPS pair read and checked to belong together. */
static int read_secrets(ld_settings *s, ll_err *e) {
  if (ll_config_get_secret(&s->cfg, "http.token.read", &s->read_token, e) ||
      ll_config_get_secret(&s->cfg, "http.token.write", &s->write_token, e))
    return -1;
  if (!ll_config_has(&s->cfg, "http.tls.cert"))
    return 0;
  ll_err fe;
  if (ll_config_read_file(ll_config_get(&s->cfg, "http.tls.cert"),
                          LL_CONFIG_PEM_MAX_BYTES, &s->tls_cert, NULL,
                          &fe) != 0)
    return ll_fail(e, LL_ERR_CONFIG, "config key 'http.tls.cert': %s",
                   fe.message);
  if (ll_config_read_file(ll_config_get(&s->cfg, "http.tls.key"),
                          LL_CONFIG_PEM_MAX_BYTES, &s->tls_key, NULL, &fe) != 0)
    return ll_fail(e, LL_ERR_CONFIG, "config key 'http.tls.key': %s",
                   fe.message);
  return ll_api_check_tls(s->tls_cert, s->tls_key, e);
}

/* One of the command consumer's bounds (command.h), named on error. */
static int read_bound(const ll_config *cfg, const char *key, int64_t min,
                      int64_t max, int64_t *out, ll_err *e) {
  if (ll_config_get_int(cfg, key, out, e) != 0)
    return -1;
  if (*out < min || *out > max)
    return ll_fail(e, LL_ERR_CONFIG,
                   "config key '%s' must be %lld..%lld, got %lld", key,
                   (long long)min, (long long)max, (long long)*out);
  return 0;
}

static int read_command_bounds(ld_settings *s, ll_err *e) {
  if (s->mode != LD_MODE_ALL && s->mode != LD_MODE_COMMAND)
    return 0;
  if (read_bound(&s->cfg, "batch.max.events", 1, LL_BATCH_MAX_EVENTS_LIMIT,
                 &s->batch_max_events, e) != 0 ||
      read_bound(&s->cfg, "batch.max.ms", 0, LL_BATCH_MAX_MS_LIMIT,
                 &s->batch_max_ms, e) != 0 ||
      read_bound(&s->cfg, "storage.min.free.mb", 0, LL_MIN_FREE_MB_LIMIT,
                 &s->min_free_mb, e) != 0)
    return -1;
  return 0;
}

/* Everything the settings name, checked before anything starts: files,
 * related keys, kafka.*, tokens, the HTTPS pair, who can reach the API. */
static int check_settings(ld_settings *s) {
  ll_err e;
  if (ll_config_check(&s->cfg, &e) != 0 ||
      check_kafka_settings(&s->cfg, &e) != 0 || read_secrets(s, &e) != 0 ||
      read_command_bounds(s, &e) != 0)
    return fail_setting(&e);
  if (ld_mode_has_api(s->mode) &&
      ll_config_check_exposure(&s->cfg, &s->api_insecure, &e) != 0)
    return fail_setting(&e);
  return LD_SETTINGS_RUN;
}

int ld_settings_load(ld_settings *s, int argc, char **argv) {
  memset(s, 0, sizeof *s);
  ll_config_init(&s->cfg);
  first_pass fp = {0};
  int rc = parse_mode(s, argc, argv, &fp.first_opt);
  if (rc == LD_SETTINGS_RUN)
    rc = scan_options(argc, argv, &fp);
  if (rc == LD_SETTINGS_RUN)
    rc = load_sources(s, argc, argv, &fp);
  if (rc == LD_SETTINGS_RUN)
    rc = check_settings(s);
  if (rc == LD_SETTINGS_RUN && fp.print_config) {
    ll_config_print(&s->cfg, stdout);
    rc = 0;
  }
  return rc;
}

void ld_settings_free(ld_settings *s) {
  ll_config_free(&s->cfg);
  free(s->read_token);
  free(s->write_token);
  free(s->tls_cert);
  free(s->tls_key);
  s->read_token = s->write_token = s->tls_cert = s->tls_key = NULL;
}
