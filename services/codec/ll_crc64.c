/* ll_crc64.c — CRC-64-AVRO, the 64-bit Rabin fingerprint the Avro
 * specification uses for schema fingerprints (single-object encoding).
 *
 * Table-driven, one byte at a time, exactly as the specification's
 * reference code: start from the fingerprint of the empty string and fold
 * each byte in with a 256-entry table derived from the same constant. The
 * table is built once, on first use. */
#include <pthread.h>

#include "ll_codec.h"

#define CRC64_AVRO_EMPTY 0xc15d213aa4d7a795ULL

static uint64_t crc64_table[256];
static pthread_once_t crc64_once = PTHREAD_ONCE_INIT;

static void crc64_build_table(void) {
  for (int i = 0; i < 256; i++) {
    uint64_t fp = (uint64_t)i;
    for (int j = 0; j < 8; j++) {
      uint64_t mask = -(fp & 1ULL);
      fp = (fp >> 1) ^ (CRC64_AVRO_EMPTY & mask);
    }
    crc64_table[i] = fp;
  }
}

uint64_t ll_crc64_avro(const void *data, size_t len) {
  pthread_once(&crc64_once, crc64_build_table);
  const uint8_t *p = data;
  uint64_t fp = CRC64_AVRO_EMPTY;
  for (size_t i = 0; i < len; i++)
    fp = (fp >> 8) ^ crc64_table[(fp ^ p[i]) & 0xff];
  return fp;
}
