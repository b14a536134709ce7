/* example: a minimal embedder of lazysnap's C API, built outside Bazel against the
 * installed tree (README, "The C API"; pkg_config_test builds it both ways):
 *
 *   cc example.c -o example $(pkg-config --cflags --libs lazysnap)          # shared
 *   cc example.c -o example $(pkg-config --cflags --libs lazysnap-static)   # static
 *
 * example DIR: writes a 1 MiB image to DIR, snapshots it, reads it back through the
 * snapshot, and, where this host has a userfaultfd, restores it lazily and compares every
 * byte. Exit status 0 when everything matched. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lazysnap/lazysnap.h>

enum { kImageBytes = 1 << 20 };

static int failed(const char* what, lazysnap_code code, char* error) {
  fprintf(stderr, "example: %s: %s: %s\n", what, lazysnap_code_name(code),
          error != NULL ? error : "(no message)");
  lazysnap_free(error);
  return 1;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: example DIR\n");
    return 2;
  }
  if (!lazysnap_version_check(LAZYSNAP_VERSION_MAJOR, LAZYSNAP_VERSION_MINOR)) {
    fprintf(stderr, "example: liblazysnap %d.%d is older than this program's header %d.%d\n",
            lazysnap_version_major(), lazysnap_version_minor(), LAZYSNAP_VERSION_MAJOR,
            LAZYSNAP_VERSION_MINOR);
    return 1;
  }
  char image_path[4096], snapshot_path[4096];
  snprintf(image_path, sizeof image_path, "%s/example.raw", argv[1]);
  snprintf(snapshot_path, sizeof snapshot_path, "%s/example.lzs", argv[1]);
  unsigned char* image = calloc(kImageBytes, 1);
  for (size_t i = 0; i < kImageBytes; ++i) {
    if ((i / 4096) % 4 != 3) image[i] = (unsigned char)(i * 7 + i / 4096);
  }
  FILE* f = fopen(image_path, "wb");
  if (f == NULL || fwrite(image, 1, kImageBytes, f) != kImageBytes || fclose(f) != 0) {
    perror("example: writing the image");
    return 1;
  }

  char* error = NULL;
  lazysnap_code code = lazysnap_snapshot_write(image_path, snapshot_path, NULL, NULL, 0, &error);
  if (code != LAZYSNAP_OK) return failed("writing the snapshot", code, error);
  lazysnap_snapshot_t* snapshot = NULL;
  code = lazysnap_snapshot_open(snapshot_path, 0, &snapshot, &error);
  if (code != LAZYSNAP_OK) return failed("opening the snapshot", code, error);

  unsigned char* copy = malloc(kImageBytes);
  code = lazysnap_snapshot_read(snapshot, 0, 0, copy, kImageBytes, &error);
  if (code != LAZYSNAP_OK) return failed("reading the snapshot", code, error);
  int mismatches = memcmp(copy, image, kImageBytes) != 0;
  printf("read back: %s\n", mismatches ? "DIFFERS" : "identical");

  lazysnap_host_features_t* host = NULL;
  lazysnap_host_features_info info;
  if (lazysnap_host_features_probe(0, &host, NULL) != LAZYSNAP_OK ||
      lazysnap_host_features_get(host, &info, sizeof info, NULL) != LAZYSNAP_OK) {
    return 1;
  }
  if (!info.can_restore) {
    printf("lazy restore skipped: %s\n", info.open_message);
  } else {
    lazysnap_session_t* session = NULL;
    code = lazysnap_session_start(snapshot, NULL, &session, &error);
    if (code != LAZYSNAP_OK) return failed("starting the restore", code, error);
    void* memory = NULL;
    uint64_t length = 0;
    code = lazysnap_session_region_memory(session, 0, &memory, &length, &error);
    if (code != LAZYSNAP_OK) return failed("finding the memory", code, error);
    const int differs = memcmp(memory, image, kImageBytes) != 0; /* faults pages in */
    lazysnap_stats stats;
    code = lazysnap_session_get_stats(session, &stats, sizeof stats, &error);
    if (code != LAZYSNAP_OK) return failed("reading stats", code, error);
    printf("lazy restore: %s, %llu faults, p50 %llu ns\n", differs ? "DIFFERS" : "identical",
           (unsigned long long)stats.faults, (unsigned long long)stats.latency_p50_ns);
    mismatches += differs;
    lazysnap_session_free(session);
  }
  lazysnap_host_features_free(host);
  lazysnap_snapshot_free(snapshot);
  free(copy);
  free(image);
  return mismatches == 0 ? 0 : 1;
}
