// RestoreSession against the real kernel: every byte right under concurrent touch, for
// all chunk kinds and region shapes; failure policy; events; closing with threads still
// faulting. Skipped, with the reason, where userfaultfd is not available.
#include "engine/restore_session.h"

#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <random>
#include <thread>

#include <gtest/gtest.h>

#include "base/file_io.h"
#include "engine/fake_chunk_source.h"
#include "engine/fake_kernel.h"
#include "engine/internal/session_start.h"
#include "engine/userfaultfd.h"
#include "snapshot_format/dictionary_trainer.h"
#include "snapshot_format/image_source.h"
#include "snapshot_format/parent_resolver.h"
#include "snapshot_format/snapshot_writer.h"
#include "snapshot_format/test_util.h"

namespace lazysnap {
namespace {

using testing::Fill;

constexpr uint64_t kPage = 4096;

struct TestSnapshot {
  std::vector<uint8_t> image;
  std::vector<format::Region> regions;
  std::string path;
  std::shared_ptr<const SnapshotReader> reader;
};

const std::vector<Fill> kAllKinds = {Fill::kText, Fill::kZero, Fill::kRandom,
                                     Fill::kCopyOfFirstText, Fill::kText};

TestSnapshot WriteTestSnapshot(std::vector<uint8_t> image, std::vector<format::Region> regions,
                               uint32_t chunk_bytes,
                               const DictionaryTrainingOptions& dictionary = {}) {
  TestSnapshot t;
  t.image = std::move(image);
  t.regions = std::move(regions);
  testing::MemoryImageSource source(t.image, t.regions);
  t.path = testing::TempPath("restore.lzs");
  WriterOptions options;
  options.chunk_size_bytes = chunk_bytes;
  options.train_dictionary = dictionary;
  auto summary = WriteSnapshot(source, t.path, options);
  EXPECT_TRUE(summary.ok()) << summary.status();
  auto reader = SnapshotReader::Open(t.path, {.validate_index = false});
  EXPECT_TRUE(reader.ok()) << reader.status();
  if (reader.ok()) t.reader = std::move(*reader);
  return t;
}

TestSnapshot MakeSnapshot(uint64_t image_bytes, std::vector<format::Region> regions,
                          uint32_t chunk_bytes, const std::vector<Fill>& pattern = kAllKinds) {
  return WriteTestSnapshot(testing::MixedImage(image_bytes, chunk_bytes, pattern, 11),
                           std::move(regions), chunk_bytes);
}

// Expected returns region r's bytes in the image.
std::span<const uint8_t> Expected(const TestSnapshot& t, uint32_t r) {
  return {t.image.data() + t.regions[r].image_offset_bytes, t.regions[r].length_bytes};
}

#define START_OR_SKIP(session, expr)                                                   \
  auto session = (expr);                                                               \
  if (absl::IsPermissionDenied(session.status()) ||                                    \
      (absl::IsFailedPrecondition(session.status()) &&                                 \
       session.status().message().find("no userfaultfd") != absl::string_view::npos)) { \
    GTEST_SKIP() << "userfaultfd is not available here: " << session.status();         \
  }                                                                                    \
  ASSERT_TRUE(session.ok()) << session.status()

// Catching SIGBUS / SIGSEGV in the thread that touched: the handler jumps back.
thread_local sigjmp_buf* t_jump = nullptr;
thread_local int t_signal = 0;

void JumpBack(int signal, siginfo_t*, void*) {
  if (t_jump == nullptr) {
    ::signal(signal, SIG_DFL);
    ::raise(signal);
    return;
  }
  t_signal = signal;
  siglongjmp(*t_jump, 1);
}

class CatchFaultSignals {
 public:
  CatchFaultSignals() {
    struct sigaction action = {};
    action.sa_sigaction = JumpBack;
    action.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigaction(SIGBUS, &action, &old_bus_);
    sigaction(SIGSEGV, &action, &old_segv_);
  }
  ~CatchFaultSignals() {
    sigaction(SIGBUS, &old_bus_, nullptr);
    sigaction(SIGSEGV, &old_segv_, nullptr);
  }

 private:
  struct sigaction old_bus_;
  struct sigaction old_segv_;
};

// ReadCatching reads *p; returns 0, or the signal the read raised.
int ReadCatching(const volatile uint8_t* p, uint8_t* value) {
  sigjmp_buf jump;
  t_jump = &jump;
  if (sigsetjmp(jump, 1) == 0) {
    *value = *p;
    t_jump = nullptr;
    return 0;
  }
  t_jump = nullptr;
  return t_signal;
}

// WaitFor polls `condition` for up to 20 s (the tests do not time anything; this only
// bounds how long a broken engine can hang the test).
template <typename F>
bool WaitFor(F condition) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return false;
}

// ShuffledTouchMismatches has `threads` threads read every page of `memory`, each in its
// own random order (so faults collide), and counts the pages that differ from `expected`.
int ShuffledTouchMismatches(std::span<const uint8_t> memory, std::span<const uint8_t> expected,
                            int threads) {
  std::vector<uint64_t> pages;
  for (uint64_t at = 0; at < memory.size(); at += kPage) pages.push_back(at);
  std::atomic<int> mismatches{0};
  std::vector<std::thread> touchers;
  for (int i = 0; i < threads; ++i) {
    touchers.emplace_back([&, i] {
      std::vector<uint64_t> order = pages;
      std::shuffle(order.begin(), order.end(), std::mt19937(i));
      for (uint64_t at : order) {
        const size_t n = std::min<uint64_t>(kPage, memory.size() - at);
        if (std::memcmp(memory.data() + at, expected.data() + at, n) != 0) ++mismatches;
      }
    });
  }
  for (std::thread& th : touchers) th.join();
  return mismatches.load();
}

// ------------------------------------------------------------------------------------

struct TouchCase {
  uint32_t chunk_bytes;
  bool random;
  int handler_threads;
  ServingMode serving = ServingMode::kHandlerThreads;
};

class ConcurrentTouch : public ::testing::TestWithParam<TouchCase> {};

TEST_P(ConcurrentTouch, EightThreadsSeeEveryByteOfEveryRegion) {
  const TouchCase c = GetParam();
  const uint64_t chunk = c.chunk_bytes;
  // Three regions with a hole between them; lengths that are not multiples of the chunk
  // (one not even of the page) so that partial chunks and partial pages are covered.
  std::vector<format::Region> regions = {{0, 5 * chunk + kPage + 100, 0x100000000},
                                         {8 * chunk, kPage + 1, 0x200000000},
                                         {10 * chunk, 17 * chunk, 0x300000000}};
  TestSnapshot t = MakeSnapshot(27 * chunk, regions, c.chunk_bytes);
  ASSERT_NE(t.reader, nullptr);
  RestoreOptions options;
  options.handler_threads = c.handler_threads;
  options.serving = c.serving;
  START_OR_SKIP(session, RestoreSession::Start(t.reader, options));

  // Every thread touches every page, in its own order, so many faults collide.
  std::vector<std::pair<uint32_t, uint64_t>> pages;
  for (uint32_t r = 0; r < regions.size(); ++r) {
    for (uint64_t at = 0; at < regions[r].length_bytes; at += kPage) pages.push_back({r, at});
  }
  std::atomic<int> mismatches{0};
  std::vector<std::thread> touchers;
  for (int i = 0; i < 8; ++i) {
    touchers.emplace_back([&, i] {
      std::vector<std::pair<uint32_t, uint64_t>> order = pages;
      if (c.random) {
        std::shuffle(order.begin(), order.end(), std::mt19937(i));
      } else {
        std::rotate(order.begin(), order.begin() + (order.size() * i) / 8, order.end());
      }
      for (auto [r, at] : order) {
        const uint8_t* memory = (*session)->region_memory(r).data();
        const size_t n = std::min<uint64_t>(kPage, regions[r].length_bytes - at);
        if (std::memcmp(memory + at, Expected(t, r).data() + at, n) != 0) ++mismatches;
      }
    });
  }
  for (std::thread& th : touchers) th.join();
  EXPECT_EQ(mismatches.load(), 0);
  for (uint32_t r = 0; r < regions.size(); ++r) {
    std::span<uint8_t> memory = (*session)->region_memory(r);
    ASSERT_EQ(memory.size(), regions[r].length_bytes);
    EXPECT_EQ(0, std::memcmp(memory.data(), Expected(t, r).data(), memory.size())) << r;
  }
  RestoreStats stats = (*session)->stats();
  EXPECT_LE(stats.chunks_installed, t.reader->chunk_count());
  EXPECT_GT(stats.faults_fetched, 0u);
  EXPECT_GT(stats.faults_zero, 0u);
  EXPECT_EQ(stats.chunks_failed, 0u);
  EXPECT_TRUE((*session)->Close(CloseMode::kFinishRestore).ok());
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, ConcurrentTouch,
    ::testing::Values(TouchCase{4096, false, 2}, TouchCase{4096, true, 2},
                      TouchCase{65536, false, 2}, TouchCase{65536, true, 1},
                      TouchCase{65536, true, 3}, TouchCase{1 << 20, true, 2},
                      TouchCase{4096, false, 2, ServingMode::kSigbus},
                      TouchCase{65536, true, 2, ServingMode::kSigbus},
                      TouchCase{1 << 20, true, 1, ServingMode::kSigbus}));

TEST(RestoreSession, ChunksCompressedWithADictionaryAreServedRight) {
  // Several handler threads share the snapshot's one prepared dictionary.
  const uint64_t chunk = 16 << 10;
  const uint64_t length = 256 * chunk + kPage + 5;
  std::vector<format::Region> regions = {{0, length, 0x100000000}};
  DictionaryTrainingOptions dictionary;
  dictionary.dictionary_size_bytes = 16 << 10;
  dictionary.sample_bytes = 2 << 20;
  TestSnapshot t = WriteTestSnapshot(
      testing::MixedImage(length, chunk, {Fill::kRecords, Fill::kRecords, Fill::kZero}, 3),
      regions, chunk, dictionary);
  ASSERT_NE(t.reader, nullptr);
  ASSERT_NE(t.reader->dictionary(1), nullptr) << "the test image got no dictionary";
  RestoreOptions options;
  options.handler_threads = 3;
  START_OR_SKIP(session, RestoreSession::Start(t.reader, options));
  EXPECT_EQ(ShuffledTouchMismatches((*session)->region_memory(0), Expected(t, 0), 4), 0);
  RestoreStats stats = (*session)->stats();
  EXPECT_GT(stats.faults_fetched, 0u);
  EXPECT_EQ(stats.chunks_failed, 0u);
  EXPECT_TRUE((*session)->Close(CloseMode::kFinishRestore).ok());
}

// A chain of three snapshots, each file with a dictionary of its own, every chunk served
// from the file that holds it (the chunk source follows StoredChunk::file_index and the
// decoder gets that file's dictionary).
struct ChainCase {
  ServingMode serving;
  bool use_io_uring;
  bool in_memory;  // the chain's files are not local files: the blocking source reads them
};

class ChainRestore : public ::testing::TestWithParam<ChainCase> {};

TEST_P(ChainRestore, EveryByteComesFromTheFileHoldingItsChunk) {
  const ChainCase c = GetParam();
  const uint32_t chunk = 16 << 10;
  const uint64_t length = 96 * uint64_t{chunk} + kPage + 7;
  std::vector<format::Region> regions = {{0, length, 0x100000000}};
  std::vector<uint8_t> image =
      testing::MixedImage(length, chunk, {Fill::kRecords, Fill::kZero, Fill::kRandom}, 3);
  std::vector<std::string> paths;
  std::shared_ptr<const SnapshotReader> parent;
  for (int generation = 0; generation < 3; ++generation) {
    if (generation > 0) {
      // Rewrite a third of the chunks with other records, zero a few, leave the rest.
      std::vector<uint8_t> other =
          testing::MixedImage(length, chunk, {Fill::kRecords}, 100 + generation);
      for (uint64_t at = generation * uint64_t{chunk}; at < length; at += 3 * uint64_t{chunk}) {
        std::memcpy(image.data() + at, other.data() + at, std::min<uint64_t>(chunk, length - at));
      }
      std::memset(image.data() + (10 + generation) * uint64_t{chunk}, 0, chunk);
    }
    testing::MemoryImageSource source(image, regions);
    paths.push_back(testing::TempPath("chain.lzs"));
    WriterOptions options;
    options.chunk_size_bytes = chunk;
    options.train_dictionary = {.dictionary_size_bytes = 8 << 10, .sample_bytes = 1 << 20,
                                .only_if_it_pays = false};
    options.parent = parent.get();
    if (parent != nullptr) {
      // Each child trains its own dictionary instead of reusing its parent's.
      auto trained = TrainDictionary(source, chunk, kDefaultCompressionLevel,
                                     options.train_dictionary);
      ASSERT_TRUE(trained.ok()) << trained.status();
      options.dictionary = trained->dictionary;
      options.parent_name = RelativeParentName(paths.back(), parent->path());
    }
    auto summary = WriteSnapshot(source, paths.back(), options);
    ASSERT_TRUE(summary.ok()) << summary.status();
    auto reader = SnapshotReader::Open(paths.back(), {.validate_index = false});
    ASSERT_TRUE(reader.ok()) << reader.status();
    parent = std::move(*reader);
  }
  std::shared_ptr<const SnapshotReader> snapshot = parent;
  if (c.in_memory) {
    std::vector<std::shared_ptr<const RandomAccessFile>> files;
    for (const std::string& path : paths) {
      files.push_back(std::make_shared<testing::MemoryFile>("mem:" + path,
                                                            testing::ReadFileBytes(path)));
    }
    auto reader = SnapshotReader::Open(
        files.back(), {.validate_index = false,
                       .resolve_parent = ParentSearchList({files.begin(), files.end() - 1})});
    ASSERT_TRUE(reader.ok()) << reader.status();
    snapshot = std::move(*reader);
  }
  ASSERT_EQ(snapshot->chain_length(), 3u);
  ASSERT_NE(snapshot->chain_member(0).dictionary(1)->id(),
            snapshot->chain_member(1).dictionary(1)->id());

  RestoreOptions options;
  options.handler_threads = 2;
  options.serving = c.serving;
  options.use_io_uring = c.use_io_uring;
  START_OR_SKIP(session, RestoreSession::Start(snapshot, options));
  EXPECT_EQ(ShuffledTouchMismatches((*session)->region_memory(0), image, 3), 0);
  EXPECT_EQ((*session)->stats().chunks_failed, 0u);
  EXPECT_TRUE((*session)->Close(CloseMode::kFinishRestore).ok());
}

INSTANTIATE_TEST_SUITE_P(
    Sources, ChainRestore,
    ::testing::Values(ChainCase{ServingMode::kHandlerThreads, true, false},
                      ChainCase{ServingMode::kHandlerThreads, false, false},
                      ChainCase{ServingMode::kSigbus, true, false},
                      ChainCase{ServingMode::kHandlerThreads, true, true}));

TEST(RestoreSession, ConcurrentFaultsOnOneChunkCostOneRead) {
  const uint32_t chunk = 1 << 20;
  TestSnapshot t = MakeSnapshot(4 * chunk, {{0, 4 * chunk, 0}}, chunk, {Fill::kText});
  RestoreOptions options;
  options.readahead_chunks = 0;
  options.handler_threads = 2;
  START_OR_SKIP(session, RestoreSession::Start(t.reader, options));
  uint8_t* memory = (*session)->region_memory(0).data();
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> touchers;
  for (int i = 0; i < 16; ++i) {
    touchers.emplace_back([&, i] {
      ++ready;
      while (!go) std::this_thread::yield();
      // Different pages of chunk 1.
      volatile uint8_t* p = memory + chunk + (i % 256) * kPage;
      EXPECT_EQ(*p, t.image[chunk + (i % 256) * kPage]);
    });
  }
  while (ready < 16) std::this_thread::yield();
  go = true;
  for (std::thread& th : touchers) th.join();
  EXPECT_TRUE(WaitFor([&] { return (*session)->stats().chunks_installed >= 1; }));
  RestoreStats stats = (*session)->stats();
  auto location = t.reader->Locate(1);
  ASSERT_TRUE(location.ok());
  EXPECT_EQ(stats.chunks_installed, 1u);
  EXPECT_EQ(stats.bytes_read, location->stored.stored_length_bytes);
  EXPECT_EQ(stats.bytes_decompressed, chunk);
  EXPECT_GE(stats.faults, 1u);
}

TEST(RestoreSession, KernelModeFaultFromReadIsServed) {
  TestSnapshot t = MakeSnapshot(8 * 65536, {{0, 8 * 65536, 0}}, 65536, {Fill::kText});
  START_OR_SKIP(session, RestoreSession::Start(t.reader, RestoreOptions{}));
  if (!(*session)->features().serves_kernel_faults) {
    GTEST_SKIP() << "the userfaultfd was opened with UFFD_USER_MODE_ONLY: kernel-mode faults "
                    "are not served here";
  }
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  ASSERT_EQ(::write(fds[1], "hello", 5), 5);
  uint8_t* memory = (*session)->region_memory(0).data();
  const uint64_t at = 3 * 65536 + 100;
  // The kernel writes into the not-yet-restored page: the fault is the kernel's own.
  ASSERT_EQ(::read(fds[0], memory + at, 5), 5);
  ::close(fds[0]);
  ::close(fds[1]);
  EXPECT_EQ(0, std::memcmp(memory + at, "hello", 5));
  // The rest of the chunk holds the snapshot's bytes.
  EXPECT_EQ(0, std::memcmp(memory + 3 * 65536, t.image.data() + 3 * 65536, 100));
  EXPECT_EQ(0, std::memcmp(memory + at + 5, t.image.data() + at + 5, 65536 - 105));
}

// CorruptChunk flips a byte in the stored bytes of `chunk` and reopens the snapshot.
void CorruptChunk(TestSnapshot& t, uint64_t chunk) {
  auto location = t.reader->Locate(chunk);
  ASSERT_TRUE(location.ok());
  ASSERT_NE(location->stored.kind, format::ChunkKind::kZero);
  std::vector<uint8_t> file = testing::ReadFileBytes(t.path);
  file[location->stored.file_offset_bytes + location->stored.stored_length_bytes / 2] ^= 0x40;
  t.path = testing::TempPath("corrupt.lzs");
  testing::WriteFileBytes(t.path, file);
  auto reader = SnapshotReader::Open(t.path, {.validate_index = false});
  ASSERT_TRUE(reader.ok()) << reader.status();
  t.reader = std::move(*reader);
}

TEST(RestoreSession, CorruptChunkIsPoisonedNeverInstalled) {
  TestSnapshot t = MakeSnapshot(8 * 65536, {{0, 8 * 65536, 0}}, 65536, {Fill::kText});
  CorruptChunk(t, 5);
  std::atomic<int> errors{0};
  std::string error_message;
  RestoreOptions options;
  options.readahead_chunks = 0;
  options.on_error = [&](const absl::Status& status) {
    error_message = std::string(status.message());
    ++errors;
  };
  START_OR_SKIP(session, RestoreSession::Start(t.reader, options));
  if (!((*session)->features().enabled_features & Bit(UffdFeature::kPoison))) {
    GTEST_SKIP() << "this kernel has no UFFDIO_POISON; see the no-poison test";
  }
  CatchFaultSignals catcher;
  uint8_t* memory = (*session)->region_memory(0).data();
  int signal_number = 0;
  uint8_t value = 0;
  std::thread toucher([&] { signal_number = ReadCatching(memory + 5 * 65536 + 10, &value); });
  toucher.join();
  EXPECT_EQ(signal_number, SIGBUS);
  // Poisoning wakes the toucher before the error is reported: wait for the report.
  ASSERT_TRUE(WaitFor([&] { return errors.load() == 1; }));
  EXPECT_NE(error_message.find("chunk 5"), std::string::npos) << error_message;
  EXPECT_NE(error_message.find("checksum"), std::string::npos) << error_message;
  EXPECT_NE(error_message.find("poisoned"), std::string::npos) << error_message;
  EXPECT_TRUE(absl::IsDataLoss((*session)->status())) << (*session)->status();
  // Other chunks are unaffected.
  EXPECT_EQ(0, std::memcmp(memory + 4 * 65536, t.image.data() + 4 * 65536, 65536));
  EXPECT_EQ((*session)->stats().chunks_failed, 1u);
  // Touching it again still raises SIGBUS, never reads zeros or wrong bytes.
  std::thread again([&] { signal_number = ReadCatching(memory + 5 * 65536 + 4096, &value); });
  again.join();
  EXPECT_EQ(signal_number, SIGBUS);
  (*session)->Close(CloseMode::kFinishRestore).IgnoreError();
}

TEST(RestoreSession, CorruptChunkWithoutPoisonBlocksThenFaultsInsteadOfZeros) {
  TestSnapshot t = MakeSnapshot(8 * 65536, {{0, 8 * 65536, 0}}, 65536, {Fill::kText});
  CorruptChunk(t, 2);
  std::atomic<int> errors{0};
  RestoreOptions options;
  options.use_poison = false;
  options.readahead_chunks = 0;
  options.on_error = [&](const absl::Status&) { ++errors; };
  START_OR_SKIP(session, RestoreSession::Start(t.reader, options));
  CatchFaultSignals catcher;
  uint8_t* memory = (*session)->region_memory(0).data();
  std::atomic<int> signal_number{-1};
  std::thread toucher([&] {
    uint8_t value = 0;
    signal_number = ReadCatching(memory + 2 * 65536 + 7, &value);
  });
  ASSERT_TRUE(WaitFor([&] { return errors.load() == 1; }));
  // The toucher stays blocked: the chunk is refused and there is no poison.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(signal_number.load(), -1);
  EXPECT_EQ(0, std::memcmp(memory + 3 * 65536, t.image.data() + 3 * 65536, 65536));
  // Closing releases it with a fault, not with zeros.
  EXPECT_TRUE(absl::IsDataLoss((*session)->Close(CloseMode::kFinishRestore)));
  toucher.join();
  EXPECT_EQ(signal_number.load(), SIGSEGV);
}

TEST(SigbusMode, CorruptChunkRaisesSigbusInTheToucherAndIsReported) {
  TestSnapshot t = MakeSnapshot(8 * 65536, {{0, 8 * 65536, 0}}, 65536, {Fill::kText});
  CorruptChunk(t, 3);
  std::atomic<int> errors{0};
  std::string error_message;
  RestoreOptions options;
  options.serving = ServingMode::kSigbus;
  options.on_error = [&](const absl::Status& status) {
    error_message = std::string(status.message());
    ++errors;
  };
  // The test's handler is installed first: lazysnap's passes refused faults on to it.
  CatchFaultSignals catcher;
  START_OR_SKIP(session, RestoreSession::Start(t.reader, options));
  uint8_t* memory = (*session)->region_memory(0).data();
  int signal_number = -1;
  uint8_t value = 0;
  std::thread toucher([&] { signal_number = ReadCatching(memory + 3 * 65536 + 10, &value); });
  toucher.join();
  EXPECT_EQ(signal_number, SIGBUS);
  ASSERT_TRUE(WaitFor([&] { return errors.load() == 1; }));
  EXPECT_NE(error_message.find("chunk 3"), std::string::npos) << error_message;
  EXPECT_NE(error_message.find("checksum"), std::string::npos) << error_message;
  // Other chunks are served as usual.
  std::thread other([&] { signal_number = ReadCatching(memory + 4 * 65536 + 10, &value); });
  other.join();
  EXPECT_EQ(signal_number, 0);
  EXPECT_EQ(value, t.image[4 * 65536 + 10]);
  session->reset();
}

TEST(SigbusMode, KernelModeFaultIsNotServed) {
  TestSnapshot t = MakeSnapshot(4 * 65536, {{0, 4 * 65536, 0}}, 65536, {Fill::kText});
  RestoreOptions options;
  options.serving = ServingMode::kSigbus;
  START_OR_SKIP(session, RestoreSession::Start(t.reader, options));
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  ASSERT_EQ(::write(fds[1], "hello", 5), 5);
  // The documented limit of this mode: the kernel's own access fails instead of waiting.
  EXPECT_EQ(::read(fds[0], (*session)->region_memory(0).data() + 100, 5), -1);
  EXPECT_EQ(errno, EFAULT);
  ::close(fds[0]);
  ::close(fds[1]);
  // User-mode touches still work.
  EXPECT_EQ((*session)->region_memory(0)[200], t.image[200]);
}

TEST(SigbusMode, RemovedPagesReadAsZeros) {
  TestSnapshot t = MakeSnapshot(16 * 65536, {{0, 16 * 65536, 0}}, 65536, {Fill::kText});
  RestoreOptions options;
  options.serving = ServingMode::kSigbus;
  START_OR_SKIP(session, RestoreSession::Start(t.reader, options));
  uint8_t* memory = (*session)->region_memory(0).data();
  EXPECT_EQ(memory[65536 + 5], t.image[65536 + 5]);
  ASSERT_EQ(::madvise(memory + 65536 + kPage, kPage, MADV_DONTNEED), 0);
  EXPECT_EQ(memory[65536 + kPage + 9], 0);
  ASSERT_EQ(::madvise(memory + 9 * 65536, kPage, MADV_DONTNEED), 0);
  EXPECT_EQ(memory[9 * 65536 + kPage + 1], t.image[9 * 65536 + kPage + 1]);
  for (uint64_t i = 0; i < kPage; ++i) ASSERT_EQ(memory[9 * 65536 + i], 0) << i;
}

TEST(SigbusMode, AnotherProcessMemoryIsRefused) {
  TestSnapshot t = MakeSnapshot(65536, {{0, 65536, 0}}, 65536, {Fill::kText});
  RestoreOptions options;
  options.serving = ServingMode::kSigbus;
  auto uffd = Userfaultfd::Open(LinuxKernel(), UffdOptions{});
  if (!uffd.ok()) GTEST_SKIP() << uffd.status();
  auto session = RestoreSession::StartWithUserfaultfd(t.reader, {0x10000000},
                                                      UniqueFd(::dup(uffd->fd())), options);
  EXPECT_TRUE(absl::IsInvalidArgument(session.status())) << session.status();
}

TEST(RestoreSession, UnmappedPartOfTheRegionIsNoLongerServed) {
  TestSnapshot t = MakeSnapshot(16 * 65536, {{0, 16 * 65536, 0}}, 65536, {Fill::kText});
  RestoreOptions options;
  options.readahead_chunks = 0;
  START_OR_SKIP(session, RestoreSession::Start(t.reader, options));
  if (!((*session)->features().enabled_features & Bit(UffdFeature::kEventUnmap))) {
    GTEST_SKIP() << "no UFFD_FEATURE_EVENT_UNMAP on this kernel";
  }
  uint8_t* memory = (*session)->region_memory(0).data();
  EXPECT_EQ(memory[3], t.image[3]);
  // The embedder gives back chunks 4-7 (one restored page in them first).
  EXPECT_EQ(memory[4 * 65536 + 1], t.image[4 * 65536 + 1]);
  ASSERT_EQ(::munmap(memory + 4 * 65536, 4 * 65536), 0);
  EXPECT_EQ(0, std::memcmp(memory + 8 * 65536, t.image.data() + 8 * 65536, 8 * 65536));
  EXPECT_TRUE(WaitFor([&] { return (*session)->stats().events_unmap == 1; }));
  // Finishing the restore skips the unmapped range without an error.
  EXPECT_TRUE((*session)->Close(CloseMode::kFinishRestore).ok()) << (*session)->status();
  EXPECT_EQ(0, std::memcmp(memory, t.image.data(), 4 * 65536));
}

// SendFd / ReceiveFd pass a descriptor over a Unix socket (SCM_RIGHTS), as a VMM hands
// its userfaultfd to an external page-fault handler.
bool SendFd(int socket, int fd, uint64_t address) {
  char control[CMSG_SPACE(sizeof(int))] = {};
  iovec data = {&address, sizeof(address)};
  msghdr message = {};
  message.msg_iov = &data;
  message.msg_iovlen = 1;
  message.msg_control = control;
  message.msg_controllen = sizeof(control);
  cmsghdr* header = CMSG_FIRSTHDR(&message);
  header->cmsg_level = SOL_SOCKET;
  header->cmsg_type = SCM_RIGHTS;
  header->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(header), &fd, sizeof(int));
  return ::sendmsg(socket, &message, 0) == sizeof(address);
}

int ReceiveFd(int socket, uint64_t* address) {
  char control[CMSG_SPACE(sizeof(int))] = {};
  iovec data = {address, sizeof(*address)};
  msghdr message = {};
  message.msg_iov = &data;
  message.msg_iovlen = 1;
  message.msg_control = control;
  message.msg_controllen = sizeof(control);
  if (::recvmsg(socket, &message, MSG_CMSG_CLOEXEC) != sizeof(*address)) return -1;
  cmsghdr* header = CMSG_FIRSTHDR(&message);
  if (header == nullptr || header->cmsg_type != SCM_RIGHTS) return -1;
  int fd;
  std::memcpy(&fd, CMSG_DATA(header), sizeof(int));
  return fd;
}

TEST(RestoreSession, ServesAnotherProcessThroughAHandedOverUserfaultfd) {
  TestSnapshot t = MakeSnapshot(24 * 65536 + 100, {{0, 24 * 65536 + 100, 0}}, 65536, kAllKinds);
  const uint64_t length = 25 * 65536;
  int sockets[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sockets), 0);
  int results[2];
  ASSERT_EQ(::pipe(results), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // The "VMM": maps guest memory, registers it, hands the uffd over, then runs the
    // "guest", which reads every page and reports a checksum of what it saw.
    ::close(sockets[0]);
    void* memory = ::mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    auto uffd = Userfaultfd::Open(LinuxKernel(), UffdOptions{});
    if (memory == MAP_FAILED || !uffd.ok()) ::_exit(3);
    auto range = uffd->Register(reinterpret_cast<uint64_t>(memory), length, UFFDIO_REGISTER_MODE_MISSING);
    if (!range.ok()) ::_exit(4);
    if (!SendFd(sockets[1], uffd->fd(), reinterpret_cast<uint64_t>(memory))) ::_exit(5);
    uint64_t sum = 0;
    const uint8_t* bytes = static_cast<const uint8_t*>(memory);
    for (uint64_t at = 0; at < length; at += 1) sum = sum * 31 + bytes[at];
    if (::write(results[1], &sum, sizeof(sum)) != sizeof(sum)) ::_exit(7);
    ::_exit(0);
  }
  ::close(sockets[1]);
  ::close(results[1]);
  uint64_t address = 0;
  const int fd = ReceiveFd(sockets[0], &address);
  if (fd < 0) {
    int status = 0;
    ::waitpid(child, &status, 0);
    GTEST_SKIP() << "the child could not set up a userfaultfd (exit " << WEXITSTATUS(status) << ")";
  }
  // What the child's registration allows is learned by trying.
  auto session = RestoreSession::StartWithUserfaultfd(t.reader, {address}, UniqueFd(fd),
                                                      RestoreOptions{});
  ASSERT_TRUE(session.ok()) << session.status();
  EXPECT_TRUE((*session)->region_memory(0).empty());  // not this process's memory
  uint64_t seen = 0;
  ASSERT_EQ(::read(results[0], &seen, sizeof(seen)), static_cast<ssize_t>(sizeof(seen)));
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  uint64_t expected = 0;
  for (uint64_t at = 0; at < length; ++at) expected = expected * 31 + (at < t.image.size() ? t.image[at] : 0);
  EXPECT_EQ(seen, expected);
  EXPECT_GT((*session)->stats().faults, 0u);
  // The child registered more than the snapshot holds: that memory reads as zeros.
  EXPECT_GT((*session)->stats().faults_outside, 0u);
  // The child is gone: closing finds its memory gone and stops without hanging.
  (*session)->Close(CloseMode::kFinishRestore).IgnoreError();
  ::close(sockets[0]);
  ::close(results[0]);
}

TEST(RestoreSession, SixtyFourGibSparseRegionRestoresAndServes) {
  const uint64_t size = 64ull << 30;
  std::string image_path = testing::TempPath("sparse64.raw");
  auto fd = OpenFile(image_path, O_RDWR | O_CREAT | O_TRUNC);
  ASSERT_TRUE(fd.ok());
  ASSERT_EQ(::ftruncate(fd->get(), size), 0);
  std::vector<uint8_t> data = testing::MixedImage(65536, 65536, {Fill::kText});
  const uint64_t offsets[] = {0, 17ull << 30, size - 65536};
  for (uint64_t offset : offsets) ASSERT_TRUE(PwriteFull(fd->get(), data, offset, image_path).ok());
  auto source = FileImageSource::Open(image_path);
  ASSERT_TRUE(source.ok());
  std::string path = testing::TempPath("sparse64.lzs");
  WriterOptions writer;
  writer.chunk_size_bytes = 65536;
  ASSERT_TRUE(WriteSnapshot(**source, path, writer).ok());
  ::unlink(image_path.c_str());
  auto reader = SnapshotReader::Open(path, {.validate_index = false});
  ASSERT_TRUE(reader.ok());
  START_OR_SKIP(session, RestoreSession::Start(std::move(*reader), RestoreOptions{}));
  std::span<uint8_t> memory = (*session)->region_memory(0);
  ASSERT_EQ(memory.size(), size);
  for (uint64_t offset : offsets) {
    EXPECT_EQ(0, std::memcmp(memory.data() + offset, data.data(), data.size())) << offset;
  }
  // A few zero chunks far apart.
  for (uint64_t offset : {1ull << 30, 33ull << 30, 63ull << 30}) {
    EXPECT_EQ(memory[offset + 12345], 0);
  }
  // Counters are updated after the install has woken the toucher: wait for them.
  EXPECT_TRUE(WaitFor([&] { return (*session)->stats().faults_zero >= 3; }));
  RestoreStats stats = (*session)->stats();
  EXPECT_EQ(stats.faults_fetched, 3u);
  // Discard: do not install the untouched rest of 64 GiB.
  EXPECT_TRUE((*session)->Close(CloseMode::kDiscard).ok());
}

TEST(RestoreSession, RemovedPagesReadAsZerosNotSnapshotBytes) {
  TestSnapshot t = MakeSnapshot(16 * 65536, {{0, 16 * 65536, 0}}, 65536, {Fill::kText});
  RestoreOptions options;
  options.readahead_chunks = 0;
  START_OR_SKIP(session, RestoreSession::Start(t.reader, options));
  if (!((*session)->features().enabled_features & Bit(UffdFeature::kEventRemove))) {
    GTEST_SKIP() << "no UFFD_FEATURE_EVENT_REMOVE on this kernel";
  }
  uint8_t* memory = (*session)->region_memory(0).data();
  // A restored chunk: drop two pages, which must come back as zeros.
  EXPECT_EQ(memory[65536 + 5], t.image[65536 + 5]);
  ASSERT_EQ(::madvise(memory + 65536 + kPage, 2 * kPage, MADV_DONTNEED), 0);
  EXPECT_EQ(memory[65536 + kPage + 9], 0);
  EXPECT_EQ(memory[65536 + 2 * kPage + 9], 0);
  EXPECT_EQ(memory[65536 + 3 * kPage + 9], t.image[65536 + 3 * kPage + 9]);
  // A chunk not restored yet: the dropped pages stay zero when the chunk arrives.
  ASSERT_EQ(::madvise(memory + 9 * 65536, kPage, MADV_DONTNEED), 0);
  EXPECT_EQ(memory[9 * 65536 + kPage + 1], t.image[9 * 65536 + kPage + 1]);
  for (uint64_t i = 0; i < kPage; ++i) ASSERT_EQ(memory[9 * 65536 + i], 0) << i;
  EXPECT_TRUE(WaitFor([&] { return (*session)->stats().faults_after_remove >= 1; }));
  RestoreStats stats = (*session)->stats();
  EXPECT_EQ(stats.events_remove, 2u);
  EXPECT_GE(stats.faults_after_remove, 1u);
}

// SlowSource delays every chunk read, so that touchers are reliably blocked.
std::shared_ptr<FakeChunkSource> SlowSource(const TestSnapshot& t) {
  auto source = std::make_shared<FakeChunkSource>(t.reader->file());
  source->SetDelay(std::chrono::milliseconds(30));
  return source;
}

TEST(RestoreSession, DestroyedWhileTouchersAreBlockedNeitherHangsNorCorrupts) {
  TestSnapshot t = MakeSnapshot(64 * 65536, {{0, 64 * 65536, 0}}, 65536, kAllKinds);
  RestoreOptions options;
  options.chunk_source = SlowSource(t);
  options.handler_threads = 1;
  options.readahead_chunks = 0;
  START_OR_SKIP(session, RestoreSession::Start(t.reader, options));
  std::shared_ptr<GuestMemory> memory = (*session)->memory();
  std::atomic<int> mismatches{0};
  std::vector<std::thread> touchers;
  for (int i = 0; i < 8; ++i) {
    touchers.emplace_back([&, i] {
      for (uint64_t c = i; c < 64; c += 8) {
        if (memory->data()[c * 65536 + 77] != t.image[c * 65536 + 77]) ++mismatches;
      }
    });
  }
  ASSERT_TRUE(WaitFor([&] { return (*session)->stats().faults >= 2; }));
  session->reset();  // destroy while touchers wait on slow reads
  for (std::thread& th : touchers) th.join();
  EXPECT_EQ(mismatches.load(), 0);
  // The memory outlives the session and was finished: all of it is right.
  EXPECT_EQ(0, std::memcmp(memory->data(), t.image.data(), t.image.size()));
}

TEST(RestoreSession, DiscardReleasesBlockedTouchersWithZeros) {
  TestSnapshot t = MakeSnapshot(16 * 65536, {{0, 16 * 65536, 0}}, 65536, {Fill::kText});
  RestoreOptions options;
  options.chunk_source = SlowSource(t);
  options.handler_threads = 1;
  options.readahead_chunks = 0;
  START_OR_SKIP(session, RestoreSession::Start(t.reader, options));
  std::shared_ptr<GuestMemory> memory = (*session)->memory();
  std::thread toucher([&] { (void)*(volatile uint8_t*)(memory->data() + 9 * 65536); });
  ASSERT_TRUE(WaitFor([&] { return (*session)->stats().faults >= 1; }));
  EXPECT_TRUE((*session)->Close(CloseMode::kDiscard).ok());
  toucher.join();
  // Chunks never fetched are zeros after a discard (the documented trade).
  EXPECT_EQ(memory->data()[14 * 65536 + 3], 0);
}

TEST(RestoreSession, SequentialTouchTriggersReadahead) {
  TestSnapshot t = MakeSnapshot(128 * 65536, {{0, 128 * 65536, 0}}, 65536, {Fill::kText});
  RestoreOptions options;
  options.handler_threads = 1;
  options.readahead_chunks = 8;
  START_OR_SKIP(session, RestoreSession::Start(t.reader, options));
  std::span<uint8_t> memory = (*session)->region_memory(0);
  EXPECT_EQ(0, std::memcmp(memory.data(), t.image.data(), memory.size()));
  EXPECT_TRUE(WaitFor([&] { return (*session)->stats().chunks_installed == 128; }));
  RestoreStats stats = (*session)->stats();
  EXPECT_GT(stats.chunks_readahead, 0u);
  EXPECT_LT(stats.faults_fetched, 128u);
  EXPECT_EQ(stats.chunks_installed, 128u);
}

TEST(RestoreSession, BackgroundPopulateInstallsEverythingWithoutTouch) {
  TestSnapshot t = MakeSnapshot(64 * 65536, {{0, 64 * 65536, 0}}, 65536, kAllKinds);
  RestoreOptions options;
  options.background_populate = true;
  START_OR_SKIP(session, RestoreSession::Start(t.reader, options));
  uint64_t stored_chunks = 0;
  for (uint64_t c = 0; c < t.reader->chunk_count(); ++c) {
    stored_chunks += t.reader->Locate(c)->stored.kind != format::ChunkKind::kZero;
  }
  ASSERT_TRUE(WaitFor([&] { return (*session)->stats().chunks_background == stored_chunks; }));
  std::span<uint8_t> memory = (*session)->region_memory(0);
  EXPECT_EQ(0, std::memcmp(memory.data(), t.image.data(), memory.size()));
  EXPECT_EQ((*session)->stats().faults_fetched, 0u);
}

TEST(RestoreSession, EagerPopulateInstallsEveryChunkZerosIncludedSoNothingFaults) {
  TestSnapshot t = MakeSnapshot(64 * 65536, {{0, 64 * 65536, 0}}, 65536, kAllKinds);
  RestoreOptions options;
  options.populate_eagerly = true;
  options.populate_threads = 2;
  START_OR_SKIP(session, RestoreSession::Start(t.reader, options));
  ASSERT_TRUE(WaitFor([&] { return (*session)->stats().chunks_background == 64; }));
  std::span<uint8_t> memory = (*session)->region_memory(0);
  EXPECT_EQ(0, std::memcmp(memory.data(), t.image.data(), memory.size()));
  EXPECT_EQ((*session)->stats().faults, 0u) << "everything was present before it was touched";
  EXPECT_EQ((*session)->stats().chunks_installed, 64u);
}

TEST(RestoreSession, StartIntoCallerMemory) {
  TestSnapshot t = MakeSnapshot(12 * 65536, {{0, 5 * 65536, 0}, {5 * 65536, 7 * 65536, 0}}, 65536);
  void* area = ::mmap(nullptr, 16 * 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(area, MAP_FAILED);
  const uint64_t base = reinterpret_cast<uint64_t>(area);
  // Regions in the opposite order, with a gap.
  std::vector<uint64_t> addresses = {base + 8 * 65536, base};
  {
    START_OR_SKIP(session, RestoreSession::StartInto(t.reader, addresses, RestoreOptions{}));
    EXPECT_EQ((*session)->memory(), nullptr);
    for (uint32_t r = 0; r < 2; ++r) {
      EXPECT_EQ(0, std::memcmp(reinterpret_cast<uint8_t*>(addresses[r]), Expected(t, r).data(),
                               t.regions[r].length_bytes))
          << r;
    }
  }
  ::munmap(area, 16 * 65536);
}

TEST(RestoreSession, StartIntoRejectsBadAddresses) {
  TestSnapshot t = MakeSnapshot(2 * 65536, {{0, 65536, 0}, {65536, 65536, 0}}, 65536);
  auto misaligned = RestoreSession::StartInto(t.reader, {0x10000100, 0x20000000}, RestoreOptions{});
  EXPECT_TRUE(absl::IsInvalidArgument(misaligned.status())) << misaligned.status();
  auto overlapping = RestoreSession::StartInto(t.reader, {0x10000000, 0x10008000}, RestoreOptions{});
  EXPECT_TRUE(absl::IsInvalidArgument(overlapping.status())) << overlapping.status();
  auto wrong_count = RestoreSession::StartInto(t.reader, {0x10000000}, RestoreOptions{});
  EXPECT_TRUE(absl::IsInvalidArgument(wrong_count.status())) << wrong_count.status();
}

TEST(RestoreSession, StatsReportTimeToReadyAndLatency) {
  TestSnapshot t = MakeSnapshot(32 * 65536, {{0, 32 * 65536, 0}}, 65536, kAllKinds);
  START_OR_SKIP(session, RestoreSession::Start(t.reader, RestoreOptions{}));
  std::span<uint8_t> memory = (*session)->region_memory(0);
  EXPECT_EQ(0, std::memcmp(memory.data(), t.image.data(), memory.size()));
  EXPECT_TRUE(WaitFor([&] { return (*session)->stats().bytes_installed > 0; }));
  RestoreStats stats = (*session)->stats();
  EXPECT_GT(stats.time_to_ready_ns, 0u);
  EXPECT_GT(stats.latency_p50_ns, 0u);
  EXPECT_LE(stats.latency_p50_ns, stats.latency_p99_ns);
  EXPECT_LE(stats.latency_p99_ns, stats.latency_max_ns);
  EXPECT_GT(stats.bytes_read, 0u);
  EXPECT_GT(stats.bytes_installed, 0u);
}

TEST(RestoreSession, PageSizeMustFitTheSnapshotsChunks) {
  TestSnapshot t = MakeSnapshot(4 * 65536, {{0, 4 * 65536, 0}}, 65536, {Fill::kText});
  RestoreOptions options;
  options.page_size_bytes = 2 << 20;  // hugetlbfs memory: 64 KiB chunks cannot fill a page
  auto into = RestoreSession::StartInto(t.reader, {0x200000000}, options);
  EXPECT_TRUE(absl::IsFailedPrecondition(into.status())) << into.status();
  EXPECT_NE(into.status().message().find("--chunk-size 2097152"), std::string::npos)
      << into.status();
  auto mapped = RestoreSession::Start(t.reader, options);
  EXPECT_TRUE(absl::IsInvalidArgument(mapped.status())) << mapped.status();
  options.page_size_bytes = 3000;
  EXPECT_TRUE(absl::IsInvalidArgument(RestoreSession::StartInto(t.reader, {0x200000000}, options)
                                          .status()));
}

// Every kernel personality the handshake knows restores byte-exact: the real kernel
// answers the handshake as that kernel would, and what it lacks takes its fallback.
class OnEveryKernel : public ::testing::TestWithParam<FakeKernelConfig> {};

// HostGrantsFullUserfaultfd probes whether this process may call userfaultfd(2) without
// UFFD_USER_MODE_ONLY (root, CAP_SYS_PTRACE or vm.unprivileged_userfaultfd=1). Without
// it, a personality older than 5.11 (no UFFD_USER_MODE_ONLY) and 6.1 (no
// /dev/userfaultfd) has no way to a userfaultfd on this host, as that kernel would not.
bool HostGrantsFullUserfaultfd() {
  const int fd = static_cast<int>(::syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK));
  if (fd < 0) return false;
  ::close(fd);
  return true;
}

TEST_P(OnEveryKernel, RestoreIsByteExact) {
  TestSnapshot t = MakeSnapshot(40 * 16384 + 300, {{0, 24 * 16384, 0}, {24 * 16384, 16 * 16384 + 300, 0}},
                                16384, kAllKinds);
  for (ServingMode mode : {ServingMode::kHandlerThreads, ServingMode::kSigbus}) {
    PersonalityKernel kernel(GetParam());
    internal::StartRequest request;
    request.snapshot = t.reader;
    request.options.serving = mode;
    request.options.handler_threads = 2;
    request.kernel = &kernel;
    auto session = internal::StartSession(std::move(request));
    const bool has_sigbus = (GetParam().supported & Bit(UffdFeature::kSigbus)) != 0;
    if (mode == ServingMode::kSigbus && !has_sigbus) {
      // SIGBUS mode requires the feature: refused by name, not served some other way.
      EXPECT_TRUE(absl::IsFailedPrecondition(session.status())) << session.status();
      EXPECT_NE(session.status().message().find("SIGBUS"), std::string::npos) << session.status();
      continue;
    }
    if (absl::IsPermissionDenied(session.status())) GTEST_SKIP() << session.status();
    if (absl::IsFailedPrecondition(session.status()) && !HostGrantsFullUserfaultfd()) {
      GTEST_SKIP() << "this host lets this process have only UFFD_USER_MODE_ONLY or "
                      "/dev/userfaultfd, which "
                   << GetParam().name << " lacks: " << session.status();
    }
    ASSERT_TRUE(session.ok()) << GetParam().name << ": " << session.status();
    EXPECT_EQ((*session)->features().enabled_features & ~GetParam().supported, 0u);
    std::vector<std::thread> touchers;
    std::atomic<int> mismatches{0};
    for (int i = 0; i < 2; ++i) {
      touchers.emplace_back([&, i] {
        std::mt19937_64 random(i);
        for (uint32_t r = 0; r < 2; ++r) {
          std::span<uint8_t> memory = (*session)->region_memory(r);
          std::span<const uint8_t> expected = Expected(t, r);
          for (int n = 0; n < 200; ++n) {
            const uint64_t at = random() % memory.size();
            if (memory[at] != expected[at]) ++mismatches;
          }
        }
      });
    }
    for (std::thread& toucher : touchers) toucher.join();
    EXPECT_EQ(mismatches.load(), 0) << GetParam().name;
    ASSERT_TRUE((*session)->Close(CloseMode::kFinishRestore).ok());
    for (uint32_t r = 0; r < 2; ++r) {
      std::span<uint8_t> memory = (*session)->region_memory(r);
      EXPECT_TRUE(std::equal(memory.begin(), memory.end(), Expected(t, r).begin()))
          << GetParam().name << " region " << r;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Kernels, OnEveryKernel, ::testing::ValuesIn(FakeKernelPersonalities()),
                         [](const ::testing::TestParamInfo<FakeKernelConfig>& info) {
                           std::string name;
                           for (char c : info.param.release) name += std::isalnum(c) ? c : '_';
                           return name + "_" + std::to_string(info.index);
                         });

}  // namespace
}  // namespace lazysnap
