/* command_entry.c — see command_entry.h. */
#include "command_entry.h"

#include <assert.h>
#include <stdlib.h>

#include "ll_mem.h"
#include "ll_store.h"

const ll_event *cmd_entry_event(const ll_event *ev, const ll_decision *d,
                                ll_event *scratch, uint8_t *flags) {
  assert(d->accepted);
  *flags = 0;
  if (ev->lot_id)
    return ev;
  ll_event_copy(scratch, ev);
  scratch->lot_id = ll_strdup(d->lot.lot_id);
  *flags = LL_ENTRY_LOT_ID_FILLED;
  return scratch;
}

void cmd_entry_as_received(ll_event *ev, uint8_t flags) {
  if (flags & LL_ENTRY_LOT_ID_FILLED) {
    free(ev->lot_id);
    ev->lot_id = NULL;
  }
}
