/* ll_thread.c — see ll_thread.h. */
#include "ll_thread.h"

#include <assert.h>
#include <pthread.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#define THREAD_NAME_MAX 15 /* the kernel's limit, without the NUL */

void ll_thread_set_name(const char *name) {
  assert(name != NULL);
  char shortened[THREAD_NAME_MAX + 1];
  strncpy(shortened, name, THREAD_NAME_MAX);
  shortened[THREAD_NAME_MAX] = '\0';
  (void)pthread_setname_np(pthread_self(), shortened);
}

int ll_thread_lower_priority(int nice) {
  assert(nice >= 1 && nice <= 19);
  /* On Linux the nice value belongs to the thread (PRIO_PROCESS with a
   * thread id), not to the whole process. */
  return setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), nice);
}
