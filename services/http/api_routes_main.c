/* api_routes_main.c — lotline-api-routes: print the HTTP API's route table
 * (api_routes.c) as JSON on stdout.
 *
 * Built with the API, never installed: tests/deploy/test_docs.py reads its
 * output and checks docs/openapi.yaml and docs/api.md against the table
 * the server itself routes on, in both directions. */
#include <stdio.h>
#include <stdlib.h>

#include "api_internal.h"

int main(void) {
  json_t *table = api_routes_json();
  char *text = json_dumps(table, JSON_INDENT(2));
  json_decref(table);
  if (text == NULL || puts(text) == EOF) {
    free(text);
    return 1;
  }
  free(text);
  return 0;
}
