/* api_admin.c — POST /v1/admin/backup: an online backup taken by the
 * process that owns the databases.
 *
 * Why an endpoint. A RocksDB checkpoint must be taken through the handle
 * that owns the database: RocksDB 7.8 cannot checkpoint a secondary
 * instance (facebook/rocksdb#11167; the patch that would allow it, #9820,
 * was never merged), and the log's LOCK keeps any other process from
 * opening it as primary while the command consumer runs. So when
 * `lotlined all` runs, only that process can back up its log, and it
 * already serves HTTP: `lotline backup` asks it here. The CLI takes the
 * checkpoints itself when the service is stopped.
 *
 * What this process can do depends on its mode: `lotlined all` owns the
 * views and the log and backs up both; `lotlined project` owns only the
 * views (it follows the log as a secondary) and answers 409 LOG_NOT_OWNED
 * when asked for the log, before writing anything. `lotlined command` owns
 * the log but has no HTTP server: in split mode the log is backed up with
 * `lotlined command` stopped (the CLI then checkpoints it, and asks
 * `project` for the views here).
 *
 * Body: {"dir": "/absolute/existing/dir", "views": true, "log": true}
 * (both parts default to true). Answer 200:
 *   {"dir": ..., "views": {"position": N} | null, "log": {"position": M} |
 *    null, "seconds": S}
 * Errors: 400 bad body or a field other than these three, 403 FORBIDDEN from a
 * non-loopback peer (the endpoint writes files as the service's user: the API
 * may listen on other interfaces, its admin side does not), 409 LOG_NOT_OWNED,
 * 422 INVALID_FIELD for a relative or missing dir or one that already holds a
 * backup, 500 BACKUP_FAILED when RocksDB fails (nothing left behind). */
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "api_internal.h"
#include "ll_logging.h"
#include "ll_time.h"
#include "ll_types.h"
#include "ll_views.h"

#define BACKUP_DIR_MAX_BYTES 3072 /* leaves room for "/views" in PATH_MAX */

bool api_peer_is_loopback(struct MHD_Connection *conn) {
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  if (ci == NULL || ci->client_addr == NULL)
    return false;
  const struct sockaddr *sa = ci->client_addr;
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
  }
  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
      return true;
    return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) &&
           in6->sin6_addr.s6_addr[12] == 127;
  }
  return false;
}

/* A boolean member, default true; -1 when present and not a boolean. */
static int part_wanted(const json_t *body, const char *key) {
  const json_t *v = json_object_get(body, key);
  if (v == NULL)
    return 1;
  if (!json_is_boolean(v))
    return -1;
  return json_is_true(v) ? 1 : 0;
}

static json_t *part_json(bool done, uint64_t position) {
  if (!done)
    return json_null();
  return json_pack("{s:I}", "position", (json_int_t)position);
}

const api_param api_backup_fields[] = {
    {"dir", "string", "an absolute path to an existing, empty directory"},
    {"views", "boolean", "back up the views (default true)"},
    {"log", "boolean", "back up the log (default true)"},
    {NULL, NULL, NULL}};

/* The route table sends only loopback clients here (API_ADMIN). */
void api_admin_backup(api_request *rq, const char *id, api_reply *r) {
  (void)id;
  const ll_api_deps *deps = &rq->api->deps;
  json_error_t jerr;
  json_t *body = rq->body.len == 0
                     ? NULL
                     : json_loadb((const char *)rq->body.data, rq->body.len,
                                  JSON_REJECT_DUPLICATES, &jerr);
  if (json_is_object(body) &&
      !api_check_fields(body, api_backup_fields, "the body", r)) {
    json_decref(body);
    return;
  }
  const json_t *dir_v = json_object_get(body, "dir");
  int want_views = part_wanted(body, "views");
  int want_log = part_wanted(body, "log");
  if (!json_is_object(body) || !json_is_string(dir_v) || want_views < 0 ||
      want_log < 0) {
    api_reply_error(r, MHD_HTTP_BAD_REQUEST, "BAD_REQUEST",
                    "the body must be a JSON object {\"dir\": \"/path\", "
                    "\"views\": true, \"log\": true}");
    json_decref(body);
    return;
  }
  const char *dir = json_string_value(dir_v);
  if (dir[0] != '/' || strlen(dir) > BACKUP_DIR_MAX_BYTES) {
    api_reply_error(r, 422, "INVALID_FIELD",
                    "dir must be an absolute path of at most %d bytes",
                    BACKUP_DIR_MAX_BYTES);
    json_decref(body);
    return;
  }
  if (!want_views && !want_log) {
    api_reply_error(r, 422, "INVALID_FIELD",
                    "nothing to back up: views and log are both false");
    json_decref(body);
    return;
  }
  if (want_log && ll_store_get_mode(deps->log) != LL_STORE_PRIMARY) {
    api_reply_error(r, MHD_HTTP_CONFLICT, "LOG_NOT_OWNED",
                    "this process (lotlined project) follows the log but "
                    "does not own it; its owner, lotlined command, has no "
                    "HTTP API: stop lotlined command and run the backup "
                    "again (it resumes from its stored offsets)");
    json_decref(body);
    return;
  }

  uint64_t t0 = ll_mono_ns();
  ll_backup_result res;
  ll_err e = {0};
  if (ll_backup_checkpoint(want_views ? deps->views : NULL,
                           want_log ? deps->log : NULL, dir, &res, &e) != 0) {
    bool bad_dir = strstr(e.message, "not a directory") != NULL ||
                   strstr(e.message, "already holds") != NULL ||
                   strstr(e.message, "too long") != NULL;
    if (bad_dir)
      api_reply_error(r, 422, "INVALID_FIELD", "%s", e.message);
    else
      api_reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "BACKUP_FAILED", "%s",
                      e.message);
    ll_log(LL_ERROR, "admin", "backup into %s failed (%s): %s", dir,
           ll_err_kind_name(e.kind), e.message);
    json_decref(body);
    return;
  }
  double seconds = (double)(ll_mono_ns() - t0) / 1e9;
  ll_log(LL_INFO, "admin", "backup into %s: views at %llu, log at %llu", dir,
         (unsigned long long)res.views_position,
         (unsigned long long)res.log_position);
  api_reply_json(r, MHD_HTTP_OK,
                 json_pack("{s:s, s:o, s:o, s:f}", "dir", dir, "views",
                           part_json(res.has_views, res.views_position), "log",
                           part_json(res.has_log, res.log_position), "seconds",
                           seconds));
  json_decref(body);
}
