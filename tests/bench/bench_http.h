/* bench_http.h — the benchmark's HTTP/1.1 client (the write clients, the
 * freshness poller): one keep-alive connection, one request at a time, as
 * little of the client's own CPU as it takes (bench_http.c). */
#ifndef BENCH_HTTP_H
#define BENCH_HTTP_H

#include <stddef.h>

#define BENCH_HTTP_BUF_BYTES 8192

typedef struct bench_http {
  char addr[64]; /* host:port, as lotlined wrote it to http.addr */
  int fd;        /* -1: not connected (the next request connects) */
  char buf[BENCH_HTTP_BUF_BYTES];
  size_t have; /* bytes in buf not consumed yet */
} bench_http;

/* A client of addr ("127.0.0.1:8080"); nothing is connected yet. */
void bench_http_init(bench_http *c, const char *addr);
/* method path with headers (each line ending in "\r\n", or "") and,
 * unless NULL, a JSON body; reads the whole answer and returns its
 * status, or -1 with why filled (connection refused or lost, an answer
 * that is not HTTP/1.x, a read that waited timeout_ms). */
int bench_http_request(bench_http *c, const char *method, const char *path,
                       const char *headers, const char *body, int timeout_ms,
                       char *why, size_t why_len);
void bench_http_close(bench_http *c);

#endif
