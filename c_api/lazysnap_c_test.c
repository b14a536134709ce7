/* lazysnap_c_test: exercises every call of the C API (include/lazysnap/lazysnap.h), from
 * C, linked against the shared library as an embedder links it: every success path and
 * the error paths a caller meets (NULL and out-of-range arguments, a missing file, a file
 * that is not a snapshot, corrupt and truncated snapshots, a reader that fails, a chunk
 * that fails its checksum during a restore, a handed-over descriptor on a failed call,
 * and a restore where userfaultfd is not allowed). abi_test checks that every exported
 * symbol appears in this file.
 *
 * Restores need a real userfaultfd (the test runs unsandboxed); where the host has none,
 * those parts are skipped with the probe's reason. Prints one line per failed check and
 * ends with "N passed, N failed". */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lazysnap/lazysnap.h"

#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)
#endif

static int passed;
static int failed;

#define CHECK(condition)                                                          \
  do {                                                                            \
    if (condition) {                                                              \
      ++passed;                                                                   \
    } else {                                                                      \
      ++failed;                                                                   \
      fprintf(stderr, "%s:%d: FAILED: %s\n", __FILE__, __LINE__, #condition);     \
    }                                                                             \
  } while (0)

/* EXPECT_CODE runs `call` (whose last argument is &error) and checks its code; on a
 * failure it checks that a message came back, and frees it. */
#define EXPECT_CODE(expected, call)                                                      \
  do {                                                                                   \
    char* error = NULL;                                                                  \
    lazysnap_code code_ = (call);                                                        \
    (void)error;                                                                         \
    if (code_ == (expected) && (code_ == LAZYSNAP_OK) == (error == NULL) &&             \
        (error == NULL || error[0] != '\0')) {                                          \
      ++passed;                                                                          \
    } else {                                                                             \
      ++failed;                                                                          \
      fprintf(stderr, "%s:%d: FAILED: %s returned %s (%s), expected %s\n", __FILE__,     \
              __LINE__, #call, lazysnap_code_name(code_), error ? error : "no message",   \
              lazysnap_code_name(expected));                                             \
    }                                                                                    \
    lazysnap_free(error);                                                                \
  } while (0)

static void skip(const char* what, const char* reason) {
  printf("SKIPPED %s: %s\n", what, reason);
}

/* ---- Files --------------------------------------------------------------------------- */

static char tmp_dir[4096];

static void path_in_tmp(char* out, size_t size, const char* name) {
  snprintf(out, size, "%s/%s", tmp_dir, name);
}

static int write_file(const char* path, const void* bytes, size_t length) {
  FILE* f = fopen(path, "wb");
  if (f == NULL) return -1;
  size_t written = fwrite(bytes, 1, length, f);
  return fclose(f) == 0 && written == length ? 0 : -1;
}

static void* read_file(const char* path, size_t* length) {
  FILE* f = fopen(path, "rb");
  if (f == NULL) return NULL;
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  void* bytes = malloc(size > 0 ? (size_t)size : 1);
  if (bytes != NULL && fread(bytes, 1, (size_t)size, f) != (size_t)size) {
    free(bytes);
    bytes = NULL;
  }
  fclose(f);
  *length = (size_t)size;
  return bytes;
}

/* The image: 3 MiB and 12 KiB (not a whole number of chunks) of text pages, zero pages
 * and pseudo-random pages; the first page is text, so the first stored chunk starts right
 * after the header of a snapshot written without a dictionary. */
enum { kPage = 4096, kChunk = 16384, kImageBytes = 3 * 1024 * 1024 + 3 * kPage };
static unsigned char* image;

static void make_image(void) {
  image = malloc(kImageBytes);
  uint64_t state = 0x9e3779b97f4a7c15ull;
  for (size_t page = 0; page < kImageBytes / kPage; ++page) {
    unsigned char* p = image + page * kPage;
    switch (page % 5) {
      case 0:
      case 1:
        for (size_t i = 0; i < kPage; ++i) p[i] = (unsigned char)("lazysnap c api "[i % 15] + page);
        break;
      case 2:
        memset(p, 0, kPage);
        break;
      default:
        for (size_t i = 0; i < kPage; ++i) {
          state ^= state << 13, state ^= state >> 7, state ^= state << 17;
          p[i] = (unsigned char)state;
        }
    }
  }
}

/* ---- Versions and codes -------------------------------------------------------------- */

static void test_versions_and_codes(void) {
  CHECK(lazysnap_version_major() == LAZYSNAP_VERSION_MAJOR);
  CHECK(lazysnap_version_minor() == LAZYSNAP_VERSION_MINOR);
  CHECK(lazysnap_version_check(LAZYSNAP_VERSION_MAJOR, LAZYSNAP_VERSION_MINOR) == 1);
  CHECK(lazysnap_version_check(LAZYSNAP_VERSION_MAJOR, 0) == 1);
  CHECK(lazysnap_version_check(LAZYSNAP_VERSION_MAJOR, LAZYSNAP_VERSION_MINOR + 1) == 0);
  CHECK(lazysnap_version_check(LAZYSNAP_VERSION_MAJOR + 1, 0) == 0);
  CHECK(LAZYSNAP_CHECK_VERSION(0, 1));
  CHECK(strcmp(lazysnap_code_name(LAZYSNAP_OK), "OK") == 0);
  CHECK(strcmp(lazysnap_code_name(LAZYSNAP_DATA_LOSS), "DATA_LOSS") == 0);
  CHECK(strcmp(lazysnap_code_name(LAZYSNAP_UNAUTHENTICATED), "UNAUTHENTICATED") == 0);
  CHECK(strcmp(lazysnap_code_name((lazysnap_code)99), "UNKNOWN_CODE") == 0);
  lazysnap_free(NULL);
}

/* ---- Writing ------------------------------------------------------------------------- */

static char image_path[4200], snapshot_path[4200], plain_snapshot_path[4200];

static void test_write(void) {
  path_in_tmp(image_path, sizeof image_path, "image.raw");
  path_in_tmp(snapshot_path, sizeof snapshot_path, "image.lzs");
  path_in_tmp(plain_snapshot_path, sizeof plain_snapshot_path, "plain.lzs");
  CHECK(write_file(image_path, image, kImageBytes) == 0);

  lazysnap_write_options_t* options = lazysnap_write_options_create();
  CHECK(options != NULL);
  EXPECT_CODE(LAZYSNAP_INVALID_ARGUMENT,
              lazysnap_write_options_set_chunk_size_bytes(options, 3000, &error));
  EXPECT_CODE(LAZYSNAP_INVALID_ARGUMENT,
              lazysnap_write_options_set_chunk_size_bytes(options, 8u << 20, &error));
  EXPECT_CODE(LAZYSNAP_INVALID_ARGUMENT,
              lazysnap_write_options_set_chunk_size_bytes(NULL, kChunk, &error));
  EXPECT_CODE(LAZYSNAP_OK, lazysnap_write_options_set_chunk_size_bytes(options, kChunk, &error));
  EXPECT_CODE(LAZYSNAP_INVALID_ARGUMENT,
              lazysnap_write_options_set_compression_level(options, 1000, &error));
  EXPECT_CODE(LAZYSNAP_OK, lazysnap_write_options_set_compression_level(options, 3, &error));
  EXPECT_CODE(LAZYSNAP_INVALID_ARGUMENT, lazysnap_write_options_set_threads(options, -1, &error));
  EXPECT_CODE(LAZYSNAP_OK, lazysnap_write_options_set_threads(options, 2, &error));
  EXPECT_CODE(LAZYSNAP_INVALID_ARGUMENT,
              lazysnap_write_options_set_dictionary_size_bytes(options, 100, &error));
  EXPECT_CODE(LAZYSNAP_INVALID_ARGUMENT,
              lazysnap_write_options_set_dictionary_size_bytes(options, 1ull << 30, &error));
  EXPECT_CODE(LAZYSNAP_OK,
              lazysnap_write_options_set_dictionary_size_bytes(options, 16384, &error));

  lazysnap_write_summary summary;
  memset(&summary, 0xff, sizeof summary);
  EXPECT_CODE(LAZYSNAP_INVALID_ARGUMENT,
              lazysnap_snapshot_write(NULL, snapshot_path, options, NULL, 0, &error));
  EXPECT_CODE(LAZYSNAP_NOT_FOUND,
              lazysnap_snapshot_write("/nonexistent/image.raw", snapshot_path, options, NULL, 0,
                                      &error));
  EXPECT_CODE(LAZYSNAP_OK, lazysnap_snapshot_write(image_path, snapshot_path, options, &summary,
                                                   sizeof summary, &error));
  CHECK(summary.image_bytes == kImageBytes);
  CHECK(summary.chunk_count == (kImageBytes + kChunk - 1) / kChunk);
  CHECK(summary.zero_chunks + summary.compressed_chunks + summary.raw_chunks +
            summary.duplicate_chunks == summary.chunk_count);
  CHECK(summary.file_bytes > 0 && summary.file_bytes < kImageBytes);

  /* Without a dictionary the first stored chunk follows the 64-byte header: the
   * corruption tests flip a byte of it. */
  EXPECT_CODE(LAZYSNAP_OK, lazysnap_write_options_set_dictionary_size_bytes(options, 0, &error));
  /* A smaller struct (an older header's) gets the fields it declares and nothing more. */
  struct {
    uint64_t image_bytes;
    uint64_t canary;
  } old_summary = {0, 0x5a5a5a5a5a5a5a5aull};
  EXPECT_CODE(LAZYSNAP_OK,
              lazysnap_snapshot_write(image_path, plain_snapshot_path, options,
                                      (lazysnap_write_summary*)&old_summary, sizeof(uint64_t),
                                      &error));
  CHECK(old_summary.image_bytes == kImageBytes);
  CHECK(old_summary.canary == 0x5a5a5a5a5a5a5a5aull);
  lazysnap_write_options_free(options);
  lazysnap_write_options_free(NULL);
}

/* ---- Opening and reading ------------------------------------------------------------- */

static void expect_open_fails(const char* path, lazysnap_code expected, const char* what) {
  lazysnap_snapshot_t* snapshot = (lazysnap_snapshot_t*)1;
  char* error = NULL;
  lazysnap_code code = lazysnap_snapshot_open(path, LAZYSNAP_OPEN_VALIDATE_INDEX, &snapshot,
                                              &error);
  if (code == expected && snapshot == NULL && error != NULL && error[0] != '\0') {
    ++passed;
  } else {
    ++failed;
    fprintf(stderr, "FAILED: opening %s (%s) returned %s (%s), expected %s\n", path, what,
            lazysnap_code_name(code), error ? error : "no message", lazysnap_code_name(expected));
  }
  lazysnap_free(error);
}

static void corrupt_copy(const char* from, const char* to, long flip_offset, long truncate_to) {
  size_t length = 0;
  unsigned char* bytes = read_file(from, &length);
  if (bytes == NULL) {
    CHECK(bytes != NULL);
    return;
  }
  if (flip_offset >= 0) bytes[flip_offset] ^= 0x40;
  if (truncate_to >= 0) length = (size_t)truncate_to;
  CHECK(write_file(to, bytes, length) == 0);
  free(bytes);
}

static char corrupt_chunk_path[4200];

static void test_open_and_read(void) {
  lazysnap_snapshot_t* snapshot = NULL;
  EXPECT_CODE(LAZYSNAP_INVALID_ARGUMENT, lazysnap_snapshot_open(snapshot_path, 0, NULL, &error));
  EXPECT_CODE(LAZYSNAP_INVALID_ARGUMENT, lazysnap_snapshot_open(NULL, 0, &snapshot, &error));
  EXPECT_CODE(LAZYSNAP_INVALID_ARGUMENT,
              lazysnap_snapshot_open(snapshot_path, 1u << 31, &snapshot, &error));
  CHECK(snapshot == NULL);
  expect_open_fails("/nonexistent/snapshot.lzs", LAZYSNAP_NOT_FOUND, "missing");
  expect_open_fails(tmp_dir, LAZYSNAP_INVALID_ARGUMENT, "a directory");
  expect_open_fails(image_path, LAZYSNAP_INVALID_ARGUMENT, "a raw image, not a snapshot");

  char path[4200];
  path_in_tmp(path, sizeof path, "bad_header.lzs");
  corrupt_copy(snapshot_path, path, 20, -1);
  expect_open_fails(path, LAZYSNAP_DATA_LOSS, "a flipped header byte");
  size_t length = 0;
  free(read_file(snapshot_path, &length));
  path_in_tmp(path, sizeof path, "truncated.lzs");
  corrupt_copy(snapshot_path, path, -1, (long)length - 100);
  expect_open_fails(path, LAZYSNAP_DATA_LOSS, "truncated");
  path_in_tmp(corrupt_chunk_path, sizeof corrupt_chunk_path, "bad_chunk.lzs");
  corrupt_copy(plain_snapshot_path, corrupt_chunk_path, 64 + 100, -1);

  /* A passing snapshot, validated at open. */
  EXPECT_CODE(LAZYSNAP_OK, lazysnap_snapshot_open(snapshot_path, LAZYSNAP_OPEN_VALIDATE_INDEX,
                                                  &snapshot, &error));
  if (snapshot == NULL) return;
  lazysnap_snapshot_info info;
  EXPECT_CODE(LAZYSNAP_INVALID_ARGUMENT,
              lazysnap_snapshot_get_info(NULL, &info, sizeof info, &error));
  EXPECT_CODE(LAZYSNAP_INVALID_ARGUMENT,
              lazysnap_snapshot_get_info(snapshot, NULL, sizeof info, &error));
  EXPECT_CODE(LAZYSNAP_OK, lazysnap_snapshot_get_info(snapshot, &info, sizeof info, &error));
  CHECK(strcmp(info.name, snapshot_path) == 0);
  CHECK(info.region_count == 1);
  CHECK(info.memory_size_bytes == kImageBytes);
  CHECK(info.image_size_bytes == kImageBytes);
  CHECK(info.chunk_size_bytes == kChunk);
  CHECK(info.chunk_count == (kImageBytes + kChunk - 1) / kChunk);
  CHECK(info.file_size_bytes == length);
  CHECK(info.page_size_bytes >= 4096);
  CHECK(info.format_major_version == 1);

  /* A larger struct (a newer header's) gets zeros after the fields this library knows. */
  unsigned char big[sizeof(lazysnap_snapshot_info) + 16];
  memset(big, 0xee, sizeof big);
  EXPECT_CODE(LAZYSNAP_OK, lazysnap_snapshot_get_info(snapshot, (lazysnap_snapshot_info*)big,
                                                      sizeof big, &error));
  int tail_zero = 1;
  for (size_t i = sizeof(lazysnap_snapshot_info); i < sizeof big; ++i) tail_zero &= big[i] == 0;
  CHECK(tail_zero);

  lazysnap_region region;
  EXPECT_CODE(LAZYSNAP_OK, lazysnap_snapshot_get_region(snapshot, 0, &region, sizeof region,
                                                        &error));
  CHECK(region.image_offset_bytes == 0 && region.length_bytes == kImageBytes);
  EXPECT_CODE(LAZYSNAP_OUT_OF_RANGE,
              lazysnap_snapshot_get_region(snapshot, 1, &region, sizeof region, &error));
  EXPECT_CODE(LAZYSNAP_INVALID_ARGUMENT,
              lazysnap_snapshot_get_region(snapshot, 0, NULL, sizeof region, &error));

  unsigned char* bytes = malloc(kImageBytes);
  EXPECT_CODE(LAZYSNAP_OK, lazysnap_snapshot_read(snapshot, 0, 0, bytes, kImageBytes, &error));
  CHECK(memcmp(bytes, image, kImageBytes) == 0);
  /* Across chunk boundaries, starting and ending inside chunks. */
  memset(bytes, 0, kImageBytes);
  EXPECT_CODE(LAZYSNAP_OK, lazysnap_snapshot_read(snapshot, 0, kChunk - 7, bytes, 3 * kChunk + 11,
                                                  &error));
  CHECK(memcmp(bytes, image + kChunk - 7, 3 * kChunk + 11) == 0);
  EXPECT_CODE(LAZYSNAP_OK, lazysnap_snapshot_read(snapshot, 0, kImageBytes, bytes, 0, &error));
  EXPECT_CODE(LAZYSNAP_OUT_OF_RANGE,
              lazysnap_snapshot_read(snapshot, 0, kImageBytes - 10, bytes, 11, &error));
  EXPECT_CODE(LAZYSNAP_OUT_OF_RANGE, lazysnap_snapshot_read(snapshot, 1, 0, bytes, 1, &error));
  EXPECT_CODE(LAZYSNAP_INVALID_ARGUMENT,
              lazysnap_snapshot_read(snapshot, 0, 0, NULL, 1, &error));
  lazysnap_snapshot_free(snapshot);
  lazysnap_snapshot_free(NULL);

  /* A chunk that fails its checksum: the tables are fine, so opening with lazy index
   * validation works, and reading the chunk is DATA_LOSS. */
  snapshot = NULL;
  EXPECT_CODE(LAZYSNAP_OK, lazysnap_snapshot_open(corrupt_chunk_path, 0, &snapshot, &error));
  if (snapshot != NULL) {
    EXPECT_CODE(LAZYSNAP_DATA_LOSS, lazysnap_snapshot_read(snapshot, 0, 0, bytes, kPage, &error));
    EXPECT_CODE(LAZYSNAP_OK,
                lazysnap_snapshot_read(snapshot, 0, 4 * kChunk, bytes, kChunk, &error));
    CHECK(memcmp(bytes, image + 4 * kChunk, kChunk) == 0);
    lazysnap_snapshot_free(snapshot);
  }
  free(bytes);
}

/* ---- A snapshot read through callbacks ----------------------------------------------- */

struct memory_reader {
  unsigned char* bytes;
  size_t length;
  uint64_t fail_at;  /* a read that covers this offset fails with EIO (UINT64_MAX: never) */
  atomic_int releases;
  atomic_int reads;
};

static int memory_read(void* context, uint64_t offset_bytes, void* buffer, size_t length_bytes) {
  struct memory_reader* reader = context;
  atomic_fetch_add(&reader->reads, 1);
  if (offset_bytes + length_bytes > reader->length) return ERANGE;
  if (reader->fail_at >= offset_bytes && reader->fail_at < offset_bytes + length_bytes) return EIO;
  memcpy(buffer, reader->bytes + offset_bytes, length_bytes);
  return 0;
}

static void memory_release(void* context) {
  struct memory_reader* reader = context;
  atomic_fetch_add(&reader->releases, 1);
}

static void test_open_reader(void) {
  struct memory_reader reader = {0};
  reader.bytes = read_file(snapshot_path, &reader.length);
  reader.fail_at = UINT64_MAX;
  CHECK(reader.bytes != NULL);
  if (reader.bytes == NULL) return;

  lazysnap_snapshot_t* snapshot = NULL;
  EXPECT_CODE(LAZYSNAP_OK, lazysnap_snapshot_open_reader("memory:image.lzs", reader.length,
                                                         memory_read, memory_release, &reader,
                                                         0, &snapshot, &error));
  CHECK(snapshot != NULL);
  if (snapshot != NULL) {
    lazysnap_snapshot_info info;
    EXPECT_CODE(LAZYSNAP_OK, lazysnap_snapshot_get_info(snapshot, &info, sizeof info, &error));
    CHECK(strcmp(info.name, "memory:image.lzs") == 0);
    unsigned char* bytes = malloc(kImageBytes);
    EXPECT_CODE(LAZYSNAP_OK,
                lazysnap_snapshot_read(snapshot, 0, 0, bytes, kImageBytes, &error));
    CHECK(memcmp(bytes, image, kImageBytes) == 0);
    free(bytes);
    CHECK(atomic_load(&reader.releases) == 0);
    lazysnap_snapshot_free(snapshot);
  }
  CHECK(atomic_load(&reader.releases) == 1);
  CHECK(atomic_load(&reader.reads) > 0);

  /* A reader whose read of the trailer fails: the open fails, naming the offset, with the
   * code absl gives EIO, and the context is still released. */
  reader.fail_at = reader.length - 1;
  atomic_store(&reader.releases, 0);
  char* error = NULL;
  snapshot = NULL;
  lazysnap_code code = lazysnap_snapshot_open_reader(
      "memory:failing", reader.length, memory_read, memory_release, &reader, 0, &snapshot, &error);
  CHECK(code != LAZYSNAP_OK && snapshot == NULL);
  CHECK(error != NULL && strstr(error, "memory:failing") != NULL && strstr(error, "offset") != NULL);
  lazysnap_free(error);
  CHECK(atomic_load(&reader.releases) == 1);

  /* Bad arguments release too. */
  atomic_store(&reader.releases, 0);
  EXPECT_CODE(LAZYSNAP_INVALID_ARGUMENT,
              lazysnap_snapshot_open_reader("x", reader.length, NULL, memory_release, &reader, 0,
                                            &snapshot, &error));
  EXPECT_CODE(LAZYSNAP_INVALID_ARGUMENT,
              lazysnap_snapshot_open_reader("x", reader.length, memory_read, memory_release,
                                            &reader, 0, NULL, &error));
  CHECK(atomic_load(&reader.releases) == 2);
  free(reader.bytes);
}

/* ---- Restore options ----------------------------------------------------------------- */

struct error_report {
  atomic_int calls;
  atomic_int code;
  char message[1024];
};

static void record_error(void* context, lazysnap_code code, const char* message) {
  struct error_report* report = context;
  snprintf(report->message, sizeof report->message, "%s", message);
  atomic_store(&report->code, code);
  atomic_fetch_add(&report->calls, 1);
}

static void test_restore_options(void) {
  lazysnap_restore_options_t* o = lazysnap_restore_options_create();
  CHECK(o != NULL);
  EXPECT_CODE(LAZYSNAP_INVALID_ARGUMENT,
              lazysnap_restore_options_set_serving_mode(o, (lazysnap_serving_mode)7, &error));
  EXPECT_CODE(LAZYSNAP_OK,
              lazysnap_restore_options_set_serving_mode(o, LAZYSNAP_SERVING_SIGBUS, &error));
  EXPECT_CODE(LAZYSNAP_OK, lazysnap_restore_options_set_serving_mode(
                               o, LAZYSNAP_SERVING_HANDLER_THREADS, &error));
  EXPECT_CODE(LAZYSNAP_INVALID_ARGUMENT, lazysnap_restore_options_set_handler_threads(o, -1, &error));
  EXPECT_CODE(LAZYSNAP_INVALID_ARGUMENT,
              lazysnap_restore_options_set_handler_threads(o, 5000, &error));
  EXPECT_CODE(LAZYSNAP_OK, lazysnap_restore_options_set_handler_threads(o, 2, &error));
  EXPECT_CODE(LAZYSNAP_OK, lazysnap_restore_options_set_pin_handler_threads(o, 0, &error));
  EXPECT_CODE(LAZYSNAP_INVALID_ARGUMENT, lazysnap_restore_options_set_handler_nice(o, 20, &error));
  EXPECT_CODE(LAZYSNAP_OK, lazysnap_restore_options_set_handler_nice(o, 0, &error));
  EXPECT_CODE(LAZYSNAP_INVALID_ARGUMENT,
              lazysnap_restore_options_set_spin_before_sleep_us(o, 2000000, &error));
  EXPECT_CODE(LAZYSNAP_OK, lazysnap_restore_options_set_spin_before_sleep_us(o, 50, &error));
  EXPECT_CODE(LAZYSNAP_INVALID_ARGUMENT, lazysnap_restore_options_set_reads_in_flight(o, 0, &error));
  EXPECT_CODE(LAZYSNAP_OK, lazysnap_restore_options_set_reads_in_flight(o, 8, &error));
  EXPECT_CODE(LAZYSNAP_INVALID_ARGUMENT,
              lazysnap_restore_options_set_readahead_chunks(o, 100000, &error));
  EXPECT_CODE(LAZYSNAP_OK, lazysnap_restore_options_set_readahead_chunks(o, 4, &error));
  EXPECT_CODE(LAZYSNAP_OK, lazysnap_restore_options_set_background_populate(o, 0, &error));
  EXPECT_CODE(LAZYSNAP_OK, lazysnap_restore_options_set_use_io_uring(o, 1, &error));
  EXPECT_CODE(LAZYSNAP_OK, lazysnap_restore_options_set_require_kernel_faults(o, 0, &error));
  EXPECT_CODE(LAZYSNAP_OK, lazysnap_restore_options_set_use_poison(o, 1, &error));
  EXPECT_CODE(LAZYSNAP_INVALID_ARGUMENT,
              lazysnap_restore_options_set_close_mode(o, (lazysnap_close_mode)5, &error));
  EXPECT_CODE(LAZYSNAP_OK,
              lazysnap_restore_options_set_close_mode(o, LAZYSNAP_CLOSE_FINISH_RESTORE, &error));
  EXPECT_CODE(LAZYSNAP_OK, lazysnap_restore_options_set_error_callback(o, NULL, NULL, &error));
  EXPECT_CODE(LAZYSNAP_INVALID_ARGUMENT,
              lazysnap_restore_options_set_handler_threads(NULL, 1, &error));
  EXPECT_CODE(LAZYSNAP_INVALID_ARGUMENT,
              lazysnap_restore_options_set_error_callback(NULL, record_error, NULL, &error));
  /* A NULL error pointer is allowed: the code alone comes back. */
  CHECK(lazysnap_restore_options_set_handler_threads(o, -5, NULL) == LAZYSNAP_INVALID_ARGUMENT);
  lazysnap_restore_options_free(o);
  lazysnap_restore_options_free(NULL);
}

/* ---- Host features ------------------------------------------------------------------- */

static lazysnap_host_features_info host;
static lazysnap_host_features_t* host_features;

static void test_host_features(void) {
  lazysnap_host_features_t* features = NULL;
  EXPECT_CODE(LAZYSNAP_INVALID_ARGUMENT, lazysnap_host_features_probe(0, NULL, &error));
  EXPECT_CODE(LAZYSNAP_INVALID_ARGUMENT, lazysnap_host_features_probe(1u << 9, &features, &error));
  EXPECT_CODE(LAZYSNAP_OK, lazysnap_host_features_probe(0, &features, &error));
  if (features == NULL) return;
  host_features = features;
  EXPECT_CODE(LAZYSNAP_OK, lazysnap_host_features_get(features, &host, sizeof host, &error));
  EXPECT_CODE(LAZYSNAP_INVALID_ARGUMENT,
              lazysnap_host_features_get(features, NULL, sizeof host, &error));
  CHECK(host.kernel_release != NULL && host.kernel_release[0] != '\0');
  CHECK(host.known_features == (LAZYSNAP_FEATURE_MOVE << 1) - 1);
  CHECK((host.open_code == LAZYSNAP_OK) == (host.open_path[0] != '\0'));
  CHECK((host.open_code == LAZYSNAP_OK) == (host.open_message[0] == '\0'));
  CHECK(host.can_restore == 0 || host.open_code == LAZYSNAP_OK);
  CHECK((host.enabled_features & ~host.reported_features) == 0);
  CHECK(host.io_uring_detail != NULL && host.io_uring_detail[0] != '\0');
  CHECK(host.open_code == LAZYSNAP_OK || host.open_attempt_count >= 1);
  for (uint32_t i = 0; i < host.open_attempt_count; ++i) {
    const char* attempt = lazysnap_host_features_open_attempt(features, i);
    CHECK(attempt != NULL && attempt[0] != '\0');
  }
  CHECK(lazysnap_host_features_open_attempt(features, host.open_attempt_count) == NULL);
  CHECK(lazysnap_host_features_open_attempt(NULL, 0) == NULL);

  int names = 0;
  for (int bit = 0; bit < 64; ++bit) {
    const uint64_t feature = UINT64_C(1) << bit;
    lazysnap_feature_info info;
    char* error = NULL;
    lazysnap_code code = lazysnap_host_features_feature(features, feature, &info, sizeof info,
                                                        &error);
    lazysnap_free(error);
    CHECK((code == LAZYSNAP_OK) == ((host.known_features & feature) != 0));
    if (code != LAZYSNAP_OK) continue;
    ++names;
    CHECK(info.name[0] != '\0' && info.since[0] != '\0' && info.purpose[0] != '\0');
    CHECK(info.supported == ((host.reported_features & feature) != 0));
    CHECK((info.state == LAZYSNAP_FEATURE_ENABLED) == ((host.enabled_features & feature) != 0));
  }
  CHECK(names == 17);
  lazysnap_feature_info info;
  EXPECT_CODE(LAZYSNAP_OK, lazysnap_host_features_feature(features, LAZYSNAP_FEATURE_POISON,
                                                          &info, sizeof info, &error));
  CHECK(strcmp(info.name, "POISON") == 0);
  EXPECT_CODE(LAZYSNAP_INVALID_ARGUMENT,
              lazysnap_host_features_feature(features, 3, &info, sizeof info, &error));
  EXPECT_CODE(LAZYSNAP_INVALID_ARGUMENT,
              lazysnap_host_features_feature(features, 0, &info, sizeof info, &error));

  /* The report for a VM runtime's restore: refusing user-mode-only never adds ways in. */
  lazysnap_host_features_t* strict = NULL;
  EXPECT_CODE(LAZYSNAP_OK,
              lazysnap_host_features_probe(LAZYSNAP_PROBE_REQUIRE_KERNEL_FAULTS, &strict, &error));
  if (strict != NULL) {
    lazysnap_host_features_info strict_info;
    EXPECT_CODE(LAZYSNAP_OK,
                lazysnap_host_features_get(strict, &strict_info, sizeof strict_info, &error));
    CHECK(strict_info.can_restore == 0 || strict_info.serves_kernel_faults == 1);
    CHECK(strict_info.can_restore <= host.can_restore);
    lazysnap_host_features_free(strict);
  }
  lazysnap_host_features_free(NULL);
}

/* ---- Sessions ------------------------------------------------------------------------ */

static int memory_matches(const unsigned char* memory, const char* what) {
  /* Touch in a scattered order first (every fault a demand fault), then compare all. */
  volatile unsigned char sink = 0;
  for (size_t page = 0; page < kImageBytes / kPage; page += 7) sink ^= memory[page * kPage];
  (void)sink;
  if (memcmp(memory, image, kImageBytes) == 0) return 1;
  fprintf(stderr, "FAILED: %s: restored memory differs from the image\n", what);
  return 0;
}

static lazysnap_restore_options_t* two_thread_options(struct error_report* report) {
  lazysnap_restore_options_t* o = lazysnap_restore_options_create();
  char* error = NULL;
  CHECK(lazysnap_restore_options_set_handler_threads(o, 2, &error) == LAZYSNAP_OK);
  if (report != NULL) {
    CHECK(lazysnap_restore_options_set_error_callback(o, record_error, report, &error) ==
          LAZYSNAP_OK);
  }
  return o;
}

static void test_session_start(lazysnap_snapshot_t* snapshot) {
  struct error_report report = {0};
  lazysnap_restore_options_t* o = two_thread_options(&report);
  lazysnap_session_t* session = NULL;
  EXPECT_CODE(LAZYSNAP_INVALID_ARGUMENT, lazysnap_session_start(NULL, o, &session, &error));
  EXPECT_CODE(LAZYSNAP_INVALID_ARGUMENT, lazysnap_session_start(snapshot, o, NULL, &error));
  EXPECT_CODE(LAZYSNAP_OK, lazysnap_session_start(snapshot, o, &session, &error));
  lazysnap_restore_options_free(o); /* the session copied them */
  if (session == NULL) return;

  void* data = NULL;
  uint64_t length = 0;
  EXPECT_CODE(LAZYSNAP_OK, lazysnap_session_region_memory(session, 0, &data, &length, &error));
  CHECK(length >= kImageBytes && data != NULL);
  EXPECT_CODE(LAZYSNAP_OUT_OF_RANGE,
              lazysnap_session_region_memory(session, 1, &data, &length, &error));
  EXPECT_CODE(LAZYSNAP_INVALID_ARGUMENT,
              lazysnap_session_region_memory(session, 0, NULL, &length, &error));
  EXPECT_CODE(LAZYSNAP_OK, lazysnap_session_region_memory(session, 0, &data, &length, &error));
  CHECK(memory_matches(data, "lazysnap_session_start"));

  lazysnap_stats stats;
  EXPECT_CODE(LAZYSNAP_OK, lazysnap_session_get_stats(session, &stats, sizeof stats, &error));
  CHECK(stats.faults > 0);
  CHECK(stats.chunks_installed > 0 && stats.chunks_failed == 0);
  CHECK(stats.bytes_installed + stats.bytes_zero_installed >= kImageBytes / 2);
  CHECK(stats.time_to_ready_ns > 0);
  EXPECT_CODE(LAZYSNAP_INVALID_ARGUMENT,
              lazysnap_session_get_stats(session, NULL, sizeof stats, &error));

  lazysnap_session_features features;
  EXPECT_CODE(LAZYSNAP_OK,
              lazysnap_session_get_features(session, &features, sizeof features, &error));
  CHECK(features.handler_threads == 2);
  CHECK(features.userfaultfd != NULL && features.userfaultfd[0] != '\0');
  CHECK(features.reader != NULL && features.reader[0] != '\0');
  CHECK(features.install != NULL && strcmp(features.install, "copy") == 0);
  CHECK(features.poison == LAZYSNAP_POISON_YES || features.poison == LAZYSNAP_POISON_NO);
  CHECK(features.serves_kernel_faults == host.serves_kernel_faults);
  EXPECT_CODE(LAZYSNAP_INVALID_ARGUMENT,
              lazysnap_session_get_features(NULL, &features, sizeof features, &error));

  EXPECT_CODE(LAZYSNAP_OK, lazysnap_session_status(session, &error));
  EXPECT_CODE(LAZYSNAP_INVALID_ARGUMENT, lazysnap_session_status(NULL, &error));
  EXPECT_CODE(LAZYSNAP_INVALID_ARGUMENT,
              lazysnap_session_close(session, (lazysnap_close_mode)9, &error));
  EXPECT_CODE(LAZYSNAP_OK, lazysnap_session_close(session, LAZYSNAP_CLOSE_FINISH_RESTORE, &error));
  EXPECT_CODE(LAZYSNAP_OK, lazysnap_session_close(session, LAZYSNAP_CLOSE_DISCARD, &error));
  /* Closed, still mapped until freed, and complete. */
  CHECK(memcmp(data, image, kImageBytes) == 0);
  EXPECT_CODE(LAZYSNAP_OK, lazysnap_session_get_stats(session, &stats, sizeof stats, &error));
  CHECK(atomic_load(&report.calls) == 0);
  lazysnap_session_free(session);
  lazysnap_session_free(NULL);

  /* SIGBUS serving: the toucher serves its own faults; no handler threads. */
  o = lazysnap_restore_options_create();
  EXPECT_CODE(LAZYSNAP_OK,
              lazysnap_restore_options_set_serving_mode(o, LAZYSNAP_SERVING_SIGBUS, &error));
  session = NULL;
  EXPECT_CODE(LAZYSNAP_OK, lazysnap_session_start(snapshot, o, &session, &error));
  lazysnap_restore_options_free(o);
  if (session != NULL) {
    EXPECT_CODE(LAZYSNAP_OK, lazysnap_session_region_memory(session, 0, &data, &length, &error));
    CHECK(memory_matches(data, "SIGBUS serving"));
    EXPECT_CODE(LAZYSNAP_OK,
                lazysnap_session_get_features(session, &features, sizeof features, &error));
    CHECK(features.handler_threads == 0);
    lazysnap_session_free(session);
  }

  /* Default options (NULL), freed without closing: the destructor finishes the restore. */
  session = NULL;
  EXPECT_CODE(LAZYSNAP_OK, lazysnap_session_start(snapshot, NULL, &session, &error));
  if (session != NULL) {
    EXPECT_CODE(LAZYSNAP_OK, lazysnap_session_region_memory(session, 0, &data, &length, &error));
    CHECK(((unsigned char*)data)[kImageBytes - 1] == image[kImageBytes - 1]);
    lazysnap_session_free(session);
  }
}

static void test_session_start_into(lazysnap_snapshot_t* snapshot) {
  const size_t length = (kImageBytes + kPage - 1) / kPage * kPage;
  unsigned char* memory = mmap(NULL, length + kPage, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  CHECK(memory != MAP_FAILED);
  if (memory == MAP_FAILED) return;
  uint64_t address = (uint64_t)(uintptr_t)memory;
  uint64_t misaligned = address + 100;
  uint64_t two[2] = {address, address + length};
  lazysnap_session_t* session = NULL;
  EXPECT_CODE(LAZYSNAP_INVALID_ARGUMENT,
              lazysnap_session_start_into(snapshot, two, 2, NULL, &session, &error));
  EXPECT_CODE(LAZYSNAP_INVALID_ARGUMENT,
              lazysnap_session_start_into(snapshot, &misaligned, 1, NULL, &session, &error));
  EXPECT_CODE(LAZYSNAP_INVALID_ARGUMENT,
              lazysnap_session_start_into(snapshot, NULL, 1, NULL, &session, &error));
  CHECK(session == NULL);
  lazysnap_restore_options_t* o = two_thread_options(NULL);
  EXPECT_CODE(LAZYSNAP_OK, lazysnap_session_start_into(snapshot, &address, 1, o, &session, &error));
  lazysnap_restore_options_free(o);
  if (session != NULL) {
    void* data = NULL;
    uint64_t region_length = 0;
    EXPECT_CODE(LAZYSNAP_OK,
                lazysnap_session_region_memory(session, 0, &data, &region_length, &error));
    CHECK(data == memory);
    CHECK(memory_matches(memory, "lazysnap_session_start_into"));
    EXPECT_CODE(LAZYSNAP_OK, lazysnap_session_close(session, LAZYSNAP_CLOSE_DISCARD, &error));
    lazysnap_session_free(session);
  }
  munmap(memory, length + kPage);
}

/* open_uffd opens a userfaultfd the way a VMM does (never user-mode-only): -1 when this
 * process may not. */
static int open_uffd(void) {
  int fd = -1;
  int device = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
  if (device >= 0) {
    fd = ioctl(device, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
    close(device);
  }
  if (fd < 0) fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return -1;
  struct uffdio_api api = {.api = UFFD_API, .features = 0};
  if (ioctl(fd, UFFDIO_API, &api) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static int fd_is_open(int fd) { return fcntl(fd, F_GETFD) != -1 || errno != EBADF; }

static void test_session_start_with_userfaultfd(lazysnap_snapshot_t* snapshot) {
  lazysnap_session_t* session = NULL;
  EXPECT_CODE(LAZYSNAP_INVALID_ARGUMENT,
              lazysnap_session_start_with_userfaultfd(snapshot, NULL, 0, -1, NULL, &session,
                                                      &error));
  int uffd = open_uffd();
  if (uffd < 0) {
    skip("lazysnap_session_start_with_userfaultfd", "this process cannot open a userfaultfd "
         "that serves kernel faults");
    return;
  }
  const size_t length = (kImageBytes + kPage - 1) / kPage * kPage;
  unsigned char* memory = mmap(NULL, length, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  CHECK(memory != MAP_FAILED);
  struct uffdio_register reg = {
      .range = {.start = (uint64_t)(uintptr_t)memory, .len = length},
      .mode = UFFDIO_REGISTER_MODE_MISSING};
  CHECK(ioctl(uffd, UFFDIO_REGISTER, &reg) == 0);
  uint64_t address = (uint64_t)(uintptr_t)memory;

  /* A failed call still takes the descriptor: it is closed. (No session runs now, so no
   * other thread can have reused the number.) */
  uint64_t two[2] = {address, address + length};
  int doomed = dup(uffd);
  CHECK(doomed >= 0 && fd_is_open(doomed));
  EXPECT_CODE(LAZYSNAP_INVALID_ARGUMENT,
              lazysnap_session_start_with_userfaultfd(snapshot, two, 2, doomed, NULL, &session,
                                                      &error));
  CHECK(!fd_is_open(doomed));
  CHECK(session == NULL);

  lazysnap_restore_options_t* o = two_thread_options(NULL);
  EXPECT_CODE(LAZYSNAP_OK, lazysnap_session_start_with_userfaultfd(snapshot, &address, 1, uffd,
                                                                   o, &session, &error));
  lazysnap_restore_options_free(o);
  if (session != NULL) {
    /* Here the "other process" is this one, so the memory can be checked. */
    CHECK(memory_matches(memory, "lazysnap_session_start_with_userfaultfd"));
    void* data = NULL;
    uint64_t region_length = 0;
    EXPECT_CODE(LAZYSNAP_FAILED_PRECONDITION,
                lazysnap_session_region_memory(session, 0, &data, &region_length, &error));
    lazysnap_session_features features;
    EXPECT_CODE(LAZYSNAP_OK,
                lazysnap_session_get_features(session, &features, sizeof features, &error));
    CHECK(strstr(features.userfaultfd, "handed over") != NULL);
    CHECK(features.enabled_features == 0);
    EXPECT_CODE(LAZYSNAP_OK, lazysnap_session_close(session, LAZYSNAP_CLOSE_FINISH_RESTORE,
                                                    &error));
    lazysnap_session_free(session);
  }
  munmap(memory, length);
}

/* A chunk fails its checksum while a session runs: the background populator meets it
 * (nothing touches it, so no thread blocks), the error callback gets DATA_LOSS once,
 * status and close report it, and every other chunk is served. */
static void test_session_corrupt_chunk(void) {
  lazysnap_snapshot_t* snapshot = NULL;
  EXPECT_CODE(LAZYSNAP_OK, lazysnap_snapshot_open(corrupt_chunk_path, 0, &snapshot, &error));
  if (snapshot == NULL) return;
  struct error_report report = {0};
  lazysnap_restore_options_t* o = two_thread_options(&report);
  EXPECT_CODE(LAZYSNAP_OK, lazysnap_restore_options_set_background_populate(o, 1, &error));
  lazysnap_session_t* session = NULL;
  EXPECT_CODE(LAZYSNAP_OK, lazysnap_session_start(snapshot, o, &session, &error));
  lazysnap_restore_options_free(o);
  lazysnap_snapshot_free(snapshot); /* the session keeps what it needs */
  if (session == NULL) return;
  /* A deadline for a failure, not a timing: the populator reaches chunk 0 first. */
  for (int i = 0; i < 6000 && atomic_load(&report.calls) == 0; ++i) {
    struct timespec ten_ms = {0, 10 * 1000 * 1000};
    nanosleep(&ten_ms, NULL);
  }
  CHECK(atomic_load(&report.calls) == 1);
  CHECK(atomic_load(&report.code) == LAZYSNAP_DATA_LOSS);
  CHECK(strstr(report.message, "bad_chunk.lzs") != NULL);
  EXPECT_CODE(LAZYSNAP_DATA_LOSS, lazysnap_session_status(session, &error));
  lazysnap_stats stats;
  EXPECT_CODE(LAZYSNAP_OK, lazysnap_session_get_stats(session, &stats, sizeof stats, &error));
  CHECK(stats.chunks_failed >= 1);
  void* data = NULL;
  uint64_t length = 0;
  EXPECT_CODE(LAZYSNAP_OK, lazysnap_session_region_memory(session, 0, &data, &length, &error));
  CHECK(memcmp((unsigned char*)data + kChunk, image + kChunk, kImageBytes - kChunk) == 0);
  EXPECT_CODE(LAZYSNAP_DATA_LOSS,
              lazysnap_session_close(session, LAZYSNAP_CLOSE_FINISH_RESTORE, &error));
  CHECK(atomic_load(&report.calls) == 1);
  lazysnap_session_free(session);
}

/* userfaultfd not allowed: a child process drops to an unprivileged user (nobody), where
 * the kernel refuses a userfaultfd that serves kernel faults unless
 * vm.unprivileged_userfaultfd=1. A restore that requires kernel faults must fail with
 * FAILED_PRECONDITION or PERMISSION_DENIED and say why; one that does not may still run
 * on UFFD_USER_MODE_ONLY, and then says so. Exit status: 0 checked, 1 failed, 77 the host
 * cannot produce the case. */
enum { kChildSkipped = 77 };

static int unprivileged_child(lazysnap_snapshot_t* snapshot) {
  if (geteuid() == 0) {
    if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0) {
      printf("SKIPPED userfaultfd-not-allowed: cannot become nobody: %s\n", strerror(errno));
      return kChildSkipped;
    }
  }
  lazysnap_host_features_t* strict = NULL;
  lazysnap_host_features_info info;
  if (lazysnap_host_features_probe(LAZYSNAP_PROBE_REQUIRE_KERNEL_FAULTS, &strict, NULL) !=
          LAZYSNAP_OK ||
      lazysnap_host_features_get(strict, &info, sizeof info, NULL) != LAZYSNAP_OK) {
    return 1;
  }
  if (info.can_restore) {
    printf("SKIPPED userfaultfd-not-allowed: this host lets an unprivileged user open a "
           "userfaultfd that serves kernel faults (%s)\n", info.open_path);
    lazysnap_host_features_free(strict);
    return kChildSkipped;
  }
  int failures = 0;
  if (info.open_code == LAZYSNAP_OK || info.open_message[0] == '\0') ++failures;
  lazysnap_host_features_free(strict);

  lazysnap_restore_options_t* o = lazysnap_restore_options_create();
  if (lazysnap_restore_options_set_require_kernel_faults(o, 1, NULL) != LAZYSNAP_OK) ++failures;
  lazysnap_session_t* session = NULL;
  char* error = NULL;
  lazysnap_code code = lazysnap_session_start(snapshot, o, &session, &error);
  if ((code != LAZYSNAP_FAILED_PRECONDITION && code != LAZYSNAP_PERMISSION_DENIED) ||
      session != NULL || error == NULL || strstr(error, "userfaultfd") == NULL) {
    fprintf(stderr, "FAILED: a restore requiring kernel faults as nobody returned %s (%s)\n",
            lazysnap_code_name(code), error ? error : "no message");
    ++failures;
  } else {
    printf("userfaultfd-not-allowed: %s: %s\n", lazysnap_code_name(code), error);
  }
  lazysnap_free(error);
  lazysnap_restore_options_free(o);

  /* Without the requirement, a user-mode-only userfaultfd may serve this process. */
  lazysnap_host_features_t* relaxed = NULL;
  if (lazysnap_host_features_probe(0, &relaxed, NULL) == LAZYSNAP_OK &&
      lazysnap_host_features_get(relaxed, &info, sizeof info, NULL) == LAZYSNAP_OK &&
      info.can_restore) {
    lazysnap_session_t* user_mode = NULL;
    if (lazysnap_session_start(snapshot, NULL, &user_mode, NULL) != LAZYSNAP_OK) {
      ++failures;
    } else {
      lazysnap_session_features features;
      void* data = NULL;
      uint64_t length = 0;
      if (lazysnap_session_get_features(user_mode, &features, sizeof features, NULL) !=
              LAZYSNAP_OK ||
          features.serves_kernel_faults != 0 ||
          lazysnap_session_region_memory(user_mode, 0, &data, &length, NULL) != LAZYSNAP_OK ||
          memcmp(data, image, kImageBytes) != 0) {
        fprintf(stderr, "FAILED: the user-mode-only restore as nobody\n");
        ++failures;
      }
      lazysnap_session_free(user_mode);
    }
  }
  lazysnap_host_features_free(relaxed);
  return failures == 0 ? 0 : 1;
}

static void test_userfaultfd_not_allowed(lazysnap_snapshot_t* snapshot) {
  fflush(stdout);
  fflush(stderr);
  pid_t child = fork();
  if (child == 0) {
    const int result = unprivileged_child(snapshot);
    fflush(stdout);
    fflush(stderr);
    _exit(result);
  }
  CHECK(child > 0);
  int status = 0;
  CHECK(waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status));
  if (WIFEXITED(status) && WEXITSTATUS(status) == kChildSkipped) return;
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int main(void) {
  const char* tmp = getenv("TEST_TMPDIR");
  snprintf(tmp_dir, sizeof tmp_dir, "%s", tmp != NULL ? tmp : "/tmp");
  make_image();
  test_versions_and_codes();
  test_write();
  test_open_and_read();
  test_open_reader();
  test_restore_options();
  test_host_features();

  if (host_features == NULL || !host.can_restore) {
    skip("restores", host_features == NULL ? "no host features report" : host.open_message);
  } else {
    lazysnap_snapshot_t* snapshot = NULL;
    EXPECT_CODE(LAZYSNAP_OK, lazysnap_snapshot_open(snapshot_path, 0, &snapshot, &error));
    if (snapshot != NULL) {
      test_session_start(snapshot);
      test_session_start_into(snapshot);
      test_session_start_with_userfaultfd(snapshot);
      test_session_corrupt_chunk();
      test_userfaultfd_not_allowed(snapshot);
      lazysnap_snapshot_free(snapshot);
    }
  }
  lazysnap_host_features_free(host_features);
  free(image);
  printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
