/* api_ui_assets.h — the web console's files, compiled into the binary.
 *
 * services/http/ui/embed.cmake writes the table (ui_assets.c in the build
 * tree) from the files in services/http/ui/; api_ui.c serves it. */
#ifndef LL_API_UI_ASSETS_H
#define LL_API_UI_ASSETS_H

#include <stddef.h>

typedef struct api_ui_asset {
  const char *name;         /* "app.js": the path under /ui/assets/ */
  const char *content_type; /* by extension, with the charset for text */
  const char *etag;         /* "\"<16 hex of the SHA-256>\"" */
  const unsigned char *bytes;
  size_t size;
} api_ui_asset;

extern const api_ui_asset api_ui_assets[];
extern const size_t api_ui_assets_count;

#endif
