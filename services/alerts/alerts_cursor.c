/* alerts_cursor.c — the cursor over lots.alerts and the order of a page of
 * the alerts of every instance (alerts.h, "by their place").
 *
 * A cursor is a vector of next offsets, one per partition, as a Kafka
 * consumer keeps its position: records are appended past it, so following
 * with it never skips one, whichever instance answers. A page takes a
 * prefix of each partition in the order of their heads' timestamps; no
 * single order over all partitions could both be followed and be stable
 * (a record appended to partition 0 after one of partition 1 was listed
 * would sort before it). Pure: no store, no Kafka. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts.h"
#include "ll_buf.h"
#include "ll_mem.h"
#include "ll_text.h"

bool ll_alerts_cursor_parse(const char *text, ll_alerts_cursor *c) {
  memset(c, 0, sizeof *c);
  const char *p = text;
  int64_t last = -1;
  if (strlen(text) > LL_ALERTS_CURSOR_MAX_BYTES)
    return false;
  do {
    int64_t partition = 0, offset = 0;
    if (!ll_text_parse_count(&p, LL_ALERTS_PARTITIONS_MAX - 1, &partition) ||
        *p++ != ':' || !ll_text_parse_count(&p, INT64_MAX, &offset))
      return false;
    if (partition <= last) /* ascending, each once: one text per cursor */
      return false;
    c->next[partition] = offset;
    last = partition;
  } while (*p++ == ',');
  return p[-1] == '\0';
}

char *ll_alerts_cursor_format(const ll_alerts_cursor *c) {
  ll_buf b;
  ll_buf_init(&b);
  for (int p = 0; p < LL_ALERTS_PARTITIONS_MAX; p++)
    if (c->next[p] > 0)
      ll_buf_printf(&b, "%s%d:%" PRId64, b.len > 0 ? "," : "", p, c->next[p]);
  char *text =
      b.len > 0 ? ll_strndup((const char *)b.data, b.len) : ll_strdup("0:0");
  ll_buf_free(&b);
  return text;
}

/* Is x older than y: by emitted_at, then partition. */
static bool older(const ll_alert *x, const ll_alert *y) {
  if (x->emitted_at_ms != y->emitted_at_ms)
    return x->emitted_at_ms < y->emitted_at_ms;
  return x->partition < y->partition;
}

/* The partition groups of rows: starts[g] .. starts[g + 1]. */
static size_t group_rows(const ll_alert *rows, size_t n, size_t *starts) {
  size_t groups = 0;
  for (size_t i = 0; i < n; i++)
    if (i == 0 || rows[i].partition != rows[i - 1].partition)
      starts[groups++] = i;
  starts[groups] = n;
  return groups;
}

size_t ll_alerts_merge_placed(ll_alert *rows, size_t n, size_t limit,
                              ll_alerts_cursor *c) {
  size_t *starts = ll_xcalloc(n + 1, sizeof *starts);
  size_t *heads = ll_xcalloc(n + 1, sizeof *heads);
  size_t groups = group_rows(rows, n, starts);
  memcpy(heads, starts, (groups + 1) * sizeof *heads);
  ll_alert *page = ll_xcalloc(n + 1, sizeof *page);
  size_t kept = 0;
  while (kept < limit) {
    size_t best = groups; /* none */
    for (size_t g = 0; g < groups; g++)
      if (heads[g] < starts[g + 1] &&
          (best == groups || older(&rows[heads[g]], &rows[heads[best]])))
        best = g;
    if (best == groups)
      break;
    ll_alert *row = &rows[heads[best]++];
    c->next[row->partition] = row->offset + 1;
    page[kept++] = *row;
    memset(row, 0, sizeof *row); /* moved */
  }
  for (size_t i = 0; i < n; i++) {
    free(rows[i].product_id);
    free(rows[i].lot_id);
  }
  if (kept > 0)
    memcpy(rows, page, kept * sizeof *rows);
  free(page);
  free(heads);
  free(starts);
  return kept;
}
