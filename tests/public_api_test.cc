// What an embedder sees: only the public headers (the //:lazysnap target). This file
// fails to compile if one of them pulls in the userfaultfd ABI or declares a type of the
// kernel seam or of engine/internal; and it restores a snapshot the way the README shows.
#include "base/random_access_file.h"
#include "engine/chunk_source.h"
#include "engine/guest_memory.h"
#include "engine/host_features.h"
#include "engine/restore_options.h"
#include "engine/restore_session.h"
#include "engine/restore_stats.h"
#include "engine/uffd_features.h"
#include "snapshot_format/image_source.h"
#include "snapshot_format/parent_resolver.h"
#include "snapshot_format/snapshot_reader.h"
#include "snapshot_format/snapshot_writer.h"

#if defined(UFFDIO_API) || defined(UFFDIO_COPY) || defined(UFFD_EVENT_PAGEFAULT)
#error "a public header pulled in <linux/userfaultfd.h> (the kernel seam leaks)"
#endif

// Declaring these names compiles only while no public header declares them.
namespace lazysnap {
[[maybe_unused]] int Kernel, LinuxKernel, Userfaultfd, UffdCapabilities, RangeRegistration;
namespace internal {
[[maybe_unused]] int ChunkMap, ChunkPipeline, HandlerThread, InstallTarget, ServingContext;
}  // namespace internal
}  // namespace lazysnap

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace {

TEST(PublicApi, RestoresASnapshotThroughThePublicHeadersOnly) {
  const lazysnap::HostFeatures host = lazysnap::ProbeHostFeatures();
  if (!host.can_restore) GTEST_SKIP() << "no userfaultfd here: " << host.open_status;
  // An image: 1 MiB of text with zero pages between.
  std::vector<uint8_t> image(1 << 20, 0);
  for (size_t i = 0; i < image.size(); ++i) {
    if ((i / 4096) % 3 != 2) image[i] = static_cast<uint8_t>("lazysnap"[i % 8] + i / 65536);
  }
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string raw = std::string(tmp != nullptr ? tmp : "/tmp") + "/public_api.raw";
  const std::string snap = std::string(tmp != nullptr ? tmp : "/tmp") + "/public_api.lzs";
  {
    std::FILE* f = std::fopen(raw.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    ASSERT_EQ(std::fwrite(image.data(), 1, image.size(), f), image.size());
    std::fclose(f);
  }
  auto source = lazysnap::FileImageSource::Open(raw);
  ASSERT_TRUE(source.ok()) << source.status();
  ASSERT_TRUE(lazysnap::WriteSnapshot(**source, snap, lazysnap::WriterOptions{}).ok());

  auto snapshot = lazysnap::SnapshotReader::Open(snap, {.validate_index = false});
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  lazysnap::RestoreOptions options;
  options.on_error = [](const absl::Status& status) { ADD_FAILURE() << status; };
  auto session = lazysnap::RestoreSession::Start(std::move(*snapshot), options);
  ASSERT_TRUE(session.ok()) << session.status();
  const std::span<uint8_t> memory = (*session)->region_memory(0);
  ASSERT_EQ(memory.size(), image.size());
  EXPECT_EQ(0, std::memcmp(memory.data(), image.data(), image.size()));
  const lazysnap::RestoreStats stats = (*session)->stats();
  EXPECT_GT(stats.faults, 0u);
  EXPECT_FALSE((*session)->features().reader.empty());
  EXPECT_TRUE((*session)->Close(lazysnap::CloseMode::kFinishRestore).ok());
}

}  // namespace
