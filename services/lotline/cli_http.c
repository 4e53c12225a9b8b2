/* cli_http.c — how the lotline CLI reaches the HTTP API.
 *
 * One invocation makes one request, so each call sets up its own libcurl
 * easy handle and tears it down; there is nothing to reuse. The API's
 * address comes from, in order: --api URL; DIR/http.addr when --data DIR is
 * given (the daemon writes its bound HOST:PORT there, so a daemon started
 * with port 0 is still found); $LOTLINE_API; http://127.0.0.1:8080. An
 * explicit --data beats the environment because it names one deployment on
 * the command line, where the environment is a standing default.
 *
 * With LOTLINE_TOKEN set, every request carries "Authorization: Bearer
 * <token>" (the API's http.token.read / http.token.write); LOTLINE_CACERT
 * names a CA file to trust for an https:// API (a self-signed
 * certificate, say).
 *
 * Failures are reported the same way for every command: the API's own
 * errors as "lotline: CODE: message", transport errors as "lotline: cannot
 * reach the lotline API at URL: ...". Text that came from the network is
 * flattened to one line before it reaches the terminal. */
#include <assert.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ll_buf.h"
#include "ll_mem.h"
#include "ll_text.h"
#include "ll_types.h"

#define ERROR_BODY_SHOWN_MAX 200 /* characters of a non-JSON error body */

/* The address the daemon wrote to DIR/http.addr, trimmed; NULL after a
 * printed failure. */
static char *read_addr_file(const char *dir) {
  char *path = cli_sprintf("%s/%s", dir, CLI_HTTP_ADDR_FILE);
  FILE *f = fopen(path, "r");
  if (f == NULL) {
    cli_fail("cannot read %s: %s (is lotlined running with --data %s?)", path,
             strerror(errno), dir);
    free(path);
    return NULL;
  }
  char text[CLI_ADDR_FILE_MAX_BYTES + 1];
  size_t n = fread(text, 1, CLI_ADDR_FILE_MAX_BYTES, f);
  bool failed = ferror(f) != 0;
  fclose(f);
  text[n] = '\0';
  char *addr = failed ? NULL : ll_text_trim_dup(text);
  if (addr == NULL || addr[0] == '\0') {
    cli_fail("cannot read an address from %s", path);
    free(addr);
    addr = NULL;
  }
  free(path);
  return addr;
}

int cli_resolve_api(cli_ctx *ctx) {
  char *raw = NULL;
  const char *env = getenv(CLI_API_ENV);
  if (ctx->api_flag != NULL) {
    raw = ll_text_trim_dup(ctx->api_flag);
  } else if (ctx->data_dir != NULL) {
    raw = read_addr_file(ctx->data_dir);
    if (raw == NULL) {
      return CLI_EXIT_FAILURE;
    }
  } else if (!ll_text_blank(env)) {
    raw = ll_text_trim_dup(env);
  } else {
    raw = ll_strdup(CLI_DEFAULT_API);
  }
  /* http.addr and habit both give HOST:PORT without a scheme. */
  char *url = strstr(raw, "://") != NULL ? ll_strdup(raw)
                                         : cli_sprintf("http://%s", raw);
  free(raw);
  size_t n = strlen(url);
  while (n > 0 && url[n - 1] == '/') {
    url[--n] = '\0';
  }
  free(ctx->api_url);
  ctx->api_url = url;
  return CLI_EXIT_OK;
}

static bool is_unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
}

char *cli_escape(const char *s) {
  static const char hex[] = "0123456789ABCDEF";
  bool dots = strcmp(s, ".") == 0 || strcmp(s, "..") == 0;
  size_t n = strlen(s);
  char *out = ll_xmalloc(3 * n + 1);
  char *w = out;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (is_unreserved(*p) && !(dots && *p == '.')) {
      *w++ = (char)*p;
    } else {
      *w++ = '%';
      *w++ = hex[*p >> 4];
      *w++ = hex[*p & 0x0F];
    }
  }
  *w = '\0';
  return out;
}

/* "; products: A, B (choose one with --product)" for an AMBIGUOUS_LOT
 * answer's "products", else "": malloc'd. */
static char *products_hint(const json_t *j) {
  const json_t *products = json_object_get(j, "products");
  if (!json_is_array(products) || json_array_size(products) == 0)
    return ll_strdup("");
  ll_buf b;
  ll_buf_init(&b);
  ll_buf_printf(&b, "; products:");
  size_t i;
  const json_t *p;
  json_array_foreach(products, i, p) {
    char *one = cli_one_line(json_is_string(p) ? json_string_value(p) : "?", 0);
    ll_buf_printf(&b, "%s %s", i > 0 ? "," : "", one);
    free(one);
  }
  ll_buf_printf(&b, " (choose one with --product)");
  char *out = ll_strndup((const char *)b.data, b.len);
  ll_buf_free(&b);
  return out;
}

/* A non-2xx answer: the API's {"code","message"} (and the products of an
 * AMBIGUOUS_LOT), or whatever came. */
static int report_api_error(long status, const ll_buf *body) {
  json_error_t jerr;
  json_t *j = json_loadb((const char *)body->data, body->len, 0, &jerr);
  const char *code = cli_json_str(j, "code");
  const char *message = cli_json_str(j, "message");
  int rc;
  if (code != NULL) {
    char *c = cli_one_line(code, 0);
    char *m = cli_one_line(message ? message : "(no message)", 0);
    char *hint = products_hint(j);
    rc = cli_fail("%s: %s%s", c, m, hint);
    free(hint);
    free(c);
    free(m);
  } else if (body->len > 0) {
    char *raw = ll_xmalloc(body->len + 1);
    memcpy(raw, body->data, body->len);
    raw[body->len] = '\0';
    char *text = ll_text_trim_dup(raw);
    free(raw);
    char *shown = cli_one_line(text, ERROR_BODY_SHOWN_MAX);
    rc = cli_fail("HTTP %ld: %s", status, shown);
    free(shown);
    free(text);
  } else {
    rc = cli_fail("HTTP %ld with an empty answer", status);
  }
  json_decref(j);
  return rc;
}

static int report_transport_error(const cli_ctx *ctx, CURL *h, CURLcode res,
                                  const char *errbuf, bool too_large) {
  const char *why = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(res);
  if (too_large) {
    return cli_fail("the answer from the lotline API at %s is larger than "
                    "%u bytes",
                    ctx->api_url, CLI_RESPONSE_MAX_BYTES);
  }
  curl_off_t connect_us = 0;
  if (curl_easy_getinfo(h, CURLINFO_CONNECT_TIME_T, &connect_us) != CURLE_OK ||
      connect_us == 0) {
    return cli_fail("cannot reach the lotline API at %s: %s", ctx->api_url,
                    why);
  }
  if (res == CURLE_OPERATION_TIMEDOUT) {
    return cli_fail("the lotline API at %s did not answer within %d ms",
                    ctx->api_url, ctx->timeout_ms);
  }
  return cli_fail("lost the connection to the lotline API at %s: %s",
                  ctx->api_url, why);
}

/* Set the options of one request; false when libcurl refuses one. */
static bool set_request(CURL *h, const cli_ctx *ctx, const cli_request *req,
                        const char *url, const char *body_text,
                        struct curl_slist *headers, ll_buf_capped *sink,
                        char *errbuf) {
  bool ok = true;
  ok &= curl_easy_setopt(h, CURLOPT_URL, url) == CURLE_OK;
  ok &= curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK;
  /* The path goes out as built: ids in it are escaped, never resolved. */
  ok &= curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L) == CURLE_OK;
  ok &= curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
  ok &= curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)ctx->timeout_ms) ==
        CURLE_OK;
  ok &= curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)ctx->timeout_ms) ==
        CURLE_OK;
  ok &= curl_easy_setopt(h, CURLOPT_USERAGENT, "lotline/" LOTLINE_VERSION) ==
        CURLE_OK;
  ok &= curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers) == CURLE_OK;
  ok &= curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, ll_buf_capped_write) ==
        CURLE_OK;
  ok &= curl_easy_setopt(h, CURLOPT_WRITEDATA, sink) == CURLE_OK;
  ok &= curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf) == CURLE_OK;
  const char *ca = getenv(CLI_CACERT_ENV);
  if (!ll_text_blank(ca)) {
    ok &= curl_easy_setopt(h, CURLOPT_CAINFO, ca) == CURLE_OK;
  }
  if (body_text != NULL) {
    ok &= curl_easy_setopt(h, CURLOPT_POSTFIELDS, body_text) == CURLE_OK;
    ok &= curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body_text)) ==
          CURLE_OK;
  }
  if (strcmp(req->method, "GET") == 0) {
    ok &= curl_easy_setopt(h, CURLOPT_HTTPGET, 1L) == CURLE_OK;
  } else if (strcmp(req->method, "POST") != 0) {
    ok &= curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method) == CURLE_OK;
  }
  return ok;
}

int cli_call(cli_ctx *ctx, const cli_request *req, json_t **out) {
  assert(req->path[0] == '/');
  *out = NULL;
  if (ctx->api_url == NULL && cli_resolve_api(ctx) != CLI_EXIT_OK) {
    return CLI_EXIT_FAILURE;
  }
  char *url = cli_sprintf("%s%s", ctx->api_url, req->path);
  char *body_text = NULL;
  struct curl_slist *headers = NULL;
  headers = curl_slist_append(headers, "Accept: application/json");
  headers = curl_slist_append(headers, "Expect:"); /* no 100-continue wait */
  if (req->body != NULL) {
    body_text = json_dumps(req->body, JSON_COMPACT);
    headers = curl_slist_append(headers, "Content-Type: application/json");
  }
  if (req->idempotency_key != NULL) {
    char *line = cli_sprintf("Idempotency-Key: %s", req->idempotency_key);
    headers = curl_slist_append(headers, line);
    free(line);
  }
  const char *token = getenv(CLI_TOKEN_ENV);
  if (!ll_text_blank(token)) {
    char *line = cli_sprintf("Authorization: Bearer %s", token);
    headers = curl_slist_append(headers, line);
    free(line);
  }
  ll_buf_capped sink = {.max_bytes = CLI_RESPONSE_MAX_BYTES};
  ll_buf_init(&sink.buf);
  char errbuf[CURL_ERROR_SIZE] = "";
  int rc = CLI_EXIT_FAILURE;
  CURL *h = curl_easy_init();
  if (h == NULL || headers == NULL ||
      (req->body != NULL && body_text == NULL)) {
    rc = cli_fail("cannot prepare the request to %s", url);
  } else if (!set_request(h, ctx, req, url, body_text, headers, &sink,
                          errbuf)) {
    rc = cli_fail("libcurl refused an option for %s", url);
  } else {
    CURLcode res = curl_easy_perform(h);
    long status = 0;
    if (res != CURLE_OK) {
      rc = report_transport_error(ctx, h, res, errbuf, sink.too_large);
    } else if (curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status) !=
               CURLE_OK) {
      rc = cli_fail("no HTTP status from %s", url);
    } else if (status < 200 || status > 299) {
      rc = report_api_error(status, &sink.buf);
    } else if (sink.buf.len == 0) {
      *out = json_object();
      rc = CLI_EXIT_OK;
    } else {
      json_error_t jerr;
      *out = json_loadb((const char *)sink.buf.data, sink.buf.len, 0, &jerr);
      rc = *out != NULL
               ? CLI_EXIT_OK
               : cli_fail("the answer from %s is not JSON: %s", url, jerr.text);
    }
  }
  curl_easy_cleanup(h);
  curl_slist_free_all(headers);
  free(body_text);
  ll_buf_free(&sink.buf);
  free(url);
  return rc;
}

const json_t *cli_answer_array(const json_t *answer, const char *key) {
  const json_t *a = json_object_get(answer, key);
  if (!json_is_array(a)) {
    cli_fail("unexpected answer from the lotline API: no \"%s\" array", key);
    return NULL;
  }
  return a;
}

char *cli_lot_path(const char *product_id, const char *lot_id,
                   const char *rest) {
  char *segment = cli_escape(lot_id);
  char *path = NULL;
  if (product_id != NULL) {
    char *product = cli_escape(product_id);
    path = cli_sprintf("/v1/products/%s/lots/%s%s", product, segment, rest);
    free(product);
  } else {
    path = cli_sprintf("/v1/lots/%s%s", segment, rest);
  }
  free(segment);
  return path;
}
