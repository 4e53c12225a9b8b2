/* data_lock.c — one process per role on a data directory (data_lock.h). */
#include "data_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "settings.h"

#define HOLDER_MAX_BYTES 128 /* "PID MODE\n" */

static const char *const role_names[LD_ROLE_COUNT] = {
    [LD_ROLE_CONSUMER] = "consumer",
    [LD_ROLE_VIEWS] = "views",
    [LD_ROLE_BROKER] = "broker",
};

static const char *const role_what[LD_ROLE_COUNT] = {
    [LD_ROLE_CONSUMER] = "the command consumer (the log)",
    [LD_ROLE_VIEWS] = "the views (projector and API)",
    [LD_ROLE_BROKER] = "the embedded broker (broker.addr)",
};

void ld_locks_init(ld_locks *l) {
  for (int r = 0; r < LD_ROLE_COUNT; r++)
    l->fd[r] = -1;
}

void ld_locks_release(ld_locks *l) {
  for (int r = 0; r < LD_ROLE_COUNT; r++) {
    if (l->fd[r] >= 0)
      close(l->fd[r]); /* drops the flock */
    l->fd[r] = -1;
  }
}

/* Who holds the lock, as its holder wrote it ("PID MODE"); "" if unknown. */
static void read_holder(int fd, char *out, size_t cap) {
  ssize_t n = pread(fd, out, cap - 1, 0);
  out[n > 0 ? n : 0] = '\0';
  out[strcspn(out, "\n")] = '\0';
}

static int refuse(int fd, const char *data, ld_role role) {
  char holder[HOLDER_MAX_BYTES];
  read_holder(fd, holder, sizeof holder);
  char pid[HOLDER_MAX_BYTES] = "?", mode[HOLDER_MAX_BYTES] = "?";
  sscanf(holder, "%127s %127s", pid, mode);
  fprintf(stderr,
          "lotlined: data directory %s is in use: 'lotlined %s' (pid %s) runs "
          "%s on it; one process per role on a data directory: stop it, or "
          "give this one its own --data (BUSY)\n",
          data, mode, pid, role_what[role]);
  return LD_EXIT_USAGE;
}

static int take_one(ld_locks *l, const char *data, ld_role role,
                    const char *mode_name) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/%s.lock", data, role_names[role]);
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    fprintf(stderr, "lotlined: cannot open %s: %s (IO)\n", path,
            strerror(errno));
    return 1;
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int rc = errno == EWOULDBLOCK ? refuse(fd, data, role) : 1;
    if (rc == 1)
      fprintf(stderr, "lotlined: cannot lock %s: %s (IO)\n", path,
              strerror(errno));
    close(fd);
    return rc;
  }
  char holder[HOLDER_MAX_BYTES];
  int n =
      snprintf(holder, sizeof holder, "%ld %s\n", (long)getpid(), mode_name);
  if (ftruncate(fd, 0) != 0 || pwrite(fd, holder, (size_t)n, 0) != n) {
    fprintf(stderr, "lotlined: cannot write %s: %s (IO)\n", path,
            strerror(errno));
    close(fd);
    return 1;
  }
  l->fd[role] = fd;
  return 0;
}

int ld_locks_take(ld_locks *l, const char *data, unsigned roles,
                  const char *mode_name) {
  for (int r = 0; r < LD_ROLE_COUNT; r++) {
    if (!(roles & LD_ROLE_BIT(r)) || l->fd[r] >= 0)
      continue;
    int rc = take_one(l, data, (ld_role)r, mode_name);
    if (rc != 0) {
      ld_locks_release(l);
      return rc;
    }
  }
  return 0;
}
