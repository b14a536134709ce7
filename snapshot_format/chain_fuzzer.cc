// Fuzz target for incremental snapshots: a chain of files (a child, its parent, ...) in
// one input (chain_fuzz_input.h), opened through a resolver that hands out the next file
// of the input as each file's parent. What the chain adds to the reader's own fuzz
// target (reader_fuzzer.cc) is the parent section's decoding, the identity, cycle, depth
// and layout checks of each link, and the resolution of parent chunks through the chain.
//
//   tools/bazel build --config=fuzz //snapshot_format:chain_fuzzer
//   mkdir -p /tmp/chains && cp snapshot_format/testdata/chain_fuzz_corpus/* /tmp/chains/
//   bazel-bin/snapshot_format/chain_fuzzer -max_total_time=600 /tmp/chains
//
// Every input is checked twice: as given, and resealed: each file's checksums
// recomputed, root first, and each child's parent section and parent chunks made to
// match its (resealed) parent, so that a mutated field reaches the semantic checks. The
// ids and depths the parent sections name are left as mutated, so that cycles, replaced
// parents and broken depths are reached too. The checks are those of CheckSnapshot
// (reader_fuzz_checks.h).
#include <algorithm>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "base/byte_order.h"
#include "snapshot_format/chain_fuzz_input.h"
#include "snapshot_format/format.h"
#include "snapshot_format/reader_fuzz_checks.h"
#include "snapshot_format/snapshot_reader.h"
#include "snapshot_format/test_util.h"

namespace lazysnap {
namespace {

bool Within(uint64_t size, uint64_t offset, uint64_t length) {
  return offset <= size && length <= size - offset;
}

// Tables: where a file's section table and index are, when its trailer's counts fit.
struct Tables {
  bool ok = false;
  uint8_t* sections = nullptr;
  uint32_t section_count = 0;
  uint8_t* index = nullptr;
  uint64_t chunk_count = 0;
};

Tables TablesOf(std::vector<uint8_t>& file) {
  Tables tables;
  if (file.size() < format::kHeaderSizeBytes + format::kTrailerSizeBytes) return tables;
  const uint8_t* trailer = file.data() + file.size() - format::kTrailerSizeBytes;
  const uint64_t metadata_offset = LoadLe<uint64_t>(trailer + 0);
  const uint64_t chunk_count = LoadLe<uint64_t>(trailer + 24);
  const uint32_t region_count = LoadLe<uint32_t>(trailer + 32);
  const uint32_t section_count = LoadLe<uint32_t>(trailer + 36);
  const uint64_t metadata_end = file.size() - format::kTrailerSizeBytes;
  if (region_count > format::kMaxRegionCount || section_count > format::kMaxSectionCount ||
      chunk_count > file.size() / format::kIndexEntrySizeBytes) {
    return tables;
  }
  const uint64_t tables_bytes = format::TablesSizeBytes(region_count, section_count, chunk_count);
  if (!Within(metadata_end, metadata_offset, tables_bytes) ||
      !Within(metadata_end, metadata_offset + tables_bytes,
              chunk_count * format::kIndexEntrySizeBytes)) {
    return tables;
  }
  tables.ok = true;
  tables.sections =
      file.data() + metadata_offset + uint64_t{region_count} * format::kRegionEntrySizeBytes;
  tables.section_count = section_count;
  tables.index = file.data() + metadata_offset + tables_bytes;
  tables.chunk_count = chunk_count;
  return tables;
}

// MatchParent makes `child`'s parent section name `parent`'s size and checksums (not its
// id or depth) and its parent chunks carry the checksums of the parent's entries they
// name, as far as the bytes allow.
void MatchParent(std::vector<uint8_t>& child, std::vector<uint8_t>& parent) {
  Tables tables = TablesOf(child);
  Tables parent_tables = TablesOf(parent);
  if (!tables.ok || parent.size() < format::kHeaderSizeBytes + format::kTrailerSizeBytes) return;
  for (uint32_t s = 0; s < tables.section_count; ++s) {
    const uint8_t* section = tables.sections + uint64_t{s} * format::kSectionEntrySizeBytes;
    const uint64_t offset = LoadLe<uint64_t>(section + 8);
    const uint64_t length = LoadLe<uint64_t>(section + 16);
    if (LoadLe<uint32_t>(section) != static_cast<uint32_t>(format::SectionType::kParent) ||
        length < format::kParentSectionFixedSizeBytes || !Within(child.size(), offset, length)) {
      continue;
    }
    uint8_t* payload = child.data() + offset;
    StoreLe<uint64_t>(payload + 16, LoadLe<uint64_t>(parent.data() + 56));
    StoreLe<uint64_t>(payload + 24,
                      LoadLe<uint64_t>(parent.data() + parent.size() - format::kTrailerSizeBytes + 48));
    StoreLe<uint64_t>(payload + 32, parent.size());
  }
  if (!parent_tables.ok) return;
  for (uint64_t chunk = 0; chunk < tables.chunk_count; ++chunk) {
    uint8_t* entry = tables.index + chunk * format::kIndexEntrySizeBytes;
    const uint64_t location = LoadLe<uint64_t>(entry + 8);
    if (entry[0] != static_cast<uint8_t>(format::ChunkKind::kParent) ||
        location >= parent_tables.chunk_count) {
      continue;
    }
    StoreLe<uint64_t>(entry + 16, LoadLe<uint64_t>(parent_tables.index +
                                                   location * format::kIndexEntrySizeBytes + 16));
  }
}

// ResealChain reseals every file, root (the last) first, each child after matching it to
// its resealed parent.
void ResealChain(std::vector<std::vector<uint8_t>>& files) {
  for (size_t i = files.size(); i-- > 0;) {
    if (i + 1 < files.size()) MatchParent(files[i], files[i + 1]);
    ResealSnapshot(files[i]);
  }
}

// CheckChain opens files[0]; the parent of files[i] is files[i + 1].
void CheckChain(const std::vector<std::vector<uint8_t>>& bytes) {
  if (bytes.empty()) return;
  std::vector<std::shared_ptr<const RandomAccessFile>> files;
  for (size_t i = 0; i < bytes.size(); ++i) {
    files.push_back(
        std::make_shared<testing::MemoryFile>(absl::StrFormat("chain-%d", i), bytes[i]));
  }
  ParentResolver next = [&files](const RandomAccessFile& child, const format::ParentReference&)
      -> absl::StatusOr<std::shared_ptr<const RandomAccessFile>> {
    for (size_t i = 0; i + 1 < files.size(); ++i) {
      if (files[i].get() == &child) return files[i + 1];
    }
    return absl::NotFoundError(absl::StrFormat("%s is the last file of the input", child.name()));
  };
  CheckSnapshot([&](bool validate_index) {
    return SnapshotReader::Open(files[0],
                                {.validate_index = validate_index, .resolve_parent = next});
  });
}

}  // namespace
}  // namespace lazysnap

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<std::vector<uint8_t>> files;
  for (std::span<const uint8_t> file : lazysnap::DecodeChainInput({data, size})) {
    files.emplace_back(file.begin(), file.end());
  }
  lazysnap::CheckChain(files);
  std::vector<std::vector<uint8_t>> resealed = files;
  lazysnap::ResealChain(resealed);
  if (resealed != files) lazysnap::CheckChain(resealed);
  return 0;
}
