/* support.h — the one test-support library (ll_test_support): what many
 * test programs need and none should copy.
 *
 *   temp directories  ts_tempdir() under $TMPDIR (or /tmp), ts_rmtree() at
 *                     the end;
 *   an HTTP client    ts_send(): one libcurl request, the answer with its
 *                     JSON body and the headers the API tests look at;
 *   JSON lookups      ts_jstr(), ts_jint(), ts_jnull(), ts_jarr();
 *   an API fixture    (support_api.c) a log store and views in a temp
 *                     directory and the HTTP API started on them.
 *
 * Test-only code: a request that cannot be made at all fails the running
 * cmocka test (unless the caller asks for the transport result). */
#ifndef LL_TEST_SUPPORT_H
#define LL_TEST_SUPPORT_H

#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "ll_api.h"
#include "ll_codec.h"
#include "ll_store.h"
#include "ll_views.h"

/* ---- temp directories ---- */

/* mkdtemp of "$TMPDIR/lotline-<tag>-XXXXXX" (/tmp when TMPDIR is unset or
 * empty); malloc'd path, or NULL with the reason on stderr. */
char *ts_tempdir(const char *tag);
/* Remove path and everything under it (symbolic links are not followed).
 * NULL or "" does nothing. Returns 0, or -1 if something was left. */
int ts_rmtree(const char *path);

/* ---- HTTP client ---- */

#define TS_HTTP_TIMEOUT_MS 20000L

typedef struct ts_request {
  const char *method;         /* NULL: GET; HEAD asks for no body */
  const char *url;            /* complete: "http://127.0.0.1:1234/v1/lots" */
  const char *body;           /* NULL: none */
  size_t body_len;            /* 0 with a body: strlen(body) */
  const char *content_type;   /* sent with a body when set */
  const char *const *headers; /* NULL-terminated extra headers, or NULL */
  const char *cainfo;         /* CA file to verify HTTPS with, or NULL */
  bool path_as_is;            /* send the path exactly (no "../" squashing) */
  long timeout_ms;            /* 0: TS_HTTP_TIMEOUT_MS */
} ts_request;

typedef struct ts_resp {
  long status;
  char *body; /* NUL-terminated, NULL when empty */
  size_t len;
  json_t *json; /* NULL when the body is not JSON */
  char content_type[128];
  char allow[128];            /* Allow header */
  char position[32];          /* Lotline-Position header */
  char www_authenticate[256]; /* WWW-Authenticate header */
} ts_resp;

/* One request. rc_out NULL: a transport failure fails the test; else it
 * receives libcurl's result (the answer is then empty on failure). */
ts_resp ts_send(const ts_request *q, CURLcode *rc_out);
void ts_resp_free(ts_resp *r);

/* ---- JSON ---- */

const char *ts_jstr(const json_t *obj, const char *key); /* NULL if no string */
bool ts_jnull(const json_t *obj, const char *key);
long long ts_jint(const json_t *obj, const char *key); /* asserts an integer */
const json_t *ts_jarr(const json_t *obj, const char *key); /* asserts array */

/* ---- API fixture (support_api.c) ---- */

typedef struct ts_api_fixture {
  char *root; /* temp directory: log/ and views/ */
  ll_store *store;
  ll_views *views;
  ll_codec *codec;    /* NULL unless asked for */
  ll_api *api;        /* NULL until ts_fixture_start_api */
  char base_url[128]; /* "http://127.0.0.1:PORT" once started */
} ts_api_fixture;

/* curl_global_init, the temp directory, a primary log store, views, and
 * the codec over $LOTLINE_SCHEMAS when with_codec. Returns 0, or -1 with
 * the reason on stderr (close the fixture anyway). */
int ts_fixture_open(ts_api_fixture *f, const char *tag, bool with_codec);
/* Start the API on 127.0.0.1 with a free port; views, log and codec left
 * NULL in deps are the fixture's. Returns 0, or -1 with the reason on
 * stderr. */
int ts_fixture_start_api(ts_api_fixture *f, ll_api_deps deps);
/* Apply to the views whatever the log holds beyond their position (the
 * projector's work, in the test's thread). Returns 0, or -1 with the
 * reason on stderr. */
int ts_fixture_project(ts_api_fixture *f);
/* Stop the API, close everything, remove the directory, curl cleanup. */
void ts_fixture_close(ts_api_fixture *f);

#endif
