// RestoreOptions: how a restore session serves faults, and what it asks of userfaultfd.
// Part of lazysnap's public API (see docs/ARCHITECTURE.md, "The public surface").
#ifndef LAZYSNAP_ENGINE_RESTORE_OPTIONS_H_
#define LAZYSNAP_ENGINE_RESTORE_OPTIONS_H_

#include <cstdint>
#include <functional>
#include <memory>

#include "absl/status/status.h"
#include "engine/chunk_source.h"
#include "engine/uffd_features.h"

namespace lazysnap {

// ServingMode: who serves a fault.
enum class ServingMode {
  // Handler threads read fault messages from the userfaultfd and install chunks. Serves
  // every fault, including those the kernel raises itself (KVM, read(2) into the memory).
  kHandlerThreads,
  // The faulting thread serves its own fault from a SIGBUS handler (UFFD_FEATURE_SIGBUS):
  // no wake-up of another thread on the fault path. In-process memory only, and only
  // user-mode faults: a kernel-mode fault (read(2) into the memory) fails with EFAULT.
  kSigbus,
};

// CloseMode: what Close does with memory that is not restored yet.
enum class CloseMode {
  // Install every chunk not yet installed, then stop: the memory stays correct and
  // threads blocked in a fault resume with the right bytes. Takes time proportional to
  // what is left.
  kFinishRestore,
  // Stop at once: untouched memory then reads as zeros. Only for memory about to be
  // discarded (the VM is being torn down).
  kDiscard,
};

struct RestoreOptions {
  ServingMode serving = ServingMode::kHandlerThreads;
  // Page size of the memory being restored, for memory the caller provides (StartInto,
  // StartWithUserfaultfd): 0 means the host's base page size; 2 MiB (or 1 GiB) for
  // hugetlbfs memory, which is installed a whole huge page at a time. The snapshot's chunk
  // size must be a multiple of it (`lazysnap create --chunk-size 2M`), region addresses
  // aligned to it.
  uint64_t page_size_bytes = 0;
  // Handler threads (kHandlerThreads); 0 means one per online CPU.
  int handler_threads = 0;
  // Pin handler thread i to CPU i, so that a fault is usually served on a core that is
  // already awake.
  bool pin_handler_threads = false;
  // Nice value of the handler threads (0: unchanged). A negative value lets a handler
  // that wakes with a fault preempt the application's threads at once; it needs
  // CAP_SYS_NICE and is silently ignored without it.
  int handler_nice = 0;
  // A handler thread that ran out of work keeps looking (yielding the CPU) for this long
  // before it sleeps in poll(2): on this 2-vCPU VM, waking a sleeping thread on the
  // other core costs 35-120 us, more than serving a 64 KiB chunk.
  uint32_t spin_before_sleep_us = 50;
  // Reads each handler thread keeps in flight (io_uring entries and chunk buffers).
  uint32_t reads_in_flight = 8;
  // Sequential readahead: when a fault follows a run of installed chunks, the serving
  // thread also installs up to this many following chunks (0: off).
  uint32_t readahead_chunks = 8;
  // Populate in the background: an idle-priority thread installs every chunk not yet
  // installed, in order, so that later touches find memory present.
  bool background_populate = false;
  // Populate everything now, at normal priority: `populate_threads` threads (0: one per
  // online CPU) install every chunk (zero chunks too, so no touch faults afterwards) from
  // the moment Start returns, while handler threads serve demand faults as usual
  // (Firecracker's fault_all example, without giving up laziness for the first touches).
  // Takes precedence over background_populate.
  bool populate_eagerly = false;
  int populate_threads = 0;
  // Use io_uring for chunk reads of a local file (falls back to pread when unavailable).
  bool use_io_uring = true;
  // Where chunks' stored bytes come from; nullptr means the snapshot's own file
  // (DefaultChunkSource). A source must serve the same snapshot: the engine verifies
  // every chunk's checksums whatever the source.
  std::shared_ptr<ChunkSource> chunk_source;
  // Refuse UFFD_USER_MODE_ONLY descriptors (a VM runtime must: KVM faults are kernel
  // faults).
  bool require_kernel_faults = false;
  // Poison a chunk that fails its checksum when the kernel allows it; false forces the
  // fallback (report and keep the faulting threads blocked), for tests.
  bool use_poison = true;
  CloseMode close_mode = CloseMode::kFinishRestore;
  // Called once, from an engine thread, with the first fatal error (a chunk that cannot
  // be read or fails its checksum, the faulting process gone). Must not call Close.
  std::function<void(const absl::Status&)> on_error;
};

// FeatureRequestFor returns the userfaultfd features a session with `options` asks for:
// nothing is required for anonymous memory; EVENT_REMOVE, EVENT_UNMAP, THREAD_ID and
// POISON are wanted, and SIGBUS in kSigbus mode (required there).
FeatureRequest FeatureRequestFor(const RestoreOptions& options);

// RestoreBufferBytes is the memory a session with `options` allocates for chunk buffers
// when the snapshot's chunks are `chunk_size_bytes` long and stored in at most
// `max_stored_length_bytes` (SnapshotReader::max_stored_length_bytes): every handler
// thread keeps reads_in_flight buffer pairs (stored + decoded), closing and background
// population add one pair per worker, SIGBUS mode one pair per slot. `online_cpus`
// stands for handler_threads = 0.
uint64_t RestoreBufferBytes(const RestoreOptions& options, uint64_t chunk_size_bytes,
                            uint64_t max_stored_length_bytes, int online_cpus);

// ValidateRestoreOptions checks the options a caller may set: InvalidArgument naming the
// field and its value when one is out of range (handler_threads in [0, 1024],
// reads_in_flight in [1, 4096], readahead_chunks at most 65536, handler_nice in
// [-20, 19]), or when RestoreBufferBytes exceeds `budget_bytes` (naming the values that
// multiply to it). Values in range can still multiply into terabytes: 256 handler threads
// x 4096 reads x two 4 MiB buffers.
absl::Status ValidateRestoreOptions(const RestoreOptions& options, uint64_t chunk_size_bytes,
                                    uint64_t max_stored_length_bytes, int online_cpus,
                                    uint64_t budget_bytes);

// AllEngineFeatures is the union of what any option may ask for (for `lazysnap features`).
FeatureRequest AllEngineFeatures();

}  // namespace lazysnap

#endif  // LAZYSNAP_ENGINE_RESTORE_OPTIONS_H_
