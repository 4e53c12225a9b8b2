/* bench_http.c — a minimal HTTP/1.1 client for the write clients and the
 * freshness poller.
 *
 * The benchmark's clients run on the two cores the service under test
 * has. libcurl's easy interface took about 100 µs of CPU a request there
 * (a poll loop and several system calls around each send and receive, and
 * its own parsing): with 32 clients, 13 % of the machine in a profiled
 * write phase. This client writes a request with one send and reads the
 * answer with as few receives as it takes, on a blocking keep-alive
 * socket, and understands what lotlined answers: a status line, headers
 * with Content-Length, a body. */
#include "bench_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define REQUEST_MAX_BYTES 2048 /* head and body */

void bench_http_init(bench_http *c, const char *addr) {
  memset(c, 0, sizeof *c);
  snprintf(c->addr, sizeof c->addr, "%s", addr);
  c->fd = -1;
}

void bench_http_close(bench_http *c) {
  if (c->fd >= 0)
    close(c->fd);
  c->fd = -1;
  c->have = 0;
}

static int fail(char *why, size_t why_len, const char *what) {
  snprintf(why, why_len, "%s", what);
  return -1;
}

/* Connect to c->addr (an IPv4 host:port) with timeout_ms on reads. */
static int connect_to(bench_http *c, int timeout_ms, char *why,
                      size_t why_len) {
  char host[64];
  snprintf(host, sizeof host, "%s", c->addr);
  char *colon = strrchr(host, ':');
  if (colon == NULL)
    return fail(why, why_len, "the API address has no port");
  *colon = '\0';
  struct sockaddr_in sa = {.sin_family = AF_INET,
                           .sin_port = htons((uint16_t)atoi(colon + 1))};
  if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
    return fail(why, why_len, "the API address is not an IPv4 host:port");
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return fail(why, why_len, strerror(errno));
  int one = 1;
  struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    snprintf(why, why_len, "connecting to %s: %s", c->addr, strerror(errno));
    close(fd);
    return -1;
  }
  c->fd = fd;
  c->have = 0;
  return 0;
}

static int send_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0)
      return -1;
    p += k;
    n -= (size_t)k;
  }
  return 0;
}

/* Receive more into c->buf, keeping room for a terminating NUL; false
 * when the peer closed, failed or timed out, or the buffer is full. */
static bool receive(bench_http *c) {
  if (c->have + 1 >= sizeof c->buf)
    return false;
  ssize_t k;
  do
    k = recv(c->fd, c->buf + c->have, sizeof c->buf - 1 - c->have, 0);
  while (k < 0 && errno == EINTR);
  if (k <= 0)
    return false;
  c->have += (size_t)k;
  return true;
}

/* The value of header name in head (lines ending "\r\n"), or NULL. */
static const char *header(const char *head, const char *name) {
  size_t n = strlen(name);
  for (const char *l = strstr(head, "\r\n"); l != NULL;
       l = strstr(l + 2, "\r\n"))
    if (strncasecmp(l + 2, name, n) == 0 && l[2 + n] == ':')
      return l + 3 + n + strspn(l + 3 + n, " \t");
  return NULL;
}

/* Read one whole answer: its status, or -1. */
static int read_answer(bench_http *c, bool *close_after, char *why,
                       size_t why_len) {
  char *end;
  for (;;) {
    c->buf[c->have] = '\0';
    end = strstr(c->buf, "\r\n\r\n");
    if (end != NULL)
      break;
    if (!receive(c))
      return fail(why, why_len, "the answer's head did not come");
  }
  *end = '\0';
  int status = 0;
  if (sscanf(c->buf, "HTTP/1.%*1d %3d", &status) != 1)
    return fail(why, why_len, "the answer is not HTTP/1.x");
  const char *len = header(c->buf, "Content-Length");
  if (len == NULL)
    return fail(why, why_len, "the answer has no Content-Length");
  const char *conn = header(c->buf, "Connection");
  *close_after = conn != NULL && strncasecmp(conn, "close", 5) == 0;
  size_t head = (size_t)(end + 4 - c->buf);
  size_t body = strtoul(len, NULL, 10), left = body;
  /* The body: what came with the head, then the rest (discarded). */
  size_t got = c->have - head < left ? c->have - head : left;
  left -= got;
  memmove(c->buf, c->buf + head + got, c->have - head - got);
  c->have -= head + got;
  while (left > 0) {
    if (!receive(c))
      return fail(why, why_len, "the answer's body did not come");
    size_t take = c->have < left ? c->have : left;
    memmove(c->buf, c->buf + take, c->have - take);
    c->have -= take;
    left -= take;
  }
  return status;
}

int bench_http_request(bench_http *c, const char *method, const char *path,
                       const char *headers, const char *body, int timeout_ms,
                       char *why, size_t why_len) {
  if (c->fd < 0 && connect_to(c, timeout_ms, why, why_len) != 0)
    return -1;
  char req[REQUEST_MAX_BYTES];
  int n =
      body != NULL
          ? snprintf(req, sizeof req,
                     "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Type: "
                     "application/json\r\n%sContent-Length: "
                     "%zu\r\n\r\n%s",
                     method, path, c->addr, headers, strlen(body), body)
          : snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: %s\r\n%s\r\n",
                     method, path, c->addr, headers);
  if (n < 0 || (size_t)n >= sizeof req)
    return fail(why, why_len, "a request is too long");
  bool close_after = false;
  int status = -1;
  if (send_all(c->fd, req, (size_t)n) == 0)
    status = read_answer(c, &close_after, why, why_len);
  else
    snprintf(why, why_len, "sending to %s: %s", c->addr, strerror(errno));
  if (status < 0 || close_after)
    bench_http_close(c);
  return status;
}
