/* fuzz_registry.c — see fuzz_registry.h. */
#include "fuzz_registry.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ll_buf.h"
#include "ll_mem.h"
#include "ll_types.h"

#define FUZZ_REGISTRY_PATH_MAX 1024

const fuzz_registry_id fuzz_registry_ids[] = {
    {FUZZ_ID_LOT_CREATED, "schemas/LotCreated.v1.avsc"},
    {FUZZ_ID_LOT_UPDATED, "schemas/LotUpdated.v1.avsc"},
    {FUZZ_ID_STOCK_MOVED, "schemas/StockMoved.v1.avsc"},
    {4, "schemas/Rejection.v1.avsc"},       /* not an event: UNKNOWN_SCHEMA */
    {5, "schemas/QuantityChanged.v1.avsc"}, /* likewise */
    {6, "tests/codec/schemas/older/LotCreated.v1.avsc"},
    {7, "tests/codec/schemas/older/LotCreated.v2.avsc"},
    {8, "tests/codec/schemas/newer/LotCreated.v2.avsc"},
};
const size_t fuzz_registry_id_count =
    sizeof fuzz_registry_ids / sizeof fuzz_registry_ids[0];

struct fuzz_registry {
  struct MHD_Daemon *daemon;
  char *bodies[sizeof fuzz_registry_ids / sizeof fuzz_registry_ids[0]];
};

static char *read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return NULL;
  ll_buf b;
  ll_buf_init(&b);
  char tmp[4096];
  size_t n;
  while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
    ll_buf_put(&b, tmp, n);
  fclose(f);
  ll_buf_put_u8(&b, 0);
  return (char *)b.data;
}

static enum MHD_Result answer(struct MHD_Connection *conn, unsigned int status,
                              const char *body) {
  struct MHD_Response *resp = MHD_create_response_from_buffer(
      strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
  if (resp == NULL)
    return MHD_NO;
  MHD_add_response_header(resp, "Content-Type",
                          "application/vnd.schemaregistry.v1+json");
  enum MHD_Result ret = MHD_queue_response(conn, status, resp);
  MHD_destroy_response(resp);
  return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls) {
  (void)version;
  (void)upload_data;
  (void)upload_data_size;
  (void)con_cls;
  fuzz_registry *r = cls;
  unsigned long id = 0;
  char rest = 0;
  if (strcmp(method, "GET") == 0 &&
      sscanf(url, "/schemas/ids/%lu%c", &id, &rest) == 1) {
    for (size_t i = 0; i < fuzz_registry_id_count; i++)
      if (fuzz_registry_ids[i].id == id)
        return answer(conn, MHD_HTTP_OK, r->bodies[i]);
  }
  return answer(conn, MHD_HTTP_NOT_FOUND,
                "{\"error_code\":40403,\"message\":\"Schema not found\"}");
}

fuzz_registry *fuzz_registry_start(const char *source_dir, char *url,
                                   size_t url_len) {
  fuzz_registry *r = ll_xcalloc(1, sizeof *r);
  for (size_t i = 0; i < fuzz_registry_id_count; i++) {
    char path[FUZZ_REGISTRY_PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", source_dir, fuzz_registry_ids[i].path);
    char *text = read_file(path);
    if (text == NULL) {
      fprintf(stderr, "fuzz registry: cannot read %s\n", path);
      fuzz_registry_stop(r);
      return NULL;
    }
    json_t *body = json_pack("{s:s}", "schema", text);
    free(text);
    r->bodies[i] = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (r->bodies[i] == NULL) {
      fprintf(stderr, "fuzz registry: %s is not UTF-8 text\n", path);
      fuzz_registry_stop(r);
      return NULL;
    }
  }
  struct sockaddr_in addr = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  r->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL,
                               on_request, r, MHD_OPTION_SOCK_ADDR, &addr,
                               MHD_OPTION_END);
  const union MHD_DaemonInfo *info =
      r->daemon ? MHD_get_daemon_info(r->daemon, MHD_DAEMON_INFO_BIND_PORT)
                : NULL;
  if (info == NULL || info->port == 0) {
    fprintf(stderr, "fuzz registry: cannot listen on loopback\n");
    fuzz_registry_stop(r);
    return NULL;
  }
  snprintf(url, url_len, "http://127.0.0.1:%u", (unsigned)info->port);
  return r;
}

void fuzz_registry_stop(fuzz_registry *r) {
  if (r == NULL)
    return;
  if (r->daemon)
    MHD_stop_daemon(r->daemon);
  for (size_t i = 0; i < fuzz_registry_id_count; i++)
    free(r->bodies[i]);
  free(r);
}
