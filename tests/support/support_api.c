/* support_api.c — the API fixture of the test-support library (support.h):
 * a primary log store and views in a temp directory, the HTTP API on
 * them. The HTTP test programs each built this by hand. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

int ts_fixture_open(ts_api_fixture *f, const char *tag, bool with_codec) {
  memset(f, 0, sizeof *f);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  f->root = ts_tempdir(tag);
  if (f->root == NULL)
    return -1;
  char dir[4200];
  ll_err err = {0};
  snprintf(dir, sizeof dir, "%s/log", f->root);
  f->store = ll_store_open(dir, LL_STORE_PRIMARY, &err);
  if (f->store != NULL) {
    snprintf(dir, sizeof dir, "%s/views", f->root);
    f->views = ll_views_open(dir, &err);
  }
  if (f->views != NULL && with_codec) {
    const char *schemas = getenv("LOTLINE_SCHEMAS");
    f->codec = ll_codec_open(
        schemas != NULL ? schemas : LOTLINE_SOURCE_DIR "/schemas", NULL, &err);
  }
  if (f->store == NULL || f->views == NULL ||
      (with_codec && f->codec == NULL)) {
    fprintf(stderr, "fixture (%s): %s: %s\n", f->root,
            ll_err_kind_name(err.kind), err.message);
    return -1;
  }
  return 0;
}

int ts_fixture_start_api(ts_api_fixture *f, ll_api_deps deps) {
  if (deps.views == NULL)
    deps.views = f->views;
  if (deps.log == NULL)
    deps.log = f->store;
  if (deps.codec == NULL)
    deps.codec = f->codec;
  ll_err err = {0};
  f->api = ll_api_start("127.0.0.1:0", &deps, &err);
  if (f->api == NULL) {
    fprintf(stderr, "ll_api_start: %s: %s\n", ll_err_kind_name(err.kind),
            err.message);
    return -1;
  }
  snprintf(f->base_url, sizeof f->base_url, "http://%s",
           ll_api_address(f->api));
  return 0;
}

#define PROJECT_STEP 64 /* entries read and applied at a time */

int ts_fixture_project(ts_api_fixture *f) {
  ll_entry entries[PROJECT_STEP];
  for (;;) {
    size_t n = 0;
    ll_err err = {0};
    uint64_t from = ll_views_position(f->views) + 1;
    int rc = ll_store_read_log(f->store, from, entries, PROJECT_STEP, &n, &err);
    if (rc == 0 && n > 0)
      rc = ll_views_apply(f->views, entries, n, &err);
    for (size_t i = 0; i < n; i++)
      ll_entry_free(&entries[i]);
    if (rc != 0) {
      fprintf(stderr, "projecting from position %llu: %s\n",
              (unsigned long long)from, err.message);
      return -1;
    }
    if (n == 0)
      return 0;
  }
}

void ts_fixture_close(ts_api_fixture *f) {
  ll_api_stop(f->api);
  ll_codec_close(f->codec);
  ll_views_close(f->views);
  ll_store_close(f->store);
  ts_rmtree(f->root);
  free(f->root);
  memset(f, 0, sizeof *f);
  curl_global_cleanup();
}
