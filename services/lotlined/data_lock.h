/* data_lock.h — one process per role on a data directory.
 *
 * A data directory is shared by roles, each owned by one process at a
 * time: the command consumer (the log, `all` and `command`), the views
 * (the projector and the API, `all` and `project`) and the embedded broker
 * (`broker`, and `all` without --brokers, which writes broker.addr).
 * `command` and `project` may share a directory; two processes may not
 * hold the same role. RocksDB's own LOCK would refuse the second owner of
 * a store too, but only once it opens the store: after the embedded
 * broker has started and overwritten broker.addr, and with exit 1. These
 * locks are taken first, before anything else is started or written, and
 * a refusal names the process that holds the role and exits 2 (a setup
 * error, docs/operations.md).
 *
 * Each role is an flock(2) on <data>/<role>.lock holding "PID MODE": the
 * kernel drops it when the holder exits, however it exits, so a crash
 * never leaves a stale lock behind. */
#ifndef LD_DATA_LOCK_H
#define LD_DATA_LOCK_H

typedef enum ld_role {
  LD_ROLE_CONSUMER = 0,
  LD_ROLE_VIEWS,
  LD_ROLE_BROKER,
  LD_ROLE_COUNT,
} ld_role;

#define LD_ROLE_BIT(r) (1u << (r))

typedef struct ld_locks {
  int fd[LD_ROLE_COUNT]; /* -1 when not held */
} ld_locks;

void ld_locks_init(ld_locks *l);

/* Take the roles in `roles` (LD_ROLE_BIT()s) on data for mode_name. Returns
 * 0; 2 (LD_EXIT_USAGE) after saying on stderr which process holds a role;
 * 1 after an I/O failure. Roles taken before a refusal are released. */
int ld_locks_take(ld_locks *l, const char *data, unsigned roles,
                  const char *mode_name);

void ld_locks_release(ld_locks *l);

#endif
