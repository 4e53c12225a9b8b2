/* replay_main.c — runs the fuzz target over files, without libFuzzer.
 *
 *   fuzz_replay PATH...    each PATH a file or a directory of files
 *
 * The normal (gcc) build uses it as a test: the seed corpus and every
 * input that once broke the target (tests/fuzz/regressions/) must pass
 * through the target's checks. A broken promise aborts, so the test fails
 * with the message. Files whose names start with '.' or "README" are
 * skipped. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ll_buf.h"

#define REPLAY_PATH_MAX 4096
#define REPLAY_FILE_MAX_BYTES (1 << 20)

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
void fuzz_shutdown(void);

static int replay_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    fprintf(stderr, "fuzz_replay: cannot open %s\n", path);
    return -1;
  }
  ll_buf b;
  ll_buf_init(&b);
  char tmp[4096];
  size_t n;
  while ((n = fread(tmp, 1, sizeof tmp, f)) > 0 &&
         b.len <= REPLAY_FILE_MAX_BYTES)
    ll_buf_put(&b, tmp, n);
  fclose(f);
  if (getenv("FUZZ_VERBOSE"))
    printf("%s\n", path);
  LLVMFuzzerTestOneInput(b.data, b.len);
  ll_buf_free(&b);
  return 0;
}

static int cmp_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Replays every file of a directory in name order; returns how many, or
 * -1. */
static int replay_dir(const char *dir) {
  DIR *d = opendir(dir);
  if (d == NULL) {
    fprintf(stderr, "fuzz_replay: cannot open %s\n", dir);
    return -1;
  }
  char **names = NULL;
  size_t n = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.' || strncmp(de->d_name, "README", 6) == 0)
      continue;
    names = realloc(names, (n + 1) * sizeof *names);
    names[n++] = strdup(de->d_name);
  }
  closedir(d);
  if (n > 0)
    qsort(names, n, sizeof *names, cmp_names);
  int count = 0;
  for (size_t i = 0; i < n; i++) {
    char path[REPLAY_PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    if (count >= 0 && replay_file(path) == 0)
      count++;
    else
      count = -1;
    free(names[i]);
  }
  free(names);
  return count;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: fuzz_replay FILE_OR_DIR...\n");
    return 2;
  }
  LLVMFuzzerInitialize(&argc, &argv);
  int total = 0, rc = 0;
  for (int i = 1; i < argc; i++) {
    struct stat st;
    int n = -1;
    if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
      n = replay_dir(argv[i]);
    else if (replay_file(argv[i]) == 0)
      n = 1;
    if (n < 0)
      rc = 1;
    else
      total += n;
    printf("%s: %d input(s)\n", argv[i], n < 0 ? 0 : n);
  }
  fuzz_shutdown();
  printf("fuzz_replay: %d input(s) passed the target's checks\n", total);
  return rc;
}
