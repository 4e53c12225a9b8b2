/* ll_event.h — life cycle and storage form of events and lots.
 *
 * ll_event_pack() is the deterministic binary form of an event (ll_buf
 * encoding, see ll_buf.h): it is what the log stores and what the
 * redelivery digest is computed over. It is versioned by a leading byte so
 * old log entries stay readable. */
#ifndef LL_EVENT_H
#define LL_EVENT_H

#include "ll_buf.h"
#include "ll_types.h"

void ll_event_init(ll_event *ev);
void ll_event_free(ll_event *ev); /* frees the strings, leaves ev zeroed */
void ll_event_copy(ll_event *dst, const ll_event *src); /* deep copy */

void ll_event_pack(const ll_event *ev, ll_buf *out);
bool ll_event_unpack(const void *p, size_t n, ll_event *ev);

/* SHA-256 of ll_event_pack(ev): "same content" for redelivery checks. */
void ll_event_digest(const ll_event *ev, uint8_t digest[32]);

/* Property maps (ll_types.h). merge applies an update: a value replaces,
 * an empty value removes the key; the result is sorted by key. */
void ll_props_free(ll_props *p);
void ll_props_copy(ll_props *dst, const ll_props *src);
void ll_props_sort(ll_props *p);
void ll_props_add(ll_props *p, const char *key, const char *value);
const char *ll_props_get(const ll_props *p, const char *key);
void ll_props_merge(ll_props *into, const ll_props *update);

void ll_lot_init(ll_lot *lot);
void ll_lot_free(ll_lot *lot);
void ll_lot_copy(ll_lot *dst, const ll_lot *src);
void ll_lot_pack(const ll_lot *lot, ll_buf *out);
bool ll_lot_unpack(const void *p, size_t n, ll_lot *lot);

#endif
