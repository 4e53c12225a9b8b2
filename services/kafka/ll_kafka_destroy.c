/* ll_kafka_destroy.c — destroying a librdkafka handle without waiting on
 * it forever.
 *
 * rd_kafka_destroy joins every thread of the handle. After a broker fault
 * one of them can take long to notice the handle is going (a request in
 * flight to a broker that stopped answering), and a process that is
 * stopping must not hang on that: everything it decided is durable by
 * then. So the destroy runs on a thread of its own and the caller waits
 * for it at most a given time; past it the thread is left to finish, or
 * to the process exit, and the caller goes on. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>

#include <librdkafka/rdkafka.h>

#include "ll_kafka.h"
#include "ll_logging.h"
#include "ll_time.h"

static void *destroy_main(void *arg) {
  rd_kafka_destroy((rd_kafka_t *)arg);
  return NULL;
}

bool ll_kafka_destroy_within(void *rk, int timeout_ms, const char *what) {
  pthread_t t;
  if (pthread_create(&t, NULL, destroy_main, rk) != 0) {
    rd_kafka_destroy((rd_kafka_t *)rk); /* no thread: wait here instead */
    return true;
  }
  struct timespec deadline = ll_deadline_after_ms(timeout_ms);
  int rc = pthread_timedjoin_np(t, NULL, &deadline);
  if (rc == 0)
    return true;
  pthread_detach(t);
  ll_log(LL_WARN, what,
         "the Kafka client did not shut down within %d ms; leaving it to "
         "the process exit (%s)",
         timeout_ms, rc == ETIMEDOUT ? "timed out" : "join failed");
  return false;
}
