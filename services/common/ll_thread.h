/* ll_thread.h — what a worker thread tells the kernel about itself.
 *
 * A name, so that `top -H`, `ps -L` and a profile say which piece is busy
 * (every thread would otherwise be "lotlined"). A lower CPU priority for
 * work nobody waits on: when the cores are all busy, the threads that
 * answer a waiting client run first, and the background work is done a
 * little later; when a core is free the priority changes nothing. */
#ifndef LL_THREAD_H
#define LL_THREAD_H

/* Name the calling thread (at most 15 bytes are kept). */
void ll_thread_set_name(const char *name);

/* Lower the calling thread's CPU priority to nice (1..19); threads it
 * creates afterwards inherit it. Returns 0, or -1 with errno when the
 * kernel refuses (the thread then runs at its priority as it was). */
int ll_thread_lower_priority(int nice);

#endif
