/* lazysnap.h: the C API of lazysnap, for runtimes that cannot link C++ (Rust, Go, C).
 *
 * lazysnap restores memory snapshots lazily: a session registers memory with userfaultfd
 * and fills each page, the first time anything touches it, from a compressed snapshot.
 * This header is the whole C API; liblazysnap.so (symbols versioned LAZYSNAP_<major>.<minor>)
 * and liblazysnap.a implement it. leveldb's c.h and liburing are the models:
 *
 *  - Objects are opaque handles (lazysnap_snapshot_t, lazysnap_session_t, ...), made by a
 *    call of this API and released with the matching *_free call (NULL is ignored there).
 *  - Every call that can fail returns a lazysnap_code, whose values are those of
 *    absl::StatusCode (LAZYSNAP_OK is 0), and takes `char** error` as its last argument:
 *    when `error` is not NULL, *error is set to NULL on success, and on failure to a
 *    message (NUL-terminated, naming file, chunk, address and reason) that the caller
 *    releases with lazysnap_free. A message that cannot be allocated is left NULL.
 *  - No C++ type and no exception crosses this boundary: calls catch everything (an
 *    allocation failure returns LAZYSNAP_RESOURCE_EXHAUSTED).
 *  - Callbacks are a function pointer plus a `void* context` passed back verbatim.
 *  - Options live in opaque handles changed by setters, and results are copied into
 *    structs whose size the caller passes (`sizeof` of the struct as its header declared
 *    it). A later minor version adds setters and appends fields at the end of structs, so
 *    a program built against an older header keeps working with a newer library, and a
 *    program that uses a newer call fails to link (or, checked at run time with
 *    lazysnap_version_check, can avoid it) instead of misbehaving.
 *
 * Thread-safety: a snapshot and a session may be used from many threads at once, except
 * that their *_free call must not race with any other call on them. Option handles are
 * not thread-safe; starting a session copies them, so they may be changed or freed at
 * once afterwards.
 */
#ifndef LAZYSNAP_LAZYSNAP_H_
#define LAZYSNAP_LAZYSNAP_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The API version this header declares. The major version is the shared library's
 * soname (liblazysnap.so.0) and changes only when the ABI breaks; each minor version adds
 * calls (a new symbol version node, LAZYSNAP_0.2, ...) without changing old ones. */
#define LAZYSNAP_VERSION_MAJOR 0
#define LAZYSNAP_VERSION_MINOR 1

/* LAZYSNAP_CHECK_VERSION is true when this header declares at least major.minor. */
#define LAZYSNAP_CHECK_VERSION(major, minor) \
  (LAZYSNAP_VERSION_MAJOR == (major) && LAZYSNAP_VERSION_MINOR >= (minor))

#if defined(__GNUC__)
#define LAZYSNAP_MUST_USE __attribute__((warn_unused_result))
#else
#define LAZYSNAP_MUST_USE
#endif

/* ---- Errors ------------------------------------------------------------------------ */

/* lazysnap_code: the outcome of a call; the values of absl::StatusCode. What each means
 * here: INVALID_ARGUMENT (the caller's input), DATA_LOSS (a corrupt snapshot, a checksum
 * mismatch), FAILED_PRECONDITION (the kernel lacks a required feature, or userfaultfd is
 * not allowed here for what was asked), PERMISSION_DENIED, NOT_FOUND, UNIMPLEMENTED (a
 * format feature this build does not know), RESOURCE_EXHAUSTED (memory, address space),
 * OUT_OF_RANGE (an index or offset past the end), UNAVAILABLE (retryable). */
typedef enum lazysnap_code {
  LAZYSNAP_OK = 0,
  LAZYSNAP_CANCELLED = 1,
  LAZYSNAP_UNKNOWN = 2,
  LAZYSNAP_INVALID_ARGUMENT = 3,
  LAZYSNAP_DEADLINE_EXCEEDED = 4,
  LAZYSNAP_NOT_FOUND = 5,
  LAZYSNAP_ALREADY_EXISTS = 6,
  LAZYSNAP_PERMISSION_DENIED = 7,
  LAZYSNAP_RESOURCE_EXHAUSTED = 8,
  LAZYSNAP_FAILED_PRECONDITION = 9,
  LAZYSNAP_ABORTED = 10,
  LAZYSNAP_OUT_OF_RANGE = 11,
  LAZYSNAP_UNIMPLEMENTED = 12,
  LAZYSNAP_INTERNAL = 13,
  LAZYSNAP_UNAVAILABLE = 14,
  LAZYSNAP_DATA_LOSS = 15,
  LAZYSNAP_UNAUTHENTICATED = 16
} lazysnap_code;

/* lazysnap_code_name returns the code's name ("DATA_LOSS"), or "UNKNOWN_CODE" for a value
 * that is not a lazysnap_code. The string is static. */
const char* lazysnap_code_name(lazysnap_code code);

/* lazysnap_free releases a message (or anything else this API documents as released with
 * it). NULL is ignored. */
void lazysnap_free(void* pointer);

/* ---- Versions ---------------------------------------------------------------------- */

/* lazysnap_version_major / lazysnap_version_minor: the API version of the library that is
 * running (which may be newer than the header the program was built with). */
int lazysnap_version_major(void);
int lazysnap_version_minor(void);

/* lazysnap_version_check returns 1 when the running library provides the API of
 * major.minor (same major, at least that minor), else 0. */
int lazysnap_version_check(int major, int minor);

/* ---- Snapshots --------------------------------------------------------------------- */

typedef struct lazysnap_snapshot_t lazysnap_snapshot_t;

/* Flags of lazysnap_snapshot_open*. */
/* Validate every index segment while opening (errors in the index surface at once).
 * Without it, each segment is validated the first time a chunk in it is used, so that a
 * restore can start after reading only the snapshot's tables; no index entry is ever used
 * unvalidated either way. */
#define LAZYSNAP_OPEN_VALIDATE_INDEX (UINT32_C(1) << 0)

/* lazysnap_snapshot_open opens the snapshot file at `path` and validates its structure.
 * NOT_FOUND / PERMISSION_DENIED / INVALID_ARGUMENT (not a regular file, not a snapshot,
 * an unknown flag), DATA_LOSS (corrupt or truncated), UNIMPLEMENTED (newer format). */
LAZYSNAP_MUST_USE lazysnap_code lazysnap_snapshot_open(const char* path, uint32_t flags,
                                                       lazysnap_snapshot_t** snapshot,
                                                       char** error);

/* lazysnap_read_fn reads exactly `length_bytes` bytes at `offset_bytes` of a snapshot's
 * bytes into `buffer`, and returns 0, or an errno value (EIO, ...) when it cannot. It is
 * called from any thread, concurrently, and never for a range past `size_bytes`.
 * lazysnap_release_fn is called once, when nothing uses `context` any more. */
typedef int (*lazysnap_read_fn)(void* context, uint64_t offset_bytes, void* buffer,
                                size_t length_bytes);
typedef void (*lazysnap_release_fn)(void* context);

/* lazysnap_snapshot_open_reader opens a snapshot whose `size_bytes` bytes the caller reads
 * (an object store, a file in the caller's own storage, a test's fault injector): every
 * byte, the tables and each chunk a restore fetches, comes through `read`. `name` names it
 * in messages. `release` (may be NULL) is called when the snapshot and every session that
 * uses it are gone, and also when this call fails. Errors as lazysnap_snapshot_open, plus
 * those `read` returns (as the code mirroring its errno, the message naming the offset). */
LAZYSNAP_MUST_USE lazysnap_code lazysnap_snapshot_open_reader(
    const char* name, uint64_t size_bytes, lazysnap_read_fn read, lazysnap_release_fn release,
    void* context, uint32_t flags, lazysnap_snapshot_t** snapshot, char** error);

/* lazysnap_snapshot_free releases the handle. Sessions started from it keep what they
 * need, so it may be freed while they run. */
void lazysnap_snapshot_free(lazysnap_snapshot_t* snapshot);

typedef struct lazysnap_snapshot_info {
  const char* name;             /* path or name given at open; owned by the snapshot */
  uint64_t chunk_count;
  uint64_t image_size_bytes;    /* the flat image the regions lie in */
  uint64_t memory_size_bytes;   /* sum of region lengths: what a restore maps */
  uint64_t file_size_bytes;
  uint32_t chunk_size_bytes;
  uint32_t page_size_bytes;     /* page size recorded when the snapshot was written */
  uint32_t region_count;
  uint16_t format_major_version;
  uint16_t format_minor_version;
} lazysnap_snapshot_info;

/* lazysnap_snapshot_get_info fills the first `info_size` bytes of `info` (pass
 * sizeof(lazysnap_snapshot_info)). INVALID_ARGUMENT for a NULL handle or struct. */
LAZYSNAP_MUST_USE lazysnap_code lazysnap_snapshot_get_info(const lazysnap_snapshot_t* snapshot,
                                                           lazysnap_snapshot_info* info,
                                                           size_t info_size, char** error);

typedef struct lazysnap_region {
  uint64_t image_offset_bytes;  /* where the region's bytes lie in the flat image */
  uint64_t length_bytes;
  uint64_t guest_address;       /* where the memory was when captured (0: unknown) */
} lazysnap_region;

/* lazysnap_snapshot_get_region fills region `index` (0 <= index < region_count);
 * OUT_OF_RANGE past the end. */
LAZYSNAP_MUST_USE lazysnap_code lazysnap_snapshot_get_region(const lazysnap_snapshot_t* snapshot,
                                                             uint32_t index,
                                                             lazysnap_region* region,
                                                             size_t region_size, char** error);

/* lazysnap_snapshot_read copies `length_bytes` bytes of region `region`'s memory, from
 * `offset_bytes` into the region, into `buffer`: it reads, checks and decompresses every
 * chunk the range covers (no userfaultfd involved). OUT_OF_RANGE when the range passes the
 * region's end; DATA_LOSS naming the chunk when one is corrupt (then `buffer` is
 * unspecified). Thread-safe. */
LAZYSNAP_MUST_USE lazysnap_code lazysnap_snapshot_read(const lazysnap_snapshot_t* snapshot,
                                                       uint32_t region, uint64_t offset_bytes,
                                                       void* buffer, size_t length_bytes,
                                                       char** error);

/* ---- Writing snapshots ------------------------------------------------------------- */

typedef struct lazysnap_write_options_t lazysnap_write_options_t;

/* lazysnap_write_options_create returns options with the defaults of `lazysnap create`
 * (32 KiB chunks, zstd level 3, all CPUs, a trained 64 KiB dictionary when it pays), or
 * NULL when out of memory. */
lazysnap_write_options_t* lazysnap_write_options_create(void);
void lazysnap_write_options_free(lazysnap_write_options_t* options);

/* Setters: INVALID_ARGUMENT (the options unchanged) for a value out of range. */
/* Chunk size: a power of two from 4 KiB to 4 MiB, at least the page size. */
LAZYSNAP_MUST_USE lazysnap_code lazysnap_write_options_set_chunk_size_bytes(
    lazysnap_write_options_t* options, uint32_t chunk_size_bytes, char** error);
/* zstd level (negative levels are zstd's fast levels). */
LAZYSNAP_MUST_USE lazysnap_code lazysnap_write_options_set_compression_level(
    lazysnap_write_options_t* options, int32_t level, char** error);
/* Compression threads; 0 means one per online CPU. */
LAZYSNAP_MUST_USE lazysnap_code lazysnap_write_options_set_threads(
    lazysnap_write_options_t* options, int32_t threads, char** error);
/* Largest dictionary to train (0: none; at most 16 MiB). */
LAZYSNAP_MUST_USE lazysnap_code lazysnap_write_options_set_dictionary_size_bytes(
    lazysnap_write_options_t* options, uint64_t dictionary_size_bytes, char** error);

typedef struct lazysnap_write_summary {
  uint64_t image_bytes;         /* bytes of memory (sum of region lengths) */
  uint64_t file_bytes;          /* size of the snapshot file */
  uint64_t chunk_count;
  uint64_t zero_chunks;
  uint64_t compressed_chunks;
  uint64_t raw_chunks;
  uint64_t duplicate_chunks;
  uint64_t dictionary_bytes;    /* 0: no dictionary */
  uint64_t elapsed_ns;
} lazysnap_write_summary;

/* lazysnap_snapshot_write compresses the raw memory image at `image_path` (a file or a
 * block device, one region covering it) into a snapshot at `snapshot_path`, published
 * atomically: on any error nothing is left there. `options` may be NULL (defaults);
 * `summary` may be NULL, else its first `summary_size` bytes are filled. */
LAZYSNAP_MUST_USE lazysnap_code lazysnap_snapshot_write(const char* image_path,
                                                        const char* snapshot_path,
                                                        const lazysnap_write_options_t* options,
                                                        lazysnap_write_summary* summary,
                                                        size_t summary_size, char** error);

/* ---- Restore options --------------------------------------------------------------- */

typedef struct lazysnap_restore_options_t lazysnap_restore_options_t;

/* Who serves a fault. */
typedef enum lazysnap_serving_mode {
  /* Handler threads read fault messages and install chunks; serves every fault,
   * including those the kernel raises itself (KVM, read(2) into the memory). */
  LAZYSNAP_SERVING_HANDLER_THREADS = 0,
  /* The faulting thread serves its own fault from a SIGBUS handler: in-process memory
   * and user-mode faults only. Installs a process-wide SIGBUS handler. */
  LAZYSNAP_SERVING_SIGBUS = 1
} lazysnap_serving_mode;

/* What closing does with memory not restored yet. */
typedef enum lazysnap_close_mode {
  /* Install every chunk not yet installed, then stop: the memory stays correct. */
  LAZYSNAP_CLOSE_FINISH_RESTORE = 0,
  /* Stop at once: untouched memory then reads as zeros (memory about to be discarded). */
  LAZYSNAP_CLOSE_DISCARD = 1
} lazysnap_close_mode;

/* lazysnap_error_fn receives a session's first fatal error (a chunk that cannot be read
 * or fails its checksum, the faulting process gone), once, from an engine thread. The
 * message is valid during the call only. It must not close or free the session. */
typedef void (*lazysnap_error_fn)(void* context, lazysnap_code code, const char* message);

/* lazysnap_restore_options_create returns the defaults (handler threads, one per CPU,
 * readahead of 8 chunks, io_uring, poison, finish-restore on close), or NULL when out of
 * memory. */
lazysnap_restore_options_t* lazysnap_restore_options_create(void);
void lazysnap_restore_options_free(lazysnap_restore_options_t* options);

/* Setters: INVALID_ARGUMENT (the options unchanged) for a value out of range. Flags are
 * int: 0 is false, anything else true. */
LAZYSNAP_MUST_USE lazysnap_code lazysnap_restore_options_set_serving_mode(
    lazysnap_restore_options_t* options, lazysnap_serving_mode mode, char** error);
/* Handler threads, 0 to 1024; 0 means one per online CPU. */
LAZYSNAP_MUST_USE lazysnap_code lazysnap_restore_options_set_handler_threads(
    lazysnap_restore_options_t* options, int32_t threads, char** error);
/* Pin handler thread i to CPU i. */
LAZYSNAP_MUST_USE lazysnap_code lazysnap_restore_options_set_pin_handler_threads(
    lazysnap_restore_options_t* options, int pin, char** error);
/* Nice value of the handler threads, -20 to 19 (0: unchanged; negative values need
 * CAP_SYS_NICE and are ignored without it). */
LAZYSNAP_MUST_USE lazysnap_code lazysnap_restore_options_set_handler_nice(
    lazysnap_restore_options_t* options, int32_t nice, char** error);
/* How long an idle handler thread keeps looking for work before it sleeps (at most 1 s). */
LAZYSNAP_MUST_USE lazysnap_code lazysnap_restore_options_set_spin_before_sleep_us(
    lazysnap_restore_options_t* options, uint32_t microseconds, char** error);
/* Reads each handler thread keeps in flight, 1 to 4096. */
LAZYSNAP_MUST_USE lazysnap_code lazysnap_restore_options_set_reads_in_flight(
    lazysnap_restore_options_t* options, uint32_t reads, char** error);
/* Sequential readahead: chunks installed after a run of installed ones (0: off; at most
 * 65536). */
LAZYSNAP_MUST_USE lazysnap_code lazysnap_restore_options_set_readahead_chunks(
    lazysnap_restore_options_t* options, uint32_t chunks, char** error);
/* Populate in the background: an idle-priority thread installs every chunk not yet
 * installed, so that later touches find memory present. */
LAZYSNAP_MUST_USE lazysnap_code lazysnap_restore_options_set_background_populate(
    lazysnap_restore_options_t* options, int populate, char** error);
/* Read chunks of a local file with io_uring (pread when it is unavailable or off). */
LAZYSNAP_MUST_USE lazysnap_code lazysnap_restore_options_set_use_io_uring(
    lazysnap_restore_options_t* options, int use, char** error);
/* Refuse a userfaultfd that serves only user-mode faults (UFFD_USER_MODE_ONLY): a VM
 * runtime must (KVM faults are kernel faults). A start then fails with
 * FAILED_PRECONDITION or PERMISSION_DENIED where nothing better is allowed. */
LAZYSNAP_MUST_USE lazysnap_code lazysnap_restore_options_set_require_kernel_faults(
    lazysnap_restore_options_t* options, int require, char** error);
/* Poison a refused chunk where the kernel allows it (touching it raises SIGBUS); 0 keeps
 * the faulting threads blocked until close instead. */
LAZYSNAP_MUST_USE lazysnap_code lazysnap_restore_options_set_use_poison(
    lazysnap_restore_options_t* options, int use, char** error);
/* What lazysnap_session_free does (lazysnap_session_close takes its own mode). */
LAZYSNAP_MUST_USE lazysnap_code lazysnap_restore_options_set_close_mode(
    lazysnap_restore_options_t* options, lazysnap_close_mode mode, char** error);
/* The first fatal error of each session started with these options goes to
 * `callback(context, ...)`; NULL removes it. `context` must stay valid while such a
 * session exists. */
LAZYSNAP_MUST_USE lazysnap_code lazysnap_restore_options_set_error_callback(
    lazysnap_restore_options_t* options, lazysnap_error_fn callback, void* context,
    char** error);

/* ---- Restore sessions -------------------------------------------------------------- */

typedef struct lazysnap_session_t lazysnap_session_t;

/* lazysnap_session_start maps private anonymous memory for every region of `snapshot`
 * and restores into it lazily; returns once the memory is registered and served (only
 * the snapshot's tables have been read). `options` may be NULL (defaults). Errors:
 * FAILED_PRECONDITION or PERMISSION_DENIED when userfaultfd cannot be used here as asked
 * (the message says how to fix it), RESOURCE_EXHAUSTED when the memory cannot be mapped,
 * INVALID_ARGUMENT for NULL arguments. */
LAZYSNAP_MUST_USE lazysnap_code lazysnap_session_start(const lazysnap_snapshot_t* snapshot,
                                                       const lazysnap_restore_options_t* options,
                                                       lazysnap_session_t** session,
                                                       char** error);

/* lazysnap_session_start_into restores into memory the caller owns in this process:
 * region i at region_addresses[i] (page aligned, at least the region's length rounded up
 * to pages, mapped private anonymous and not yet touched). `region_count` must equal the
 * snapshot's. The memory must stay mapped until the session is freed. */
LAZYSNAP_MUST_USE lazysnap_code lazysnap_session_start_into(
    const lazysnap_snapshot_t* snapshot, const uint64_t* region_addresses, size_t region_count,
    const lazysnap_restore_options_t* options, lazysnap_session_t** session, char** error);

/* lazysnap_session_start_with_userfaultfd serves the memory of another process (a VMM)
 * that opened `userfaultfd`, negotiated its API and registered region i at
 * region_addresses[i] (addresses in its address space) in MISSING mode, and handed the
 * descriptor over (the external page-fault handler of Firecracker). The call takes
 * ownership of `userfaultfd` in every case: it is closed when the session ends, or at
 * once when the call fails. Handler-thread serving only (INVALID_ARGUMENT otherwise). */
LAZYSNAP_MUST_USE lazysnap_code lazysnap_session_start_with_userfaultfd(
    const lazysnap_snapshot_t* snapshot, const uint64_t* region_addresses, size_t region_count,
    int userfaultfd, const lazysnap_restore_options_t* options, lazysnap_session_t** session,
    char** error);

/* lazysnap_session_free closes the session with its options' close mode (see
 * lazysnap_session_close) and releases it; memory lazysnap_session_start mapped is
 * unmapped. Must not be called from the error callback. */
void lazysnap_session_free(lazysnap_session_t* session);

/* lazysnap_session_region_memory stores where region `region` is in this process.
 * OUT_OF_RANGE for a region past the end; FAILED_PRECONDITION for a session serving
 * another process's memory. The memory stays valid until lazysnap_session_free. */
LAZYSNAP_MUST_USE lazysnap_code lazysnap_session_region_memory(const lazysnap_session_t* session,
                                                               uint32_t region, void** data,
                                                               uint64_t* length_bytes,
                                                               char** error);

/* lazysnap_stats: what a session has done (each counter exact; not all read at one
 * instant). Fields are appended in later minor versions, never reordered. */
typedef struct lazysnap_stats {
  uint64_t faults;               /* fault messages or SIGBUS entries handled */
  uint64_t faults_write;         /* of which by a write (handler threads only) */
  uint64_t faults_zero;          /* on zero chunks */
  uint64_t faults_fetched;       /* that read and decoded a chunk */
  uint64_t faults_joined;        /* on a chunk another fault was already fetching */
  uint64_t faults_after_remove;  /* on pages dropped by madvise: served as zeros */
  uint64_t faults_stale;         /* already resolved when handled */
  uint64_t faults_outside;       /* memory the snapshot does not cover: zeros */
  uint64_t chunks_installed;     /* demand, readahead or background */
  uint64_t chunks_readahead;
  uint64_t chunks_background;
  uint64_t chunks_failed;        /* refused (checksum, read error): never installed */
  uint64_t bytes_read;           /* stored bytes read from the snapshot */
  uint64_t bytes_decompressed;
  uint64_t bytes_installed;      /* placed with UFFDIO_COPY */
  uint64_t bytes_zero_installed; /* mapped with UFFDIO_ZEROPAGE */
  uint64_t copy_eexist;
  uint64_t copy_eagain;
  uint64_t events_remove;
  uint64_t events_unmap;
  uint64_t latency_p50_ns;       /* fault service latency: seen -> installed */
  uint64_t latency_p90_ns;
  uint64_t latency_p99_ns;
  uint64_t latency_max_ns;
  uint64_t time_to_ready_ns;     /* start call to its return */
} lazysnap_stats;

/* lazysnap_session_get_stats fills the first `stats_size` bytes of `stats` (pass
 * sizeof(lazysnap_stats)). Any thread, any time before lazysnap_session_free. */
LAZYSNAP_MUST_USE lazysnap_code lazysnap_session_get_stats(const lazysnap_session_t* session,
                                                           lazysnap_stats* stats,
                                                           size_t stats_size, char** error);

/* Whether refused chunks are poisoned. */
typedef enum lazysnap_poison {
  LAZYSNAP_POISON_UNKNOWN = 0,  /* a handed-over userfaultfd: learned on first use */
  LAZYSNAP_POISON_NO = 1,
  LAZYSNAP_POISON_YES = 2
} lazysnap_poison;

/* lazysnap_session_features: how a session serves. Strings are owned by the session and
 * stay valid until lazysnap_session_free. */
typedef struct lazysnap_session_features {
  /* "/dev/userfaultfd", "userfaultfd(2)", "userfaultfd(2) with UFFD_USER_MODE_ONLY" or
   * "handed over by another process". */
  const char* userfaultfd;
  uint64_t enabled_features;     /* LAZYSNAP_FEATURE_* bits negotiated (0: handed over) */
  int32_t serves_kernel_faults;  /* 0 with UFFD_USER_MODE_ONLY */
  int32_t handler_threads;       /* 0 in SIGBUS mode */
  const char* reader;            /* how chunks are read: "io_uring", "pread", ... */
  const char* install;           /* how pages go in: "copy" */
  int32_t poison;                /* a lazysnap_poison */
  int32_t reserved;              /* 0 */
} lazysnap_session_features;

LAZYSNAP_MUST_USE lazysnap_code lazysnap_session_get_features(
    const lazysnap_session_t* session, lazysnap_session_features* features,
    size_t features_size, char** error);

/* lazysnap_session_status returns LAZYSNAP_OK, or the session's first fatal error. */
LAZYSNAP_MUST_USE lazysnap_code lazysnap_session_status(const lazysnap_session_t* session,
                                                        char** error);

/* lazysnap_session_close stops serving as `mode` says and returns
 * lazysnap_session_status. Never leaves a thread blocked in a fault; memory stays mapped
 * until lazysnap_session_free (with LAZYSNAP_CLOSE_FINISH_RESTORE, fully restored). A
 * refused chunk's memory stays poisoned or inaccessible. Idempotent; thread-safe; must
 * not be called from the error callback. */
LAZYSNAP_MUST_USE lazysnap_code lazysnap_session_close(lazysnap_session_t* session,
                                                       lazysnap_close_mode mode, char** error);

/* ---- Host features (`lazysnap features` as data) ----------------------------------- */

/* userfaultfd features lazysnap knows (values of the kernel's UFFD_FEATURE_* bits). */
#define LAZYSNAP_FEATURE_PAGEFAULT_FLAG_WP (UINT64_C(1) << 0)
#define LAZYSNAP_FEATURE_EVENT_FORK (UINT64_C(1) << 1)
#define LAZYSNAP_FEATURE_EVENT_REMAP (UINT64_C(1) << 2)
#define LAZYSNAP_FEATURE_EVENT_REMOVE (UINT64_C(1) << 3)
#define LAZYSNAP_FEATURE_MISSING_HUGETLBFS (UINT64_C(1) << 4)
#define LAZYSNAP_FEATURE_MISSING_SHMEM (UINT64_C(1) << 5)
#define LAZYSNAP_FEATURE_EVENT_UNMAP (UINT64_C(1) << 6)
#define LAZYSNAP_FEATURE_SIGBUS (UINT64_C(1) << 7)
#define LAZYSNAP_FEATURE_THREAD_ID (UINT64_C(1) << 8)
#define LAZYSNAP_FEATURE_MINOR_HUGETLBFS (UINT64_C(1) << 9)
#define LAZYSNAP_FEATURE_MINOR_SHMEM (UINT64_C(1) << 10)
#define LAZYSNAP_FEATURE_EXACT_ADDRESS (UINT64_C(1) << 11)
#define LAZYSNAP_FEATURE_WP_HUGETLBFS_SHMEM (UINT64_C(1) << 12)
#define LAZYSNAP_FEATURE_WP_UNPOPULATED (UINT64_C(1) << 13)
#define LAZYSNAP_FEATURE_POISON (UINT64_C(1) << 14)
#define LAZYSNAP_FEATURE_WP_ASYNC (UINT64_C(1) << 15)
#define LAZYSNAP_FEATURE_MOVE (UINT64_C(1) << 16)

typedef struct lazysnap_host_features_t lazysnap_host_features_t;

/* Flags of lazysnap_host_features_probe: refuse UFFD_USER_MODE_ONLY, as a VM runtime's
 * restore would. */
#define LAZYSNAP_PROBE_REQUIRE_KERNEL_FAULTS (UINT32_C(1) << 0)

/* lazysnap_host_features_probe runs the handshake a restore would, asking for every
 * feature any restore mode may use, on a throwaway userfaultfd, and reports what it
 * learned. What the host refuses is in the report, not an error: errors are only
 * INVALID_ARGUMENT (a NULL result, an unknown flag) and RESOURCE_EXHAUSTED. */
LAZYSNAP_MUST_USE lazysnap_code lazysnap_host_features_probe(uint32_t flags,
                                                             lazysnap_host_features_t** features,
                                                             char** error);
void lazysnap_host_features_free(lazysnap_host_features_t* features);

/* lazysnap_host_features_info: the report. Strings are owned by the report. */
typedef struct lazysnap_host_features_info {
  const char* kernel_release;
  int32_t can_restore;           /* whether lazysnap can restore lazily here at all */
  int32_t serves_kernel_faults;  /* whether the userfaultfd opened serves KVM / read(2) */
  /* Opening a userfaultfd: OK and the path that worked, or why none did. */
  int32_t open_code;             /* a lazysnap_code */
  int32_t handshake_code;        /* a lazysnap_code: the feature negotiation */
  const char* open_path;         /* "" when none worked */
  const char* open_message;      /* "" when open_code is OK */
  const char* handshake_message; /* "" when handshake_code is OK */
  uint64_t reported_features;    /* LAZYSNAP_FEATURE_* bits the kernel reports */
  uint64_t enabled_features;     /* what a restore asking for everything would enable */
  uint64_t known_features;       /* every bit lazysnap knows (for iterating) */
  int32_t io_uring_available;
  uint32_t open_attempt_count;   /* failed open paths: lazysnap_host_features_open_attempt */
  const char* io_uring_detail;   /* "io_uring with IORING_OP_READ", or why not */
} lazysnap_host_features_info;

LAZYSNAP_MUST_USE lazysnap_code lazysnap_host_features_get(
    const lazysnap_host_features_t* features, lazysnap_host_features_info* info,
    size_t info_size, char** error);

/* lazysnap_host_features_open_attempt returns the `index`th userfaultfd open path that
 * failed (before one worked, or all of them) and why ("/dev/userfaultfd: permission
 * denied ..."), or NULL past the end. The string is owned by the report. */
const char* lazysnap_host_features_open_attempt(const lazysnap_host_features_t* features,
                                                uint32_t index);

/* What a restore asking for every feature does about one feature. */
typedef enum lazysnap_feature_state {
  LAZYSNAP_FEATURE_ENABLED = 0,        /* requested and reported: in use */
  LAZYSNAP_FEATURE_FALLBACK = 1,       /* wanted but not reported: the fallback applies */
  LAZYSNAP_FEATURE_NOT_REQUESTED = 2   /* not asked for (or no handshake happened) */
} lazysnap_feature_state;

/* lazysnap_feature_info: one feature, its meaning to lazysnap and this host's answer.
 * Strings are owned by the report. */
typedef struct lazysnap_feature_info {
  const char* name;      /* "POISON" */
  const char* since;     /* first kernel with it ("6.6") */
  const char* purpose;   /* what lazysnap uses it for */
  const char* fallback;  /* what lazysnap does without it */
  int32_t supported;     /* reported by this host's kernel */
  int32_t state;         /* a lazysnap_feature_state */
} lazysnap_feature_info;

/* lazysnap_host_features_feature describes `feature` (one LAZYSNAP_FEATURE_* bit).
 * INVALID_ARGUMENT for anything but one known bit. */
LAZYSNAP_MUST_USE lazysnap_code lazysnap_host_features_feature(
    const lazysnap_host_features_t* features, uint64_t feature, lazysnap_feature_info* info,
    size_t info_size, char** error);

#ifdef __cplusplus
}  /* extern "C" */
#endif

#endif  /* LAZYSNAP_LAZYSNAP_H_ */
