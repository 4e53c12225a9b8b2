/* instance_id.c — this instance's id in a cluster (services/cluster):
 * cluster.instance.id, else the UUID in <data>/instance.id, made at the
 * first start. It keys the instance's claims in lots.members, so it
 * belongs with the data directory: a restart on the same data reclaims
 * under the same key, replacing the claim it left. */
#include <stdio.h>
#include <string.h>

#include "instance_id.h"

#define INSTANCE_ID_FILE "instance.id"
#define UUID_BYTES 16

static int new_uuid(char *out, size_t cap, ll_err *err) {
  unsigned char b[UUID_BYTES];
  FILE *f = fopen("/dev/urandom", "rb");
  size_t got = f != NULL ? fread(b, 1, sizeof b, f) : 0;
  if (f != NULL)
    fclose(f);
  if (got != sizeof b)
    return ll_fail(err, LL_ERR_IO, "no random bytes for an instance id");
  b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
  b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
  snprintf(out, cap,
           "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x"
           "%02x",
           b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10],
           b[11], b[12], b[13], b[14], b[15]);
  return 0;
}

/* The id in the file, trimmed; false when there is none. */
static bool read_id(const char *path, char *out, size_t cap) {
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return false;
  bool ok = fgets(out, (int)cap, f) != NULL;
  fclose(f);
  out[strcspn(out, "\r\n \t")] = '\0';
  return ok && out[0] != '\0';
}

static int write_id(const char *path, const char *id, ll_err *err) {
  char tmp[PATH_MAX + sizeof ".tmp"];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "w");
  if (f == NULL || fprintf(f, "%s\n", id) < 0 || fflush(f) != 0) {
    if (f != NULL)
      fclose(f);
    return ll_fail(err, LL_ERR_IO, "cannot write %s", tmp);
  }
  fclose(f);
  if (rename(tmp, path) != 0)
    return ll_fail(err, LL_ERR_IO, "cannot rename %s to %s", tmp, path);
  return 0;
}

int ld_instance_id(const ll_config *cfg, const char *data, char *out,
                   size_t cap, ll_err *err) {
  const char *set = ll_config_get(cfg, "cluster.instance.id");
  if (set != NULL && *set != '\0') {
    if (strlen(set) >= cap)
      return ll_fail(err, LL_ERR_CONFIG,
                     "cluster.instance.id is longer than %zu bytes", cap - 1);
    snprintf(out, cap, "%s", set);
    return 0;
  }
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/%s", data, INSTANCE_ID_FILE);
  if (read_id(path, out, cap))
    return 0;
  if (new_uuid(out, cap, err) != 0)
    return -1;
  return write_id(path, out, err);
}
