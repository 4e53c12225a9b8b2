/* instance_id.h — this instance's id in a cluster (instance_id.c). */
#ifndef LD_INSTANCE_ID_H
#define LD_INSTANCE_ID_H

#include <limits.h>
#include <stddef.h>

#include "ll_config.h"
#include "ll_types.h"

/* cluster.instance.id, else <data>/instance.id (made once); -1 with err. */
int ld_instance_id(const ll_config *cfg, const char *data, char *out,
                   size_t cap, ll_err *err);

#endif
