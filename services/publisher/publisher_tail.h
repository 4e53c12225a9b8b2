/* publisher_tail.h — where each task stands in Kafka: the last record of
 * every partition of lots.events, lots.quantities and lots.changelog that
 * carries a position (publisher_tail.c).
 * Private to the publisher (publisher.c). */
#ifndef LL_PUBLISHER_TAIL_H
#define LL_PUBLISHER_TAIL_H

#include <stdint.h>

#include "ll_buf.h"
#include "ll_config.h"
#include "ll_types.h"

#define PUB_TOPIC_EVENTS 0
#define PUB_TOPIC_QUANTITIES 1
#define PUB_TOPIC_CHANGELOG 2 /* its marks carry the position header */
#define PUB_TOPICS 3
#define PUB_PARTITIONS_MAX 1024 /* per topic */
#define PUB_POSITION_STR_MAX 24 /* a task position in decimal, with NUL */

/* The last record of a partition that carries a lotline-position header,
 * as a read_committed consumer sees it. */
typedef struct pub_tail {
  bool found;        /* the partition has such a record */
  uint64_t position; /* its lotline-position; 0: the partition has none */
  ll_buf key;        /* its key */
  ll_buf value;      /* its value */
} pub_tail;

typedef struct pub_tail_opts {
  const ll_config *cfg; /* kafka.* keys */
  const char *brokers;
  const char *topics[PUB_TOPICS]; /* NULL: a topic not read */
  int32_t partitions;             /* of each topic, 1..PUB_PARTITIONS_MAX */
  const char *client_id;
} pub_tail_opts;

/* Fill tails[t][q] for every topic t named and partition q < partitions
 * (keys and values reset first). Reads each partition backwards from its end in
 * growing windows, all partitions at once with one consumer. Returns 0, or -1
 * with err when Kafka did not answer in time (nothing can be assumed:
 * the caller tries again). */
int pub_tails_read(const pub_tail_opts *o, pub_tail *tails[PUB_TOPICS],
                   ll_err *err);

/* A lotline-position header's value; false when it is not a decimal
 * position. */
bool pub_parse_position(const void *v, size_t n, uint64_t *out);

#endif
