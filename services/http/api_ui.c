/* api_ui.c — GET /ui/...: the web console (docs/console.md).
 *
 * The console is one HTML page and its JavaScript modules, CSS and icon,
 * compiled into the binary (services/http/ui/embed.cmake writes the
 * table), so lotlined serves it on the API's own port with nothing
 * installed beside it. Two kinds of path:
 *   /ui/assets/NAME  one of the files, with its Content-Type; 404 for a
 *                    name the table does not have
 *   any other /ui/…  the page itself (index.html): the console routes in
 *                    the browser, so a deep link or a reload of
 *                    /ui/lots/LOT-1/locations gets the same page, which
 *                    then reads the path
 * Neither needs a token: they hold no data; the calls the page makes to
 * /v1 send the token the user typed. Every answer carries an ETag (a
 * digest of the file) and Cache-Control: no-cache, so a browser asks again
 * each time and gets a 304 while the binary is the same, and the new file
 * as soon as it is not. The Content-Security-Policy lets the page run
 * only its own files (no inline script or style) and talk only to this
 * origin. */
#include <string.h>

#include "api_internal.h"
#include "api_ui_assets.h"
#include "ll_mem.h"

#define UI_PAGE "index.html"
#define UI_ASSETS_SEGMENT "assets"

static const char ui_csp[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'";

static const api_ui_asset *find_asset(const char *name) {
  for (size_t i = 0; i < api_ui_assets_count; i++)
    if (strcmp(api_ui_assets[i].name, name) == 0)
      return &api_ui_assets[i];
  return NULL;
}

static void add_header(api_reply *r, const char *name, const char *value) {
  /* the headers below are all a reply of this file has */
  if (r->header_count < LL_API_REPLY_HEADERS_MAX) {
    r->headers[r->header_count][0] = name;
    r->headers[r->header_count][1] = value;
    r->header_count++;
  }
}

/* Does the client's If-None-Match name this ETag (or "*")? */
static bool client_has(const api_request *rq, const char *etag) {
  const char *inm = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND,
                                                MHD_HTTP_HEADER_IF_NONE_MATCH);
  if (inm == NULL)
    return false;
  return strcmp(inm, "*") == 0 || strstr(inm, etag) != NULL;
}

static void reply_asset(const api_request *rq, const api_ui_asset *a,
                        api_reply *r) {
  api_reply_free(r);
  add_header(r, MHD_HTTP_HEADER_ETAG, a->etag);
  add_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
  add_header(r, "Content-Security-Policy", ui_csp);
  add_header(r, "X-Content-Type-Options", "nosniff");
  add_header(r, "Referrer-Policy", "no-referrer");
  add_header(r, "X-Frame-Options", "DENY");
  r->content_type = a->content_type;
  if (client_has(rq, a->etag)) {
    r->status = MHD_HTTP_NOT_MODIFIED;
    r->body = ll_xmalloc(1); /* MHD frees it; a 304 has no body */
    r->body_len = 0;
    return;
  }
  r->status = MHD_HTTP_OK;
  r->body = ll_xmalloc(a->size + 1);
  memcpy(r->body, a->bytes, a->size);
  r->body_len = a->size;
}

void api_get_ui(api_request *rq, const char *id, api_reply *r) {
  (void)id; /* the segments are read whole from rq->path */
  const api_path *p = &rq->path;
  bool asset = p->n >= 2 && strcmp(p->seg[1], UI_ASSETS_SEGMENT) == 0;
  const char *name = !asset ? UI_PAGE : p->n == 3 ? p->seg[2] : NULL;
  const api_ui_asset *a = name != NULL ? find_asset(name) : NULL;
  if (a == NULL) {
    api_reply_error(r, MHD_HTTP_NOT_FOUND, "NOT_FOUND",
                    "the console has no file %s", rq->raw_uri);
    return;
  }
  reply_asset(rq, a, r);
}
