/* test_sample_config.c — deploy/lotline.conf.sample is what operators copy
 * to /etc/lotline/lotline.conf, so it must load, document every key, tell
 * the truth about defaults, and its kafka.* examples must be properties
 * librdkafka accepts.
 *
 * "Documented" lines are the commented-out settings: '#' then `key = value`
 * where key looks like a config key. Prose comments never match that
 * shape (they start with a capital or hold no '=' after one word). */
#include <ctype.h>
#include <librdkafka/rdkafka.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ll_config.h"
#include "ll_kafka.h"

#define SAMPLE_PATH LOTLINE_SOURCE_DIR "/deploy/lotline.conf.sample"
#define SAMPLE_LINES_MAX 512
#define LINE_MAX_BYTES 1024

typedef struct setting {
  char key[128];
  char value[LINE_MAX_BYTES];
  int line;
} setting;

typedef struct sample {
  setting commented[SAMPLE_LINES_MAX];
  size_t n_commented;
  setting active[SAMPLE_LINES_MAX];
  size_t n_active;
} sample;

static char *trim(char *s) {
  while (isspace((unsigned char)*s))
    s++;
  size_t n = strlen(s);
  while (n > 0 && isspace((unsigned char)s[n - 1]))
    s[--n] = '\0';
  return s;
}

/* `key = value` with key of [a-z0-9._<>-], starting with a lower-case
 * letter; false for anything else. */
static bool parse_setting(char *s, setting *out) {
  char *eq = strchr(s, '=');
  if (!eq || !islower((unsigned char)*s))
    return false;
  *eq = '\0';
  char *key = trim(s), *value = trim(eq + 1);
  for (const char *k = key; *k; k++)
    if (!islower((unsigned char)*k) && !isdigit((unsigned char)*k) &&
        !strchr("._-", *k))
      return false;
  if (strlen(key) >= sizeof out->key || strlen(value) >= sizeof out->value)
    return false;
  strcpy(out->key, key);
  strcpy(out->value, value);
  return true;
}

static void read_sample(sample *s) {
  memset(s, 0, sizeof *s);
  FILE *f = fopen(SAMPLE_PATH, "r");
  assert_non_null(f);
  char line[LINE_MAX_BYTES];
  int lineno = 0;
  while (fgets(line, sizeof line, f)) {
    lineno++;
    char *t = trim(line);
    bool commented = *t == '#';
    if (commented)
      t = trim(t + 1);
    setting st = {.line = lineno};
    if (!parse_setting(t, &st))
      continue;
    if (commented) {
      assert_true(s->n_commented < SAMPLE_LINES_MAX);
      s->commented[s->n_commented++] = st;
    } else {
      assert_true(s->n_active < SAMPLE_LINES_MAX);
      s->active[s->n_active++] = st;
    }
  }
  fclose(f);
}

/* The known keys, from the same table `lotlined --help` prints. */
static size_t known_keys(char keys[][128], size_t max) {
  char *text = NULL;
  size_t len = 0;
  FILE *mem = open_memstream(&text, &len);
  assert_non_null(mem);
  ll_config_print_keys(mem);
  fclose(mem);
  size_t n = 0;
  for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
    char key[128];
    if (sscanf(line, " %127s", key) != 1 || strchr(key, '<'))
      continue; /* kafka.<property> */
    assert_true(n < max);
    strcpy(keys[n++], key);
  }
  free(text);
  return n;
}

static bool documented(const sample *s, const char *key) {
  for (size_t i = 0; i < s->n_commented; i++)
    if (strcmp(s->commented[i].key, key) == 0)
      return true;
  for (size_t i = 0; i < s->n_active; i++)
    if (strcmp(s->active[i].key, key) == 0)
      return true;
  return false;
}

static void test_sample_loads(void **state) {
  (void)state;
  ll_config cfg;
  ll_err err = {0};
  ll_config_init(&cfg);
  int rc = ll_config_load_file(&cfg, SAMPLE_PATH, &err);
  if (rc != 0)
    fail_msg("%s", err.message);
  ll_config_free(&cfg);
}

static void test_every_key_documented(void **state) {
  (void)state;
  static sample s;
  static char keys[LL_CONFIG_MAX_ENTRIES][128];
  read_sample(&s);
  size_t n = known_keys(keys, LL_CONFIG_MAX_ENTRIES);
  assert_true(n >= 10); /* the table was read */
  int missing = 0;
  for (size_t i = 0; i < n; i++) {
    if (!documented(&s, keys[i])) {
      print_message("not in %s: %s\n", SAMPLE_PATH, keys[i]);
      missing++;
    }
  }
  assert_int_equal(missing, 0);
}

/* Every commented-out setting would load if uncommented, and where the key
 * has a built-in default the sample shows exactly that default. */
static void test_commented_settings_true(void **state) {
  (void)state;
  static sample s;
  read_sample(&s);
  assert_true(s.n_commented >= 10);
  ll_config defaults, cfg;
  ll_config_init(&defaults);
  ll_config_init(&cfg);
  int wrong = 0;
  for (size_t i = 0; i < s.n_commented; i++) {
    const setting *st = &s.commented[i];
    ll_err err = {0};
    if (ll_config_set(&cfg, st->key, st->value, &err) != 0) {
      print_message("line %d: %s\n", st->line, err.message);
      wrong++;
      continue;
    }
    const char *def = ll_config_get(&defaults, st->key);
    if (def && strcmp(def, st->value) != 0) {
      print_message("line %d: %s: sample shows '%s', default is '%s'\n",
                    st->line, st->key, st->value, def);
      wrong++;
    }
  }
  assert_int_equal(wrong, 0);
  ll_config_free(&cfg);
  ll_config_free(&defaults);
}

/* The kafka.* examples are real librdkafka properties with valid values. */
static void test_kafka_examples_accepted(void **state) {
  (void)state;
  static sample s;
  read_sample(&s);
  size_t kafka = 0;
  for (size_t i = 0; i < s.n_commented; i++) {
    if (strncmp(s.commented[i].key, "kafka.", 6) != 0)
      continue;
    ll_err err = {0};
    /* One at a time: the sample shows alternatives for the same key. */
    ll_config one;
    ll_config_init(&one);
    assert_int_equal(
        ll_config_set(&one, s.commented[i].key, s.commented[i].value, &err), 0);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (ll_kafka_conf_apply(conf, &one, &err) != 0)
      fail_msg("line %d: %s", s.commented[i].line, err.message);
    rd_kafka_conf_destroy(conf);
    ll_config_free(&one);
    kafka++;
  }
  assert_true(kafka >= 5); /* SASL and TLS examples are there */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sample_loads),
      cmocka_unit_test(test_every_key_documented),
      cmocka_unit_test(test_commented_settings_true),
      cmocka_unit_test(test_kafka_examples_accepted),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
