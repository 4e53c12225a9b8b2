/* cli.h — what the lotline CLI's commands share.
 *
 * The CLI is a thin client of the HTTP API (docs/api.md): it never
 * touches Kafka, and only the administration commands (cmd_admin.c:
 * verify, rebuild, backup) open the RocksDB data directory. Each command
 * is one entry of a table in main.c
 * (name, one-line summary, full usage, run function) and lives in a
 * cmd_*.c file; adding a command means writing one function and one table
 * row. The pieces a command needs are here:
 *   cli_args.c    option parsing (global options are accepted before or
 *                 after the command) and the value parsers (quantity, time,
 *                 location, usage)
 *   cli_http.c    the API address, libcurl requests, API error reporting
 *   cli_output.c  aligned tables, "label: value" views, pretty JSON
 *
 * Exit status as docs/cli.md says: 0 success, 1 runtime failure (the API
 * refused, or could not be reached), 2 bad usage; always with a one-line
 * reason on stderr. */
#ifndef LOTLINE_CLI_H
#define LOTLINE_CLI_H

#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ll_decimal.h"
#include "ll_types.h"

#define CLI_EXIT_OK 0
#define CLI_EXIT_FAILURE 1
#define CLI_EXIT_USAGE 2

#define CLI_DEFAULT_API "http://127.0.0.1:8080"
#define CLI_API_ENV "LOTLINE_API"
#define CLI_TOKEN_ENV "LOTLINE_TOKEN"   /* bearer token for the API */
#define CLI_CACERT_ENV "LOTLINE_CACERT" /* CA file to trust for HTTPS */
#define CLI_HTTP_ADDR_FILE "http.addr"
/* Writes wait up to 5 s on the server (docs/api.md): leave room. */
#define CLI_TIMEOUT_MS_DEFAULT 10000
#define CLI_TIMEOUT_MS_MAX 3600000
#define CLI_RESPONSE_MAX_BYTES (64u * 1024u * 1024u)
#define CLI_ADDR_FILE_MAX_BYTES 1024
#define CLI_OPTIONS_MAX 48 /* command options + global options + end */
#define CLI_TABLE_COLS_MAX 8
#define CLI_TIME_STR_MAX 40

/* Global state of one invocation, filled by the global options. */
typedef struct cli_ctx {
  const char *api_flag; /* --api, or NULL */
  const char *data_dir; /* --data, or NULL */
  bool json;            /* --json: print the API's JSON, pretty */
  int timeout_ms;
  char *api_url; /* resolved base URL without trailing '/'; malloc'd */
} cli_ctx;

typedef struct cli_command cli_command;
struct cli_command {
  const char *name;
  const char *summary; /* one line in `lotline --help` */
  const char *usage;   /* the whole text of `lotline NAME --help` */
  /* argv[0] is the command name. Returns an exit status. */
  int (*run)(cli_ctx *ctx, const cli_command *cmd, int argc, char **argv);
};

/* ---- commands (cmd_*.c), listed in main.c's table ---- */
extern const cli_command cli_cmd_create;
extern const cli_command cli_cmd_update;
extern const cli_command cli_cmd_move;
extern const cli_command cli_cmd_show;
extern const cli_command cli_cmd_locations;
extern const cli_command cli_cmd_lots;
extern const cli_command cli_cmd_hold; /* cmd_hold.c */
extern const cli_command cli_cmd_release;
extern const cli_command cli_cmd_history; /* cmd_trace.c */
extern const cli_command cli_cmd_trace;
extern const cli_command cli_cmd_recall;
extern const cli_command cli_cmd_stock;
extern const cli_command cli_cmd_expiring;
extern const cli_command cli_cmd_balance; /* cmd_balance.c */
/* administration (cmd_admin.c); views-dump is hidden (summary NULL) */
extern const cli_command cli_cmd_verify;
extern const cli_command cli_cmd_rebuild;
extern const cli_command cli_cmd_backup;
extern const cli_command cli_cmd_views_dump;
extern const cli_command cli_cmd_generate; /* cmd_bulk.c */
extern const cli_command cli_cmd_import;   /* cmd_bulk.c */

/* POST .../hold or .../release of one lot (product_id may be NULL); on
 * success *lot_out is the lot the API answers with. Errors are reported
 * as cli_call does. */
int cli_hold_lot(cli_ctx *ctx, const char *product_id, const char *lot_id,
                 bool hold, const char *reason, const char *idempotency_key,
                 json_t **lot_out);

/* recall --hold: hold the recalled lot and every lot of the report's
 * "lots" that still has stock on hand; report["held"] lists them (lot_id,
 * product_id, on_hand, uom, reason, since; the reason and since of the
 * hold in force, which an earlier hold may have set). Stops at the first
 * failure, reported on stderr; report["held"] then lists the lots held
 * before it. */
int cli_recall_hold(cli_ctx *ctx, json_t *report, const char *reason);

/* ---- option parsing (cli_args.c) ---- */

/* Values returned for the global options; command options use their own
 * values from CLI_OPT_COMMAND_FIRST to below CLI_OPT_GLOBAL_FIRST. */
enum {
  CLI_OPT_COMMAND_FIRST = 0x100,
  CLI_OPT_GLOBAL_FIRST = 0x1000,
  CLI_OPT_API = CLI_OPT_GLOBAL_FIRST,
  CLI_OPT_DATA,
  CLI_OPT_JSON,
  CLI_OPT_TIMEOUT_MS,
  CLI_OPT_HELP,
  CLI_OPT_VERSION,
};

/* cli_args_next() results besides an option value. */
enum {
  CLI_ARGS_END = -1,   /* no more options; positionals from a->first_arg */
  CLI_ARGS_HELP = -2,  /* --help was given: print usage, exit 0 */
  CLI_ARGS_ERROR = -3, /* a usage error was printed: exit 2 */
};

#define CLI_REPEAT_MAX 64 /* values of a repeated option: LL_PROPERTIES_MAX */
typedef struct cli_args {
  cli_ctx *ctx;
  const cli_command *cmd;
  int argc;
  char **argv;
  struct option options[CLI_OPTIONS_MAX];
  size_t n_options; /* entries of options[] before the zeroed end */
  char short_options[8];
  const char *value; /* the current option's value, or NULL */
  int first_arg;     /* after CLI_ARGS_END: index of the first positional */
  /* One option may be given several times (--property): every value, in
   * order, besides the last one in its slot. 0 = none. */
  int repeat_opt;
  const char *repeated[CLI_REPEAT_MAX];
  size_t n_repeated;
} cli_args;

/* Options shared by every command (and accepted before the command). */
extern const struct option cli_global_options[];
/* Apply one global option to ctx; prints a usage error and returns
 * CLI_EXIT_USAGE when its value is bad. cmd is NULL before the command. */
int cli_apply_global(cli_ctx *ctx, int opt, const char *value,
                     const cli_command *cmd);
/* Report getopt's ':' (missing value) or '?' (unknown option) as a usage
 * error; returns CLI_EXIT_USAGE. */
int cli_option_error(const cli_command *cmd, int opt, char **argv);

/* Start parsing a command's argv (argv[0] = command name). cmd_options is
 * terminated by a zeroed entry; its values must be < CLI_OPT_GLOBAL_FIRST. */
void cli_args_init(cli_args *a, cli_ctx *ctx, const cli_command *cmd, int argc,
                   char **argv, const struct option *cmd_options);
/* Accept more command options (a group several commands share, such as
 * cli_lot_detail_options); call before the first cli_args_next(). */
void cli_args_add(cli_args *a, const struct option *more);
/* The next command option (value in a->value), or a CLI_ARGS_* result.
 * Global options are applied to the context and skipped. */
int cli_args_next(cli_args *a);

/* Where cli_args_parse() puts option values: one slot per command option
 * value, vals[opt - CLI_OPT_COMMAND_FIRST], read with CLI_VAL(). */
#define CLI_OPT_SLOTS 24
#define CLI_VAL(vals, opt) ((vals)[(opt)-CLI_OPT_COMMAND_FIRST])
/* Read every option: each value into its slot ("" for a flag; an absent
 * option leaves NULL). Returns true to go on with a->first_arg; false when
 * the command is done, *rc then being its exit status (--help printed the
 * usage: 0; a usage error was printed: 2). */
bool cli_args_parse(cli_args *a, const char *vals[CLI_OPT_SLOTS], int *rc);
/* No positional arguments after the options. */
int cli_no_args(const cli_args *a);
/* Exactly one positional argument, which the usage calls `name`. */
int cli_one_arg(const cli_args *a, const char *name, const char **out);

/* A lot's details: the options create, update and generate share. A
 * command that takes them numbers its own options from
 * CLI_OPT_LOT_DETAILS_END and adds cli_lot_detail_options. */
enum {
  CLI_OPT_REFERENCE = CLI_OPT_COMMAND_FIRST,
  CLI_OPT_DESCRIPTION,
  CLI_OPT_EXPIRATION_AT,
  CLI_OPT_USE_BY_AT,
  CLI_OPT_REMOVAL_AT,
  CLI_OPT_ALERT_AT,
  CLI_OPT_LOT_DETAILS_END,
};
extern const struct option cli_lot_detail_options[];
/* body gets reference, description and the dates given in vals, the dates
 * checked and written back in UTC. clearable: an empty text is sent (an
 * update clears it) rather than left out (a new lot has nothing to clear). */
int cli_put_lot_details(const cli_command *cmd, json_t *body,
                        const char *const vals[CLI_OPT_SLOTS], bool clearable);

/* --property KEY=VALUE, given a->n_repeated times: body["properties"] =
 * {KEY: VALUE, ...}. clearable: an empty VALUE is sent (an update removes
 * the key) rather than refused. */
int cli_put_properties(const cli_args *a, json_t *body, bool clearable);

/* Print the command's usage on stdout; returns CLI_EXIT_OK. */
int cli_print_usage(const cli_command *cmd);
/* Print "lotline CMD: <reason> (see 'lotline CMD --help')" on stderr and
 * return CLI_EXIT_USAGE. cmd may be NULL for the top level. */
int cli_usage_error(const cli_command *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Print "lotline: <reason>" on stderr and return CLI_EXIT_FAILURE. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Value parsers: 0 on success, else a usage error was printed and
 * CLI_EXIT_USAGE is returned. `option` names the option in messages. */
int cli_parse_int(const cli_command *cmd, const char *option, const char *text,
                  int64_t min, int64_t max, int64_t *out);
/* A positive decimal with at most 6 decimals, in canonical form. */
int cli_parse_quantity(const cli_command *cmd, const char *option,
                       const char *text, char out[LL_DECIMAL_STR_MAX]);
/* RFC 3339 ("2027-03-01T00:00:00Z", "...+02:00") or a plain date
 * ("2027-03-01" = midnight UTC); written back in UTC. */
int cli_parse_time(const cli_command *cmd, const char *option, const char *text,
                   char out[CLI_TIME_STR_MAX]);
/* "LOC[:USAGE]": split at the last ':'; the usage is case-insensitive and
 * defaults to INTERNAL. *id_out is malloc'd. */
int cli_parse_location(const cli_command *cmd, const char *option,
                       const char *text, char **id_out, ll_usage *usage_out);
/* "lot" or "serial", case-insensitive. */
int cli_parse_tracking(const cli_command *cmd, const char *text,
                       ll_tracking *out);
/* obj[key] = value as a JSON string; a usage error when value is not
 * valid UTF-8 (jansson refuses it). */
int cli_put_text(const cli_command *cmd, json_t *obj, const char *key,
                 const char *option, const char *value);
/* The single positional LOT_ID after the options (cli_one_arg), not
 * blank. */
int cli_one_lot_id(const cli_args *a, const char **lot_id);
/* --product P of the commands on one lot: a lot is (product_id, lot_id),
 * and with it they use the product-scoped routes. Its value is
 * CLI_VAL(vals, CLI_OPT_LOT_PRODUCT); the last command slot, which no
 * command's own options reach. */
#define CLI_OPT_LOT_PRODUCT (CLI_OPT_COMMAND_FIRST + CLI_OPT_SLOTS - 1)
extern const struct option cli_lot_product_options[];
/* The opening of a command on one lot: the options (cli_lot_product_options
 * added), then exactly one LOT_ID. Like cli_args_parse: true to go on,
 * false to return *rc (0 after --help). */
bool cli_args_parse_lot(cli_args *a, const char *vals[CLI_OPT_SLOTS],
                        const char **lot_id, int *rc);
/* --idempotency-key becomes an HTTP header and the event id: NULL (absent)
 * or one printable line of at most LL_TEXT_MAX_CHARS characters. */
int cli_check_idempotency_key(const cli_command *cmd, const char *key);
/* A required text option: present and not blank. */
int cli_require(const cli_command *cmd, const char *option, const char *value);

/* ---- HTTP (cli_http.c) ---- */

/* Work out ctx->api_url from --api, --data, $LOTLINE_API or the default.
 * Returns 0, or prints the reason and returns CLI_EXIT_FAILURE. */
int cli_resolve_api(cli_ctx *ctx);

/* The percent-encoded form of one path segment or query value (every byte
 * outside A-Z a-z 0-9 - . _ ~ is encoded; "." and ".." are encoded whole so
 * no one treats them as dot segments). malloc'd. */
char *cli_escape(const char *s);
/* "/v1/products/{product_id}/lots/{lot_id}", or without a product
 * "/v1/lots/{lot_id}" (which answers 409 AMBIGUOUS_LOT when two or more
 * products have a lot with that id), ids encoded, then rest ("",
 * "/moves"): malloc'd. */
char *cli_lot_path(const char *product_id, const char *lot_id,
                   const char *rest);

/* A request to the API. path starts with '/' and is already encoded. */
typedef struct cli_request {
  const char *method;          /* "GET", "POST", "PATCH" */
  const char *path;            /* "/v1/lots/L-1" */
  const json_t *body;          /* JSON body, or NULL */
  const char *idempotency_key; /* Idempotency-Key header, or NULL */
} cli_request;

/* Send the request. On a 2xx answer *out is its JSON (an empty object for
 * an empty body) and 0 is returned. Anything else is reported on stderr
 * ("lotline: CODE: message", "lotline: cannot reach the lotline API at
 * URL: ...") and CLI_EXIT_FAILURE is returned. */
int cli_call(cli_ctx *ctx, const cli_request *req, json_t **out);
/* answer[key] when it is an array; else the mismatch is reported (an API
 * answer without its rows must not pass for an empty list) and NULL is
 * returned. */
const json_t *cli_answer_array(const json_t *answer, const char *key);

/* ---- output (cli_output.c) ---- */

/* Heap printf; aborts when out of memory. */
char *cli_sprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A copy of s on one line: control characters (C0, DEL, C1, including
 * newlines) become spaces; cut to max_chars code points with "..." when
 * max_chars > 0. For text from the network on its way to a terminal. */
char *cli_one_line(const char *s, size_t max_chars);

typedef enum cli_align {
  CLI_ALIGN_LEFT = 0,
  CLI_ALIGN_RIGHT = 1,
} cli_align;

/* A table printed with columns padded to their widest cell (counted in
 * code points) and two spaces between columns. Cells are copied, with
 * control characters replaced so a value cannot break the layout. */
typedef struct cli_table {
  size_t n_cols;
  const char *headers[CLI_TABLE_COLS_MAX];
  cli_align align[CLI_TABLE_COLS_MAX];
  char **cells; /* n_rows * n_cols */
  size_t n_rows;
  size_t cap_rows;
} cli_table;

void cli_table_init(cli_table *t, size_t n_cols, const char *const *headers,
                    const cli_align *align);
void cli_table_add(cli_table *t, const char *const *cells);
void cli_table_print(const cli_table *t, FILE *out);
void cli_table_free(cli_table *t);

/* One "Label:  value" line of a view, labels padded to label_width.
 * Multi-line values are indented under the first line. */
void cli_view_line(FILE *out, int label_width, const char *label,
                   const char *value);

/* Display text of obj[key]: strings as they are, numbers in decimal,
 * "-" when absent or null. Borrowed or written into buf. */
const char *cli_json_text(const json_t *obj, const char *key, char *buf,
                          size_t buf_size);
/* A string member, or NULL. */
const char *cli_json_str(const json_t *obj, const char *key);
/* A quantity (decimal string) in canonical form; an unreadable value is
 * shown as it came, so nothing is hidden. */
const char *cli_json_quantity(const json_t *obj, const char *key,
                              char buf[LL_DECIMAL_STR_MAX]);

/* Pretty-print a JSON value on stdout (for --json). Returns 0. */
int cli_print_json(const json_t *value);
/* The lot as a "View": one label: value line per field. */
void cli_print_lot(FILE *out, const json_t *lot);

#endif
