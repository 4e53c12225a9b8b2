/* cli_args.c — option parsing and value parsers for the lotline CLI.
 *
 * Commands parse with getopt_long over their own options plus the global
 * ones, so a global option may come before or after the command and
 * positionals may sit anywhere (GNU permutation; "--" ends options, for a
 * lot id that starts with '-'). getopt's own messages are switched off: every
 * usage error is one line, "lotline CMD: reason (see 'lotline CMD --help')",
 * and exit status 2.
 *
 * Values are checked here, before any request, when the check is about
 * form (a number, a decimal, a time, a usage name). Domain rules (does the
 * lot exist, is there enough stock) stay with the API. */
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ll_mem.h"
#include "ll_text.h"
#include "ll_time.h"
#include "ll_types.h"

#define USAGE_NAME_MAX 16 /* longest usage symbol is 10 characters */

const struct option cli_global_options[] = {
    {"api", required_argument, NULL, CLI_OPT_API},
    {"data", required_argument, NULL, CLI_OPT_DATA},
    {"json", no_argument, NULL, CLI_OPT_JSON},
    {"timeout-ms", required_argument, NULL, CLI_OPT_TIMEOUT_MS},
    {"help", no_argument, NULL, CLI_OPT_HELP},
    {"version", no_argument, NULL, CLI_OPT_VERSION},
    {NULL, 0, NULL, 0},
};

static void vreport(const cli_command *cmd, const char *fmt, va_list ap) {
  fprintf(stderr, "lotline%s%s: ", cmd ? " " : "", cmd ? cmd->name : "");
  vfprintf(stderr, fmt, ap);
}

int cli_usage_error(const cli_command *cmd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vreport(cmd, fmt, ap);
  va_end(ap);
  fprintf(stderr, " (see 'lotline%s%s --help')\n", cmd ? " " : "",
          cmd ? cmd->name : "");
  return CLI_EXIT_USAGE;
}

int cli_fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vreport(NULL, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  return CLI_EXIT_FAILURE;
}

int cli_print_usage(const cli_command *cmd) {
  fputs(cmd->usage, stdout);
  return CLI_EXIT_OK;
}

int cli_option_error(const cli_command *cmd, int opt, char **argv) {
  /* getopt has moved past the offending argument; a short option is named
   * by optopt because it may sit inside a group such as -hx. (For a long
   * option glibc puts its value in optopt, which is never below 0x100.) */
  if (optopt > 0 && optopt < CLI_OPT_COMMAND_FIRST) {
    if (opt == ':') {
      return cli_usage_error(cmd, "-%c needs a value", optopt);
    }
    return cli_usage_error(cmd, "unknown option -%c", optopt);
  }
  const char *arg = argv[optind - 1];
  if (opt == ':') {
    return cli_usage_error(cmd, "%s needs a value", arg);
  }
  return cli_usage_error(cmd, "unknown or ambiguous option %s", arg);
}

int cli_apply_global(cli_ctx *ctx, int opt, const char *value,
                     const cli_command *cmd) {
  switch (opt) {
  case CLI_OPT_API:
    if (ll_text_blank(value)) {
      return cli_usage_error(cmd, "--api needs a URL");
    }
    ctx->api_flag = value;
    return CLI_EXIT_OK;
  case CLI_OPT_DATA:
    if (ll_text_blank(value)) {
      return cli_usage_error(cmd, "--data needs a directory");
    }
    ctx->data_dir = value;
    return CLI_EXIT_OK;
  case CLI_OPT_JSON:
    ctx->json = true;
    return CLI_EXIT_OK;
  case CLI_OPT_TIMEOUT_MS: {
    int64_t ms = 0;
    int rc =
        cli_parse_int(cmd, "--timeout-ms", value, 1, CLI_TIMEOUT_MS_MAX, &ms);
    if (rc == CLI_EXIT_OK) {
      ctx->timeout_ms = (int)ms;
    }
    return rc;
  }
  default:
    /* Help and version are handled by the callers. */
    return cli_usage_error(cmd, "option not allowed here");
  }
}

void cli_args_init(cli_args *a, cli_ctx *ctx, const cli_command *cmd, int argc,
                   char **argv, const struct option *cmd_options) {
  memset(a, 0, sizeof *a);
  a->ctx = ctx;
  a->cmd = cmd;
  a->argc = argc;
  a->argv = argv;
  cli_args_add(a, cmd_options);
  size_t n = a->n_options;
  for (size_t i = 0; cli_global_options[i].name != NULL; i++) {
    if (cli_global_options[i].val == CLI_OPT_VERSION) {
      continue; /* only before the command */
    }
    assert(n + 1 < CLI_OPTIONS_MAX);
    a->options[n++] = cli_global_options[i];
  }
  a->n_options = n;
  memset(&a->options[n], 0, sizeof a->options[n]);
  strcpy(a->short_options, ":h");
  opterr = 0;
  optind = 0; /* glibc: full re-initialisation, parsing starts at argv[1] */
}

void cli_args_add(cli_args *a, const struct option *more) {
  size_t n = a->n_options;
  for (size_t i = 0; more[i].name != NULL; i++) {
    assert(n + 1 < CLI_OPTIONS_MAX);
    /* Command values must not collide with 'h', '?', ':' or globals, and
     * must have a slot in cli_args_parse(). */
    assert(more[i].val >= CLI_OPT_COMMAND_FIRST &&
           more[i].val < CLI_OPT_COMMAND_FIRST + CLI_OPT_SLOTS);
    a->options[n++] = more[i];
  }
  a->n_options = n;
  memset(&a->options[n], 0, sizeof a->options[n]);
}

bool cli_args_parse(cli_args *a, const char *vals[CLI_OPT_SLOTS], int *rc) {
  *rc = CLI_EXIT_OK;
  for (int opt = cli_args_next(a); opt != CLI_ARGS_END;
       opt = cli_args_next(a)) {
    if (opt == CLI_ARGS_HELP) {
      *rc = cli_print_usage(a->cmd);
      return false;
    }
    if (opt == CLI_ARGS_ERROR) {
      *rc = CLI_EXIT_USAGE;
      return false;
    }
    CLI_VAL(vals, opt) = a->value != NULL ? a->value : "";
    if (opt == a->repeat_opt && a->repeat_opt != 0) {
      if (a->n_repeated == CLI_REPEAT_MAX) {
        *rc =
            cli_usage_error(a->cmd, "at most %d such options", CLI_REPEAT_MAX);
        return false;
      }
      a->repeated[a->n_repeated++] = CLI_VAL(vals, opt);
    }
  }
  return true;
}

int cli_put_properties(const cli_args *a, json_t *body, bool clearable) {
  if (a->n_repeated == 0) {
    return CLI_EXIT_OK;
  }
  json_t *props = json_object();
  json_object_set_new(body, "properties", props);
  for (size_t i = 0; i < a->n_repeated; i++) {
    const char *kv = a->repeated[i];
    const char *eq = strchr(kv, '=');
    if (eq == NULL || eq == kv || (!clearable && eq[1] == '\0')) {
      return cli_usage_error(a->cmd, "--property must be KEY=VALUE%s, not '%s'",
                             clearable ? " (KEY= removes KEY)" : "", kv);
    }
    char *key = strndup(kv, (size_t)(eq - kv));
    json_t *value = json_string(eq + 1);
    int rc = key == NULL || value == NULL ||
                     json_object_set_new(props, key, value) != 0
                 ? cli_usage_error(a->cmd, "--property '%s' is not UTF-8", kv)
                 : CLI_EXIT_OK;
    free(key);
    if (rc != CLI_EXIT_OK) {
      return rc;
    }
  }
  return CLI_EXIT_OK;
}

int cli_no_args(const cli_args *a) {
  if (a->first_arg < a->argc) {
    return cli_usage_error(a->cmd, "unexpected argument '%s'",
                           a->argv[a->first_arg]);
  }
  return CLI_EXIT_OK;
}

int cli_one_arg(const cli_args *a, const char *name, const char **out) {
  if (a->first_arg >= a->argc) {
    return cli_usage_error(a->cmd, "missing %s", name);
  }
  if (a->first_arg + 1 < a->argc) {
    return cli_usage_error(a->cmd, "unexpected argument '%s'",
                           a->argv[a->first_arg + 1]);
  }
  *out = a->argv[a->first_arg];
  return CLI_EXIT_OK;
}

int cli_args_next(cli_args *a) {
  for (;;) {
    optopt = 0;
    int opt = getopt_long(a->argc, a->argv, a->short_options, a->options, NULL);
    a->value = optarg;
    if (opt == -1) {
      a->first_arg = optind;
      return CLI_ARGS_END;
    }
    if (opt == 'h' || opt == CLI_OPT_HELP) {
      return CLI_ARGS_HELP;
    }
    if (opt == ':' || opt == '?') {
      cli_option_error(a->cmd, opt, a->argv);
      return CLI_ARGS_ERROR;
    }
    if (opt >= CLI_OPT_GLOBAL_FIRST) {
      if (cli_apply_global(a->ctx, opt, optarg, a->cmd) != CLI_EXIT_OK) {
        return CLI_ARGS_ERROR;
      }
      continue;
    }
    return opt;
  }
}

int cli_parse_int(const cli_command *cmd, const char *option, const char *text,
                  int64_t min, int64_t max, int64_t *out) {
  char *end = NULL;
  errno = 0;
  long long v = strtoll(text, &end, 10);
  if (text[0] == '\0' || *end != '\0' || errno != 0 || isspace(text[0])) {
    return cli_usage_error(cmd, "%s '%s' is not a whole number", option, text);
  }
  if (v < min || v > max) {
    return cli_usage_error(cmd, "%s must be between %lld and %lld", option,
                           (long long)min, (long long)max);
  }
  *out = v;
  return CLI_EXIT_OK;
}

int cli_parse_quantity(const cli_command *cmd, const char *option,
                       const char *text, char out[LL_DECIMAL_STR_MAX]) {
  int64_t micro = 0;
  switch (ll_decimal_parse(text, &micro)) {
  case LL_DEC_OK:
    break;
  case LL_DEC_SCALE:
    return cli_usage_error(cmd, "%s '%s' has more than %d decimals", option,
                           text, LL_QUANTITY_SCALE);
  case LL_DEC_OVERFLOW:
    return cli_usage_error(cmd, "%s '%s' is too large", option, text);
  case LL_DEC_SYNTAX:
  default:
    return cli_usage_error(cmd, "%s '%s' is not a decimal number (e.g. 2.5)",
                           option, text);
  }
  if (micro <= 0) {
    return cli_usage_error(cmd, "%s must be greater than 0", option);
  }
  ll_decimal_format(micro, out);
  return CLI_EXIT_OK;
}

static bool is_plain_date(const char *s) {
  /* YYYY-MM-DD */
  static const char shape[] = "dddd-dd-dd";
  for (size_t i = 0; i < sizeof shape - 1; i++) {
    bool ok =
        shape[i] == 'd' ? isdigit((unsigned char)s[i]) != 0 : s[i] == shape[i];
    if (!ok) {
      return false;
    }
  }
  return s[sizeof shape - 1] == '\0';
}

int cli_parse_time(const cli_command *cmd, const char *option, const char *text,
                   char out[CLI_TIME_STR_MAX]) {
  int64_t ms = 0;
  bool ok = ll_time_parse(text, &ms);
  if (!ok && is_plain_date(text)) {
    char full[CLI_TIME_STR_MAX];
    snprintf(full, sizeof full, "%sT00:00:00Z", text);
    ok = ll_time_parse(full, &ms);
  }
  if (!ok) {
    return cli_usage_error(cmd,
                           "%s '%s' is not a time (use 2027-03-01 or "
                           "2027-03-01T00:00:00Z)",
                           option, text);
  }
  ll_time_format(ms, out);
  return CLI_EXIT_OK;
}

int cli_parse_location(const cli_command *cmd, const char *option,
                       const char *text, char **id_out, ll_usage *usage_out) {
  const char *colon = strrchr(text, ':');
  ll_usage usage = LL_USAGE_INTERNAL;
  size_t id_len = strlen(text);
  if (colon != NULL) {
    char name[USAGE_NAME_MAX];
    if (!ll_text_upper(colon + 1, name, sizeof name) ||
        !ll_usage_parse(name, &usage)) {
      return cli_usage_error(
          cmd,
          "%s '%s': unknown usage '%s' (one of INTERNAL, TRANSIT, SUPPLIER, "
          "CUSTOMER, INVENTORY, PRODUCTION, SCRAP; the usage goes after the "
          "last ':')",
          option, text, colon + 1);
    }
    id_len = (size_t)(colon - text);
  }
  char *id = strndup(text, id_len);
  if (id == NULL) {
    abort(); /* out of memory: see ll_xmalloc */
  }
  if (ll_text_blank(id)) {
    free(id);
    return cli_usage_error(cmd, "%s '%s' has no location id", option, text);
  }
  *id_out = id;
  *usage_out = usage;
  return CLI_EXIT_OK;
}

int cli_parse_tracking(const cli_command *cmd, const char *text,
                       ll_tracking *out) {
  char name[USAGE_NAME_MAX];
  if (!ll_text_upper(text, name, sizeof name) ||
      !ll_tracking_parse(name, out)) {
    return cli_usage_error(cmd, "--tracking '%s' must be lot or serial", text);
  }
  return CLI_EXIT_OK;
}

int cli_require(const cli_command *cmd, const char *option, const char *value) {
  if (value == NULL) {
    return cli_usage_error(cmd, "missing %s", option);
  }
  if (ll_text_blank(value)) {
    return cli_usage_error(cmd, "%s must not be empty", option);
  }
  return CLI_EXIT_OK;
}

int cli_put_text(const cli_command *cmd, json_t *obj, const char *key,
                 const char *option, const char *value) {
  json_t *v = json_string(value);
  if (v == NULL) {
    return cli_usage_error(cmd, "%s is not valid UTF-8", option);
  }
  if (json_object_set_new(obj, key, v) != 0) {
    abort(); /* only fails on out of memory */
  }
  return CLI_EXIT_OK;
}

int cli_one_lot_id(const cli_args *a, const char **lot_id) {
  int rc = cli_one_arg(a, "LOT_ID", lot_id);
  if (rc == CLI_EXIT_OK && ll_text_blank(*lot_id)) {
    return cli_usage_error(a->cmd, "LOT_ID must not be empty");
  }
  return rc;
}

const struct option cli_lot_product_options[] = {
    {"product", required_argument, NULL, CLI_OPT_LOT_PRODUCT},
    {NULL, 0, NULL, 0},
};

bool cli_args_parse_lot(cli_args *a, const char *vals[CLI_OPT_SLOTS],
                        const char **lot_id, int *rc) {
  cli_args_add(a, cli_lot_product_options);
  if (!cli_args_parse(a, vals, rc))
    return false;
  *rc = cli_one_lot_id(a, lot_id);
  return *rc == CLI_EXIT_OK;
}

const struct option cli_lot_detail_options[] = {
    {"reference", required_argument, NULL, CLI_OPT_REFERENCE},
    {"description", required_argument, NULL, CLI_OPT_DESCRIPTION},
    {"expiration-at", required_argument, NULL, CLI_OPT_EXPIRATION_AT},
    {"use-by-at", required_argument, NULL, CLI_OPT_USE_BY_AT},
    {"removal-at", required_argument, NULL, CLI_OPT_REMOVAL_AT},
    {"alert-at", required_argument, NULL, CLI_OPT_ALERT_AT},
    {NULL, 0, NULL, 0},
};

/* The texts first, then the dates; in the order of the event's fields. */
static const struct {
  int opt;
  const char *option;
  const char *key;
  bool is_time;
} lot_details[] = {
    {CLI_OPT_REFERENCE, "--reference", "reference", false},
    {CLI_OPT_DESCRIPTION, "--description", "description", false},
    {CLI_OPT_EXPIRATION_AT, "--expiration-at", "expiration_at", true},
    {CLI_OPT_USE_BY_AT, "--use-by-at", "use_by_at", true},
    {CLI_OPT_REMOVAL_AT, "--removal-at", "removal_at", true},
    {CLI_OPT_ALERT_AT, "--alert-at", "alert_at", true},
};

int cli_put_lot_details(const cli_command *cmd, json_t *body,
                        const char *const vals[CLI_OPT_SLOTS], bool clearable) {
  int rc = CLI_EXIT_OK;
  for (size_t i = 0; i < sizeof lot_details / sizeof lot_details[0]; i++) {
    const char *value = CLI_VAL(vals, lot_details[i].opt);
    if (value == NULL ||
        (!lot_details[i].is_time && !clearable && value[0] == '\0')) {
      continue;
    }
    char text[CLI_TIME_STR_MAX];
    if (lot_details[i].is_time) {
      rc = cli_parse_time(cmd, lot_details[i].option, value, text);
      value = text;
    }
    if (rc == CLI_EXIT_OK) {
      rc = cli_put_text(cmd, body, lot_details[i].key, lot_details[i].option,
                        value);
    }
    if (rc != CLI_EXIT_OK) {
      return rc;
    }
  }
  return rc;
}

int cli_check_idempotency_key(const cli_command *cmd, const char *key) {
  if (key != NULL &&
      (ll_text_blank(key) ||
       ll_text_check(key, LL_TEXT_MAX_CHARS, 0, false) != LL_TEXT_OK)) {
    return cli_usage_error(cmd,
                           "--idempotency-key must be printable text of 1 "
                           "to %d characters",
                           LL_TEXT_MAX_CHARS);
  }
  return CLI_EXIT_OK;
}
