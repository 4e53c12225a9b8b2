/* main.c — the lotline CLI's entry point and command table.
 *
 * `lotline [GLOBAL OPTIONS] COMMAND [OPTIONS] [ARGS]`. main() reads the
 * global options that come before the command, looks the command up in
 * the table below and hands it the rest of argv; the command parses its own
 * options (global ones are accepted there too, so `lotline show L --json`
 * works) and talks to the HTTP API. New commands are one more row in
 * `commands`. */
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const cli_command *const commands[] = {
    &cli_cmd_create,
    &cli_cmd_update,
    &cli_cmd_move,
    &cli_cmd_show,
    &cli_cmd_locations,
    &cli_cmd_lots,
    &cli_cmd_hold,
    &cli_cmd_release,
    /* bulk (cmd_bulk.c) */
    &cli_cmd_generate,
    &cli_cmd_import,
    /* traceability (cmd_trace.c) */
    &cli_cmd_history,
    &cli_cmd_trace,
    &cli_cmd_recall,
    &cli_cmd_stock,
    &cli_cmd_expiring,
    &cli_cmd_balance,
    /* administration (cmd_admin.c) */
    &cli_cmd_verify,
    &cli_cmd_rebuild,
    &cli_cmd_backup,
    &cli_cmd_views_dump,
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static const char usage_head[] =
    "lotline - command-line client of the lotline HTTP API\n"
    "\n"
    "Usage: lotline [GLOBAL OPTIONS] COMMAND [OPTIONS] [ARGS]\n"
    "       lotline help [COMMAND]\n"
    "\n"
    "Commands:\n";

static const char usage_tail[] =
    "\n"
    "Global options (before or after the command):\n"
    "  --api URL        the lotline HTTP API, e.g. http://127.0.0.1:8080\n"
    "  --data DIR       use the address lotlined wrote to DIR/http.addr\n"
    "  --json           print the API's JSON answer (pretty) instead of a\n"
    "                   table or view\n"
    "  --timeout-ms N   give up on a request after N milliseconds\n"
    "                   (default 10000)\n"
    "  -h, --help       this text; 'lotline COMMAND --help' for one command\n"
    "  --version        print the version\n"
    "\n"
    "The API address is the first of: --api URL; DIR/http.addr when --data\n"
    "DIR is given; the LOTLINE_API environment variable; "
    "http://127.0.0.1:8080.\n"
    "\n"
    "Environment:\n"
    "  LOTLINE_API      the API address (see above)\n"
    "  LOTLINE_TOKEN    sent as 'Authorization: Bearer <token>' (lotlined's\n"
    "                   http.token.read, or http.token.write for writes)\n"
    "  LOTLINE_CACERT   CA certificate file to trust for an https:// API\n"
    "\n"
    "Examples:\n"
    "  lotline create --product P-100 --lot-id LOT-2027-001 --name 0001 \\\n"
    "      --expiration-at 2027-03-01\n"
    "  lotline move --product P-100 --lot-id LOT-2027-001 --qty 10 \\\n"
    "      --from Vendors:SUPPLIER --to WH/Stock --reference PO-7\n"
    "  lotline move --product P-100 --lot-name 0001 --qty 2.5 \\\n"
    "      --from WH/Stock --to Customers:customer --reference SO-42\n"
    "  lotline update LOT-2027-001 --reference PO-7 --expected-version 1\n"
    "  lotline show LOT-2027-001\n"
    "  lotline locations LOT-2027-001 --all\n"
    "  lotline lots --product P-100 --limit 20\n"
    "  lotline history LOT-2027-001\n"
    "  lotline trace LOT-2027-001 --up\n"
    "  lotline recall LOT-2027-001 --format csv\n"
    "  lotline stock WH/Stock --children\n"
    "  lotline --data ./lotline-data --json show LOT-2027-001\n"
    "\n"
    "Exit status: 0 success; 1 runtime failure, or the API refused the\n"
    "request (\"lotline: CODE: message\" on stderr); 2 bad usage.\n";

static void print_main_usage(FILE *out) {
  fputs(usage_head, out);
  for (size_t i = 0; i < N_COMMANDS; i++) {
    if (commands[i]->summary != NULL) { /* NULL: hidden */
      fprintf(out, "  %-10s %s\n", commands[i]->name, commands[i]->summary);
    }
  }
  fputs(usage_tail, out);
}

static const cli_command *find_command(const char *name) {
  for (size_t i = 0; i < N_COMMANDS; i++) {
    if (strcmp(commands[i]->name, name) == 0) {
      return commands[i];
    }
  }
  return NULL;
}

/* `lotline help [COMMAND]` */
static int run_help(int argc, char **argv) {
  if (argc < 2) {
    print_main_usage(stdout);
    return CLI_EXIT_OK;
  }
  if (argc > 2) {
    return cli_usage_error(NULL, "help takes at most one command");
  }
  const cli_command *cmd = find_command(argv[1]);
  if (cmd == NULL) {
    return cli_usage_error(NULL, "unknown command '%s'", argv[1]);
  }
  return cli_print_usage(cmd);
}

/* Global options before the command ("+" stops at the command name).
 * Returns an exit status; *done says whether to stop with it now (help,
 * version, a usage error) or go on with the command at argv[*first]. */
static int parse_global(cli_ctx *ctx, int argc, char **argv, int *first,
                        bool *done) {
  opterr = 0;
  optind = 0; /* glibc: full re-initialisation */
  *done = true;
  for (;;) {
    int opt = getopt_long(argc, argv, "+:h", cli_global_options, NULL);
    if (opt == -1) {
      break;
    }
    switch (opt) {
    case CLI_OPT_HELP:
    case 'h':
      print_main_usage(stdout);
      return CLI_EXIT_OK;
    case CLI_OPT_VERSION:
      printf("lotline %s\n", LOTLINE_VERSION);
      return CLI_EXIT_OK;
    case ':':
    case '?':
      return cli_option_error(NULL, opt, argv);
    default: {
      int rc = cli_apply_global(ctx, opt, optarg, NULL);
      if (rc != CLI_EXIT_OK) {
        return rc;
      }
      break;
    }
    }
  }
  *first = optind;
  *done = false;
  return CLI_EXIT_OK;
}

int main(int argc, char **argv) {
  cli_ctx ctx = {.timeout_ms = CLI_TIMEOUT_MS_DEFAULT};
  int first = 0;
  bool done = false;
  int rc = parse_global(&ctx, argc, argv, &first, &done);
  if (done) {
    return rc;
  }
  if (first >= argc) {
    return cli_usage_error(NULL, "missing command");
  }
  const char *name = argv[first];
  if (strcmp(name, "help") == 0) {
    return run_help(argc - first, argv + first);
  }
  const cli_command *cmd = find_command(name);
  if (cmd == NULL) {
    return cli_usage_error(NULL, "unknown command '%s'", name);
  }
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    return cli_fail("cannot initialise libcurl");
  }
  rc = cmd->run(&ctx, cmd, argc - first, argv + first);
  if (fflush(stdout) != 0 && rc == CLI_EXIT_OK) {
    rc = cli_fail("cannot write to stdout");
  }
  free(ctx.api_url);
  curl_global_cleanup();
  return rc;
}
