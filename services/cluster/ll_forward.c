/* ll_forward.c — one request to another instance, with libcurl.
 *
 * The request goes out as the client sent it (method, path and query,
 * body, Authorization, Idempotency-Key) plus LL_FORWARDED_HEADER, so the
 * instance that receives it answers it itself. Its answer comes back
 * whole: status, body, Content-Type and Lotline-Position. A handle per
 * call: forwarding is one hop on a request that already waits for
 * another process, and libcurl keeps no state we would share. */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ll_cluster.h"

#define FORWARD_HEADER_MAX_BYTES 8192 /* a long bearer token fits */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void init_curl(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
}

void ll_forward_reply_init(ll_forward_reply *r) {
  memset(r, 0, sizeof *r);
  ll_buf_init(&r->body);
}

void ll_forward_reply_free(ll_forward_reply *r) {
  ll_buf_free(&r->body);
}

static size_t on_body(char *p, size_t size, size_t n, void *cls) {
  ll_forward_reply *r = cls;
  ll_buf_put(&r->body, p, size * n);
  return size * n;
}

/* Keep the value of header `name` from one header line. */
static void keep_header(const char *line, size_t len, const char *name,
                        char *out, size_t cap) {
  size_t nl = strlen(name);
  if (len <= nl + 1 || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
    return;
  const char *v = line + nl + 1;
  size_t vn = len - nl - 1;
  while (vn > 0 && (*v == ' ' || *v == '\t'))
    v++, vn--;
  while (vn > 0 && (v[vn - 1] == '\r' || v[vn - 1] == '\n' || v[vn - 1] == ' '))
    vn--;
  if (vn >= cap)
    vn = cap - 1;
  memcpy(out, v, vn);
  out[vn] = '\0';
}

static size_t on_header(char *p, size_t size, size_t n, void *cls) {
  ll_forward_reply *r = cls;
  keep_header(p, size * n, "Content-Type", r->content_type,
              sizeof r->content_type);
  keep_header(p, size * n, "Lotline-Position", r->position, sizeof r->position);
  return size * n;
}

static struct curl_slist *add_header(struct curl_slist *list, const char *name,
                                     const char *value) {
  char line[FORWARD_HEADER_MAX_BYTES];
  snprintf(line, sizeof line, "%s: %s", name, value);
  return curl_slist_append(list, line);
}

static struct curl_slist *request_headers(const ll_forward_request *rq) {
  struct curl_slist *h = add_header(NULL, LL_FORWARDED_HEADER, "1");
  if (rq->authorization != NULL)
    h = add_header(h, "Authorization", rq->authorization);
  if (rq->idempotency_key != NULL)
    h = add_header(h, "Idempotency-Key", rq->idempotency_key);
  if (rq->body_len > 0)
    h = add_header(h, "Content-Type", "application/json");
  return curl_slist_append(h, "Expect:"); /* no 100-continue round trip */
}

int ll_forward(const ll_forward_request *rq, ll_forward_reply *out,
               ll_err *err) {
  pthread_once(&curl_once, init_curl);
  CURL *h = curl_easy_init();
  if (h == NULL)
    return ll_fail(err, LL_ERR_INTERNAL, "cannot create an HTTP client");
  char url[LL_MEMBER_URL_MAX + 4096];
  snprintf(url, sizeof url, "%s%s", rq->base_url, rq->target);
  struct curl_slist *headers = request_headers(rq);
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, rq->method);
  if (strcmp(rq->method, "GET") != 0) {
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq->body_len > 0 ? rq->body : "");
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)rq->body_len);
  }
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)LL_FORWARD_TIMEOUT_MS);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                   (long)LL_FORWARD_CONNECT_TIMEOUT_MS);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, out);
  CURLcode rc = curl_easy_perform(h);
  if (rc == CURLE_OK)
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(h);
  if (rc != CURLE_OK)
    return ll_fail(err, LL_ERR_IO, "instance at %s did not answer: %s",
                   rq->base_url, curl_easy_strerror(rc));
  return 0;
}
