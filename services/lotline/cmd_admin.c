/* cmd_admin.c — the administration commands: verify, rebuild, backup (and
 * the hidden views-dump). Unlike the rest of the CLI they work on the data
 * directory itself, through the log store and views libraries, because
 * they are about the databases as a whole (--data DIR, default
 * ./lotline-data, as for lotlined).
 *
 *   verify   opens the log as a RocksDB secondary (no lock: works while
 *            lotlined runs) and checks the hash chain from position 1
 *            (ll_store_verify). Prints "OK: N entries in T tasks, last hash H"
 * or the first bad position and why (exit 1). rebuild  replays the whole log
 * into fresh views and swaps them in atomically (ll_views_rebuild). The log is
 * read as a secondary (the command consumer may run); the views must not be in
 * use, so a running lotlined project/all makes it refuse (exit 1). Ctrl-C
 * cancels cleanly: the old views stay. backup   RocksDB checkpoints of the
 * views then the log into DIR/views and DIR/log. A checkpoint needs the handle
 * that owns the database (RocksDB cannot checkpoint a secondary), so: service
 * stopped      the CLI opens both and checkpoints them; lotlined all running
 * the CLI asks it (POST /v1/admin/backup, loopback only), it owns both; split
 * mode           lotlined project backs up the views it owns; the log's owner,
 * lotlined command, has no HTTP server, so it must be stopped for the backup
 * and the CLI checkpoints the log itself. Who owns what is found by trying: a
 * database the CLI can open as primary is not in use; a locked one belongs to a
 * running lotlined, reached at the address in DATA/http.addr.
 *
 * Progress goes to stderr: a bar redrawn in place when stderr is a
 * terminal, otherwise a plain line every PROGRESS_LINE_INTERVAL_MS. Results
 * go to stdout (as JSON with --json). */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "ll_store.h"
#include "ll_time.h"
#include "ll_types.h"
#include "ll_views.h"

#define DATA_DIR_DEFAULT "./lotline-data"
#define PROGRESS_BAR_WIDTH 30
#define PROGRESS_TTY_INTERVAL_MS 100   /* redraw of the bar */
#define PROGRESS_LINE_INTERVAL_MS 2000 /* plain lines when not a terminal */
#define BACKUP_HTTP_TIMEOUT_MS 600000  /* a checkpoint of a big store */
#define NS_PER_MS 1000000ULL

/* ---- shared ---- */

static const char *data_dir(const cli_ctx *ctx) {
  return ctx->data_dir != NULL ? ctx->data_dir : DATA_DIR_DEFAULT;
}

/* "DIR/part" of the data directory: malloc'd. */
static char *data_path(const cli_ctx *ctx, const char *part) {
  return cli_sprintf("%s/%s", data_dir(ctx), part);
}

/* Parse a command that takes only global options and, when dir is not
 * NULL, one DIR. Returns true to go on; false when the command is done,
 * with its exit status in *rc. */
static bool parse_plain(cli_ctx *ctx, const cli_command *cmd, int argc,
                        char **argv, const char **dir, int *rc) {
  static const struct option none[] = {{NULL, 0, NULL, 0}};
  cli_args a;
  cli_args_init(&a, ctx, cmd, argc, argv, none);
  const char *vals[CLI_OPT_SLOTS] = {NULL};
  if (!cli_args_parse(&a, vals, rc))
    return false;
  *rc = dir != NULL ? cli_one_arg(&a, "DIR", dir) : cli_no_args(&a);
  return *rc == CLI_EXIT_OK;
}

/* A failure of the data layer: what failed, why, and its kind. */
static int fail_err(const char *what, const ll_err *e) {
  return cli_fail("%s: %s (%s)", what, e->message, ll_err_kind_name(e->kind));
}

static bool exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

static int mkdir_p(const char *path) {
  char tmp[PATH_MAX];
  if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp) {
    errno = ENAMETOOLONG;
    return -1;
  }
  for (char *p = tmp + 1; *p; p++) {
    if (*p == '/') {
      *p = '\0';
      if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
        return -1;
      *p = '/';
    }
  }
  return mkdir(tmp, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

/* ---- progress ---- */

typedef struct progress {
  const char *what; /* "verify", "rebuild" */
  bool tty;
  bool drawn;
  uint64_t t0_ns;
  uint64_t last_ns;
} progress;

static void progress_init(progress *p, const char *what) {
  p->what = what;
  p->tty = isatty(STDERR_FILENO) == 1;
  p->drawn = false;
  p->t0_ns = ll_mono_ns();
  p->last_ns = p->t0_ns;
}

static void progress_show(progress *p, uint64_t done, uint64_t total,
                          bool final) {
  uint64_t now = ll_mono_ns();
  uint64_t interval_ms =
      p->tty ? PROGRESS_TTY_INTERVAL_MS : PROGRESS_LINE_INTERVAL_MS;
  if (!final && now - p->last_ns < interval_ms * NS_PER_MS)
    return;
  if (final && !p->drawn)
    return; /* quick runs print no progress at all */
  p->last_ns = now;
  p->drawn = true;
  unsigned pct = total > 0 ? (unsigned)(done * 100 / total) : 100;
  double seconds = (double)(now - p->t0_ns) / 1e9;
  if (p->tty) {
    char bar[PROGRESS_BAR_WIDTH + 1];
    size_t filled = (size_t)pct * PROGRESS_BAR_WIDTH / 100;
    for (size_t i = 0; i < PROGRESS_BAR_WIDTH; i++)
      bar[i] = i < filled ? '#' : '-';
    bar[PROGRESS_BAR_WIDTH] = '\0';
    fprintf(stderr, "\r%s [%s] %3u%%  %llu/%llu entries  %.1f s%s", p->what,
            bar, pct, (unsigned long long)done, (unsigned long long)total,
            seconds, final ? "\n" : "");
  } else {
    fprintf(stderr, "%s: %llu/%llu entries (%u%%) after %.1f s\n", p->what,
            (unsigned long long)done, (unsigned long long)total, pct, seconds);
  }
  fflush(stderr);
}

/* ---- verify ---- */

static void on_verify_progress(void *ctx, uint64_t checked, uint64_t total) {
  progress_show(ctx, checked, total, false);
}

static int run_verify(cli_ctx *ctx, const cli_command *cmd, int argc,
                      char **argv) {
  int rc = CLI_EXIT_OK;
  if (!parse_plain(ctx, cmd, argc, argv, NULL, &rc))
    return rc;
  char *log_dir = data_path(ctx, "log");
  progress p;
  progress_init(&p, "verify");
  ll_verify_report r;
  ll_err e = {0};
  if (ll_store_verify(log_dir, on_verify_progress, &p, &r, &e) != 0) {
    free(log_dir);
    return fail_err("verify", &e);
  }
  progress_show(&p, r.entries, r.entries, true);
  char hex[2 * LL_ENTRY_HASH_BYTES + 1];
  ll_entry_hash_hex(r.last_hash, hex);
  if (ctx->json) {
    json_t *j = json_pack("{s:b, s:I, s:I, s:s, s:I}", "ok", r.ok, "entries",
                          (json_int_t)r.entries, "tasks", (json_int_t)r.tasks,
                          "last_hash", hex, "meta_last_position",
                          (json_int_t)r.meta_last_position);
    if (!r.ok) {
      json_object_set_new(j, "bad_position",
                          json_integer((json_int_t)r.bad_position));
      json_object_set_new(j, "why", json_string(r.why));
    }
    cli_print_json(j);
    json_decref(j);
  } else if (r.ok) {
    printf("OK: %llu entries in %zu tasks, last hash %s\n",
           (unsigned long long)r.entries, r.tasks, hex);
  } else {
    printf("BAD at position %llu: %s\n"
           "(positions 1..%llu verified; chain hash there %s)\n",
           (unsigned long long)r.bad_position, r.why,
           (unsigned long long)r.entries, hex);
  }
  if (!r.ok)
    rc = cli_fail("the log at %s is damaged at position %llu", log_dir,
                  (unsigned long long)r.bad_position);
  free(log_dir);
  return rc;
}

/* ---- rebuild ---- */

static volatile sig_atomic_t interrupted = 0;

static void on_interrupt(int sig) {
  (void)sig;
  interrupted = 1;
}

static bool on_rebuild_progress(void *ctx, uint64_t position, uint64_t target) {
  progress_show(ctx, position, target, false);
  return !interrupted;
}

static int run_rebuild(cli_ctx *ctx, const cli_command *cmd, int argc,
                       char **argv) {
  int rc = CLI_EXIT_OK;
  if (!parse_plain(ctx, cmd, argc, argv, NULL, &rc))
    return rc;
  char *log_dir = data_path(ctx, "log");
  char *views_dir = data_path(ctx, "views");
  ll_err e = {0};
  /* A secondary: the command consumer may keep running. */
  ll_store *log = ll_store_open(log_dir, LL_STORE_SECONDARY, &e);
  if (log == NULL) {
    rc = fail_err("rebuild", &e);
    goto out;
  }
  /* Ctrl-C, kill, a closed terminal: stop at the next run, cleanly. */
  struct sigaction sa = {.sa_handler = on_interrupt}, old_int, old_term,
                   old_hup;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  sigaction(SIGHUP, &sa, &old_hup);
  progress p;
  progress_init(&p, "rebuild");
  ll_rebuild_stats st;
  int brc = ll_views_rebuild(log, views_dir, on_rebuild_progress, &p, &st, &e);
  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGTERM, &old_term, NULL);
  sigaction(SIGHUP, &old_hup, NULL);
  ll_store_close(log);
  if (p.drawn) {
    if (p.tty)
      fputc('\n', stderr);
    else if (brc == 0)
      progress_show(&p, st.position, st.position, true);
  }
  if (brc != 0) {
    rc = fail_err("rebuild", &e);
    goto out;
  }
  double seconds = (double)st.elapsed_ns / 1e9;
  double rate = seconds > 0 ? (double)st.entries / seconds : 0.0;
  if (ctx->json) {
    json_t *j =
        json_pack("{s:s, s:I, s:I, s:f, s:f}", "views", views_dir, "entries",
                  (json_int_t)st.entries, "position", (json_int_t)st.position,
                  "seconds", seconds, "entries_per_second", rate);
    cli_print_json(j);
    json_decref(j);
  } else {
    printf("Rebuilt %s: %llu entries in %.2f s (%.0f entries/s)\n", views_dir,
           (unsigned long long)st.entries, seconds, rate);
  }
out:
  free(log_dir);
  free(views_dir);
  return rc;
}

/* ---- backup ---- */

/* A database that another process holds open reports its LOCK file. */
static bool is_locked(const ll_err *e) {
  return e->kind == LL_ERR_BUSY || strstr(e->message, "LOCK") != NULL ||
         strstr(e->message, "is locked") != NULL;
}

/* Ask the running lotlined for the parts it owns. */
static int backup_remote(cli_ctx *ctx, const char *dir, bool views, bool log,
                         json_t **answer) {
  if (ctx->api_flag == NULL && ctx->data_dir == NULL)
    ctx->data_dir = DATA_DIR_DEFAULT; /* find it through DATA/http.addr */
  if (ctx->timeout_ms < BACKUP_HTTP_TIMEOUT_MS)
    ctx->timeout_ms = BACKUP_HTTP_TIMEOUT_MS;
  json_t *body =
      json_pack("{s:s, s:b, s:b}", "dir", dir, "views", views, "log", log);
  cli_request req = {
      .method = "POST", .path = "/v1/admin/backup", .body = body};
  int rc = cli_call(ctx, &req, answer);
  json_decref(body);
  return rc;
}

static uint64_t answer_position(const json_t *answer, const char *part) {
  const json_t *p = json_object_get(json_object_get(answer, part), "position");
  return json_is_integer(p) ? (uint64_t)json_integer_value(p) : 0;
}

/* The backup's directory: created, absolute in dir, and not a backup yet. */
static int backup_target(const char *target, char dir[PATH_MAX]) {
  if (mkdir_p(target) != 0 || realpath(target, dir) == NULL) {
    return cli_fail("backup: cannot create %s: %s", target, strerror(errno));
  }
  char *in_log = cli_sprintf("%s/log", dir),
       *in_views = cli_sprintf("%s/views", dir);
  bool taken = exists(in_log) || exists(in_views);
  free(in_log);
  free(in_views);
  if (taken) {
    return cli_fail("backup: %s already holds a backup: choose a new directory",
                    dir);
  }
  return CLI_EXIT_OK;
}

/* What a backup holds, by whichever process took it. */
typedef struct backup_run {
  char dir[PATH_MAX];
  ll_store *log;     /* opened here: the log is ours to checkpoint */
  ll_views *views;   /* opened here, likewise; NULL without views */
  bool log_remote;   /* held by a running lotlined */
  bool views_remote; /* held by a running lotlined all/project */
  json_t *answer;    /* the running lotlined's answer, if asked */
  ll_backup_result res;
} backup_run;

/* Who owns what: whatever opens as primary is ours for the moment. */
static int backup_open(const char *data, backup_run *r) {
  ll_err e = {0};
  char *log_dir = cli_sprintf("%s/log", data);
  char *views_dir = cli_sprintf("%s/views", data);
  char *views_current = cli_sprintf("%s/CURRENT", views_dir);
  int rc = CLI_EXIT_OK;
  r->log = ll_store_open(log_dir, LL_STORE_PRIMARY, &e);
  if (r->log == NULL && !(r->log_remote = is_locked(&e))) {
    rc = fail_err("backup", &e);
  }
  if (rc == CLI_EXIT_OK && exists(views_current)) {
    r->views = ll_views_open(views_dir, &e);
    if (r->views == NULL && !(r->views_remote = is_locked(&e))) {
      rc = fail_err("backup", &e);
    }
  }
  if (rc == CLI_EXIT_OK && r->log_remote && !r->views_remote) {
    rc = cli_fail("backup: the log is in use by a running lotlined command, "
                  "which has no HTTP API to take the backup (split mode): "
                  "stop lotlined command for the backup (it resumes from its "
                  "stored offsets), or back up while lotlined all runs");
  }
  free(log_dir);
  free(views_dir);
  free(views_current);
  return rc;
}

/* Checkpoint what is ours, ask the running lotlined for the rest. */
static int backup_take(cli_ctx *ctx, backup_run *r) {
  if (r->views_remote) {
    /* Views first (views never ahead of the log in the backup). */
    int rc = backup_remote(ctx, r->dir, true, r->log_remote, &r->answer);
    if (rc != CLI_EXIT_OK) {
      return rc;
    }
  }
  ll_err e = {0};
  if (r->log != NULL &&
      ll_backup_checkpoint(r->views, r->log, r->dir, &r->res, &e) != 0) {
    return fail_err("backup", &e);
  }
  return CLI_EXIT_OK;
}

static void backup_report(const cli_ctx *ctx, const backup_run *r,
                          double seconds) {
  const ll_backup_result *res = &r->res;
  uint64_t log_position =
      res->has_log ? res->log_position : answer_position(r->answer, "log");
  bool has_views =
      res->has_views || json_is_object(json_object_get(r->answer, "views"));
  uint64_t views_position = res->has_views
                                ? res->views_position
                                : answer_position(r->answer, "views");
  const char *how = r->log_remote     ? "taken by the running lotlined"
                    : r->views_remote ? "views by the running lotlined project"
                                      : "service stopped";
  if (ctx->json) {
    json_t *j = json_pack(
        "{s:s, s:I, s:o, s:s, s:f}", "dir", r->dir, "log_position",
        (json_int_t)log_position, "views_position",
        has_views ? json_integer((json_int_t)views_position) : json_null(),
        "how", how, "seconds", seconds);
    cli_print_json(j);
    json_decref(j);
    return;
  }
  printf("Backup in %s (%s, %.2f s): log at position %llu", r->dir, how,
         seconds, (unsigned long long)log_position);
  if (has_views)
    printf(", views at position %llu", (unsigned long long)views_position);
  else
    printf(", no views (a service started on it projects them)");
  printf("\nServe it with: lotlined all --data %s\n", r->dir);
}

static int run_backup(cli_ctx *ctx, const cli_command *cmd, int argc,
                      char **argv) {
  const char *target = NULL;
  int rc = CLI_EXIT_OK;
  if (!parse_plain(ctx, cmd, argc, argv, &target, &rc))
    return rc;
  const char *data = data_dir(ctx);
  char *log_current = data_path(ctx, "log/CURRENT");
  bool has_log = exists(log_current);
  free(log_current);
  if (!has_log)
    return cli_fail("backup: no log at %s/log (is --data right?)", data);
  backup_run r = {0};
  uint64_t t0 = ll_mono_ns();
  rc = backup_target(target, r.dir);
  if (rc == CLI_EXIT_OK)
    rc = backup_open(data, &r);
  if (rc == CLI_EXIT_OK)
    rc = backup_take(ctx, &r);
  if (rc == CLI_EXIT_OK)
    backup_report(ctx, &r, (double)(ll_mono_ns() - t0) / 1e9);
  ll_views_close(r.views);
  ll_store_close(r.log);
  json_decref(r.answer);
  return rc;
}

/* ---- views-dump (hidden) ---- */

static int run_views_dump(cli_ctx *ctx, const cli_command *cmd, int argc,
                          char **argv) {
  int rc = CLI_EXIT_OK;
  if (!parse_plain(ctx, cmd, argc, argv, NULL, &rc))
    return rc;
  char *views_dir = data_path(ctx, "views");
  ll_err e = {0};
  if (ll_views_dump_dir(views_dir, stdout, &e) != 0)
    rc = fail_err("views-dump", &e);
  free(views_dir);
  return rc;
}

/* ---- the commands ---- */

static const char verify_usage[] =
    "Usage: lotline verify [--data DIR] [--json]\n"
    "\n"
    "Check the log's tamper evidence: every entry from position 1 must be\n"
    "there, decode, and carry the SHA-256 hash chained to the entry before\n"
    "it; the store's record of the last position and hash must match the\n"
    "last entry. Prints 'OK: N entries in T tasks, last hash H', or the first "
    "bad\n"
    "position and why. Works while lotlined runs (reads the log as it\n"
    "stood when the check began).\n"
    "\n"
    "Options:\n"
    "  --data DIR   the data directory (default ./lotline-data)\n"
    "  --json       print the result as JSON\n"
    "\n"
    "Exit status: 0 the chain is intact; 1 it is not, or the log cannot be\n"
    "read; 2 bad usage.\n";

static const char rebuild_usage[] =
    "Usage: lotline rebuild [--data DIR] [--json]\n"
    "\n"
    "Drop the views (lot details, locations, ...) and rebuild them by\n"
    "replaying the whole log. The new views are built beside the old ones\n"
    "and swapped in atomically when complete, so an interruption (Ctrl-C,\n"
    "a crash) leaves the old views. Shows a progress bar on a terminal and\n"
    "ends with a summary (entries, seconds, entries/s).\n"
    "\n"
    "The views must not be in use: stop lotlined project (or all) first.\n"
    "lotlined command may keep running; entries it adds during the rebuild\n"
    "are projected when the projection worker starts again.\n"
    "\n"
    "Options:\n"
    "  --data DIR   the data directory (default ./lotline-data)\n"
    "  --json       print the summary as JSON\n";

static const char backup_usage[] =
    "Usage: lotline backup DIR [--data DATA] [--json]\n"
    "\n"
    "Take an online backup of DATA into DIR: RocksDB checkpoints of the\n"
    "views (DIR/views) and of the log (DIR/log). On the same filesystem the\n"
    "table files are hard links, so it is fast and small. Start a service\n"
    "on the backup with 'lotlined all --data DIR'.\n"
    "\n"
    "Works with the service stopped and while 'lotlined all' runs (the\n"
    "running process takes the checkpoints: POST /v1/admin/backup on\n"
    "loopback, at the address in DATA/http.addr). In split mode stop\n"
    "'lotlined command' for the backup; 'lotlined project' may run.\n"
    "\n"
    "Options:\n"
    "  --data DATA  the data directory (default ./lotline-data)\n"
    "  --json       print the result as JSON\n";

static const char views_dump_usage[] =
    "Usage: lotline views-dump [--data DIR]\n"
    "\n"
    "Print every key and value of the views database in key order, one\n"
    "'hexkey hexvalue' line each (for comparing views byte for byte, e.g.\n"
    "before and after a rebuild). Reads a read-only view: works while the\n"
    "service runs.\n";

const cli_command cli_cmd_verify = {
    .name = "verify",
    .summary = "check the log's hash chain (tamper evidence)",
    .usage = verify_usage,
    .run = run_verify,
};

const cli_command cli_cmd_rebuild = {
    .name = "rebuild",
    .summary = "rebuild the views from the log (service stopped)",
    .usage = rebuild_usage,
    .run = run_rebuild,
};

const cli_command cli_cmd_backup = {
    .name = "backup",
    .summary = "online backup of the log and views into a directory",
    .usage = backup_usage,
    .run = run_backup,
};

/* summary NULL: not listed in `lotline --help`. */
const cli_command cli_cmd_views_dump = {
    .name = "views-dump",
    .summary = NULL,
    .usage = views_dump_usage,
    .run = run_views_dump,
};
