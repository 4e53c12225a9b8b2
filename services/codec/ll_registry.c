/* ll_registry.c — the Schema Registry client: schema id -> schema text.
 *
 * One blocking GET {url}/schemas/ids/{id} with libcurl per lookup (the
 * codec caches the answers, so this runs once per id). The answer decides
 * the fate of the message, so the outcome is classified carefully:
 *
 *   200 with {"schema": "..."} (and no schemaType, or "AVRO")  FOUND
 *   404                                                          NOT_FOUND
 *   200 with another schemaType, or without "schema"             UNUSABLE
 *   anything else (no connection, timeout, 5xx, 401/403, 429,
 *   a body that is not JSON)                                     UNAVAILABLE
 *
 * UNAVAILABLE means "not the message's fault": the consumer waits and
 * retries instead of rejecting. schema.registry.url may list several URLs
 * separated by commas (as Confluent clients accept); they are tried in
 * order until one gives a definite answer. Timeouts are short
 * (LL_REGISTRY_TIMEOUT_MS) because the consumer blocks while we wait. */
#include <curl/curl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ll_buf.h"
#include "ll_codec_internal.h"
#include "ll_logging.h"
#include "ll_mem.h"
#include "ll_types.h"

#define REGISTRY_URL_MAX 2048

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_OK;

static void registry_global_init(void) {
  curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* Interpret a 200 answer. */
static ll_registry_status parse_answer(const ll_buf_capped *b,
                                       char **schema_json_out, ll_err *err) {
  json_error_t jerr;
  json_t *doc = json_loadb((const char *)b->buf.data, b->buf.len, 0, &jerr);
  if (!doc) {
    ll_fail(err, LL_ERR_CORRUPT, "schema registry answer is not JSON: %s",
            jerr.text);
    return LL_REGISTRY_UNAVAILABLE;
  }
  ll_registry_status status = LL_REGISTRY_FOUND;
  const char *type = json_string_value(json_object_get(doc, "schemaType"));
  const char *schema = json_string_value(json_object_get(doc, "schema"));
  if (type && strcmp(type, "AVRO") != 0) {
    ll_err_set(err, LL_UNKNOWN_SCHEMA,
               "schema registry id is a %.32s "
               "schema, not Avro",
               type);
    status = LL_REGISTRY_UNUSABLE;
  } else if (!schema) {
    ll_err_set(err, LL_UNKNOWN_SCHEMA,
               "schema registry answer has no \"schema\" string");
    status = LL_REGISTRY_UNUSABLE;
  } else {
    *schema_json_out = ll_strdup(schema);
  }
  json_decref(doc);
  return status;
}

static ll_registry_status fetch_one(const char *base, size_t base_len,
                                    uint32_t id, char **schema_json_out,
                                    ll_err *err) {
  while (base_len > 0 && base[base_len - 1] == '/')
    base_len--;
  char url[REGISTRY_URL_MAX];
  int n = snprintf(url, sizeof url, "%.*s/schemas/ids/%" PRIu32, (int)base_len,
                   base, id);
  if (n < 0 || (size_t)n >= sizeof url) {
    ll_fail(err, LL_ERR_CONFIG, "schema registry URL too long");
    return LL_REGISTRY_UNAVAILABLE;
  }

  CURL *curl = curl_easy_init();
  if (!curl) {
    ll_fail(err, LL_ERR_INTERNAL, "curl_easy_init failed");
    return LL_REGISTRY_UNAVAILABLE;
  }
  ll_buf_capped b = {.max_bytes = LL_REGISTRY_MAX_BODY_BYTES};
  ll_buf_init(&b.buf);
  struct curl_slist *headers =
      curl_slist_append(NULL, "Accept: application/vnd.schemaregistry.v1+json, "
                              "application/json");
  curl_easy_setopt(curl, CURLOPT_URL, url);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, ll_buf_capped_write);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L); /* we run in threads */
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                   (long)LL_REGISTRY_TIMEOUT_MS);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)LL_REGISTRY_TIMEOUT_MS);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");

  ll_registry_status status;
  CURLcode rc = curl_easy_perform(curl);
  long http_status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &http_status);
  if (rc != CURLE_OK) {
    ll_err_kind kind = b.too_large                      ? LL_ERR_FULL
                       : rc == CURLE_OPERATION_TIMEDOUT ? LL_ERR_TIMEOUT
                                                        : LL_ERR_IO;
    ll_fail(err, kind, "schema registry %s: %s", url,
            b.too_large ? "answer too large" : curl_easy_strerror(rc));
    status = LL_REGISTRY_UNAVAILABLE;
  } else if (http_status == 200) {
    status = parse_answer(&b, schema_json_out, err);
  } else if (http_status == 404) {
    ll_err_set(err, LL_UNKNOWN_SCHEMA,
               "schema id %" PRIu32 " is not in the schema registry", id);
    status = LL_REGISTRY_NOT_FOUND;
  } else {
    ll_fail(err, LL_ERR_IO, "schema registry %s answered HTTP %ld", url,
            http_status);
    status = LL_REGISTRY_UNAVAILABLE;
  }
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  ll_buf_free(&b.buf);
  return status;
}

ll_registry_status ll_registry_fetch(const char *urls, uint32_t id,
                                     char **schema_json_out, ll_err *err) {
  *schema_json_out = NULL;
  pthread_once(&curl_once, registry_global_init);
  if (curl_init_rc != CURLE_OK) {
    ll_fail(err, LL_ERR_INTERNAL, "curl_global_init: %s",
            curl_easy_strerror(curl_init_rc));
    return LL_REGISTRY_UNAVAILABLE;
  }
  ll_registry_status status = LL_REGISTRY_UNAVAILABLE;
  ll_fail(err, LL_ERR_CONFIG, "no schema registry URL");
  const char *p = urls;
  while (*p) {
    while (*p == ' ' || *p == ',')
      p++;
    size_t len = strcspn(p, ", ");
    if (len == 0)
      break;
    status = fetch_one(p, len, id, schema_json_out, err);
    if (status != LL_REGISTRY_UNAVAILABLE)
      return status;
    if (err)
      ll_log(LL_WARN, "codec", "%s: %s", ll_err_kind_name(err->kind),
             err->message);
    p += len;
  }
  return status;
}
