/* command_entry.h — the event as the log holds it, and back.
 *
 * The log holds an accepted event addressed by lot_id (docs/streams.md:
 * every event on lots.events names its lot by lot_id), so an event that
 * named its lot by lot_name alone is logged with the lot_id the rules
 * found, and the entry says so (LL_ENTRY_LOT_ID_FILLED). A redelivery is
 * recognised by the digest of the event as it arrived (rules/ll_state.c),
 * so a restore, which decides entries again from lots.events, first puts
 * the event back as it arrived: its seen record, its decision and the
 * entry it appends are then the old owner's, byte for byte. One home for
 * both directions, used by the consumer and by the restore. */
#ifndef LL_COMMAND_ENTRY_H
#define LL_COMMAND_ENTRY_H

#include <stdint.h>

#include "ll_event.h"
#include "ll_rules.h"

/* The event to log for an accepted decision d of ev: ev itself, or a copy
 * in *scratch with the lot_id filled in (the caller frees *scratch when the
 * result is scratch). *flags gets the entry's LL_ENTRY_* flags. */
const ll_event *cmd_entry_event(const ll_event *ev, const ll_decision *d,
                                ll_event *scratch, uint8_t *flags);

/* Undo what flags say the log changed: ev becomes the event as it
 * arrived. */
void cmd_entry_as_received(ll_event *ev, uint8_t flags);

#endif
