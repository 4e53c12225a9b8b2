/* test_partition.c — the partition of a product (common/ll_hash.c).
 *
 * All events of a product must reach one partition of lots.inbound, so
 * lotline computes it exactly as producers do: Kafka's Java client and
 * librdkafka's murmur2 partitioners. If lotline and a producer disagreed,
 * every event of that producer would be rejected WRONG_PARTITION. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>

#include "ll_hash.h"

/* Values of Kafka's own murmur2 test (Java ints, so signed). */
static void test_murmur2_matches_kafka_java(void **state) {
  (void)state;
  static const struct {
    const char *key;
    int32_t java;
  } cases[] = {
      {"21", -973932308},
      {"foobar", -790332482},
      {"a-little-bit-long-string", -985981536},
      {"a-little-bit-longer-string", -1486304829},
      {"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
      {"abc", 479470107},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    uint32_t h = ll_murmur2(cases[i].key, strlen(cases[i].key));
    assert_int_equal((int32_t)h, cases[i].java);
  }
}

/* Random keys of every length up to 40, several partition counts: the
 * same partition as librdkafka's murmur2 partitioner. */
static void test_partition_matches_librdkafka(void **state) {
  (void)state;
  uint64_t seed = 0x2545F4914F6CDD1Dull;
  static const int32_t counts[] = {1, 2, 3, 4, 12, 16, 24, 100, 256};
  for (int len = 0; len <= 40; len++) {
    for (int round = 0; round < 50; round++) {
      uint8_t key[40];
      for (int i = 0; i < len; i++) {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        key[i] = (uint8_t)seed;
      }
      for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
        int32_t want = rd_kafka_msg_partitioner_murmur2(NULL, key, (size_t)len,
                                                        counts[c], NULL, NULL);
        assert_int_equal(ll_partition_of_key(key, (size_t)len, counts[c]),
                         want);
      }
    }
  }
}

/* A product name as people write them. */
static void test_product_partition(void **state) {
  (void)state;
  int32_t p = ll_partition_of_key("PAINT", 5, 16);
  assert_true(p >= 0 && p < 16);
  assert_int_equal(
      p, rd_kafka_msg_partitioner_murmur2(NULL, "PAINT", 5, 16, NULL, NULL));
  assert_int_equal(ll_partition_of_key("PAINT", 5, 1), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_murmur2_matches_kafka_java),
      cmocka_unit_test(test_partition_matches_librdkafka),
      cmocka_unit_test(test_product_partition),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
