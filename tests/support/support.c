/* support.c — temp directories, the HTTP client and JSON lookups of the
 * test-support library (support.h). */
#include "support.h"

#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

/* Directory levels nftw keeps open at once while removing a tree. */
#define TS_RMTREE_OPEN_FDS 16

/* ---- temp directories ---- */

char *ts_tempdir(const char *tag) {
  const char *base = getenv("TMPDIR");
  char tmpl[4096];
  snprintf(tmpl, sizeof tmpl, "%s/lotline-%s-XXXXXX",
           base != NULL && base[0] != '\0' ? base : "/tmp", tag);
  if (mkdtemp(tmpl) == NULL) {
    fprintf(stderr, "mkdtemp %s: %s\n", tmpl, strerror(errno));
    return NULL;
  }
  return strdup(tmpl);
}

static int remove_entry(const char *path, const struct stat *sb, int flag,
                        struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path);
}

int ts_rmtree(const char *path) {
  if (path == NULL || path[0] == '\0')
    return 0;
  return nftw(path, remove_entry, TS_RMTREE_OPEN_FDS, FTW_DEPTH | FTW_PHYS) == 0
             ? 0
             : -1;
}

/* ---- HTTP client ---- */

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
  ts_resp *r = ud;
  size_t add = size * n;
  char *grown = realloc(r->body, r->len + add + 1);
  if (grown == NULL)
    return 0; /* libcurl then fails the transfer */
  r->body = grown;
  memcpy(r->body + r->len, p, add);
  r->len += add;
  r->body[r->len] = '\0';
  return add;
}

/* If line is "<name>: value\r\n", copy value (trimmed) into out. */
static void header_value(const char *line, size_t n, const char *name,
                         char *out, size_t cap) {
  size_t k = strlen(name);
  if (n <= k + 1 || strncasecmp(line, name, k) != 0 || line[k] != ':')
    return;
  const char *v = line + k + 1;
  size_t vn = n - k - 1;
  while (vn > 0 && *v == ' ')
    v++, vn--;
  while (vn > 0 && (v[vn - 1] == '\r' || v[vn - 1] == '\n'))
    vn--;
  if (vn >= cap)
    vn = cap - 1;
  memcpy(out, v, vn);
  out[vn] = '\0';
}

static size_t on_header(char *p, size_t size, size_t n, void *ud) {
  ts_resp *r = ud;
  size_t len = size * n;
  header_value(p, len, "Allow", r->allow, sizeof r->allow);
  header_value(p, len, "Lotline-Position", r->position, sizeof r->position);
  header_value(p, len, "WWW-Authenticate", r->www_authenticate,
               sizeof r->www_authenticate);
  return len;
}

static struct curl_slist *request_headers(const ts_request *q) {
  struct curl_slist *h = NULL;
  for (size_t i = 0; q->headers != NULL && q->headers[i] != NULL; i++)
    h = curl_slist_append(h, q->headers[i]);
  if (q->body != NULL && q->content_type != NULL) {
    char line[256];
    snprintf(line, sizeof line, "Content-Type: %s", q->content_type);
    h = curl_slist_append(h, line);
  }
  return h;
}

static void set_method_and_body(CURL *c, const ts_request *q) {
  const char *method = q->method != NULL ? q->method : "GET";
  if (strcmp(method, "HEAD") == 0)
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  else if (strcmp(method, "GET") != 0)
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  if (q->body != NULL) {
    size_t len = q->body_len != 0 ? q->body_len : strlen(q->body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, q->body);
  }
}

ts_resp ts_send(const ts_request *q, CURLcode *rc_out) {
  ts_resp r;
  memset(&r, 0, sizeof r);
  CURL *c = curl_easy_init();
  assert_non_null(c);
  struct curl_slist *h = request_headers(q);
  curl_easy_setopt(c, CURLOPT_URL, q->url);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
                   q->timeout_ms > 0 ? q->timeout_ms : TS_HTTP_TIMEOUT_MS);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  if (q->path_as_is)
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
  if (q->cainfo != NULL)
    curl_easy_setopt(c, CURLOPT_CAINFO, q->cainfo);
  set_method_and_body(c, q);
  CURLcode rc = curl_easy_perform(c);
  if (rc_out != NULL)
    *rc_out = rc;
  else if (rc != CURLE_OK)
    fail_msg("%s %s: the connection failed: %s",
             q->method != NULL ? q->method : "GET", q->url,
             curl_easy_strerror(rc));
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  char *ct = NULL;
  curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
  if (ct != NULL)
    snprintf(r.content_type, sizeof r.content_type, "%s", ct);
  if (r.body != NULL)
    r.json = json_loadb(r.body, r.len, 0, NULL);
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
  return r;
}

void ts_resp_free(ts_resp *r) {
  free(r->body);
  json_decref(r->json);
  memset(r, 0, sizeof *r);
}

/* ---- JSON ---- */

const char *ts_jstr(const json_t *obj, const char *key) {
  const json_t *v = json_object_get(obj, key);
  return json_is_string(v) ? json_string_value(v) : NULL;
}

bool ts_jnull(const json_t *obj, const char *key) {
  return json_is_null(json_object_get(obj, key));
}

long long ts_jint(const json_t *obj, const char *key) {
  const json_t *v = json_object_get(obj, key);
  if (!json_is_integer(v))
    fail_msg("\"%s\" is not an integer", key);
  return (long long)json_integer_value(v);
}

const json_t *ts_jarr(const json_t *obj, const char *key) {
  const json_t *v = json_object_get(obj, key);
  if (!json_is_array(v))
    fail_msg("\"%s\" is not an array", key);
  return v;
}
