// Test helpers for snapshot files: images built chunk by chunk from named kinds, an
// in-memory image source, and byte-level surgery on snapshot files (flip a byte, truncate,
// patch a structure and re-seal the checksums so that only the semantic check can fail).
#ifndef LAZYSNAP_SNAPSHOT_FORMAT_TEST_UTIL_H_
#define LAZYSNAP_SNAPSHOT_FORMAT_TEST_UTIL_H_

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/random_access_file.h"
#include "snapshot_format/format.h"
#include "snapshot_format/image_source.h"
#include "snapshot_format/snapshot_reader.h"

namespace lazysnap::testing {

// TempPath returns a fresh path under the test's temporary directory.
std::string TempPath(std::string_view name);

// Content kinds for generated chunks. kRecords is heap-like text (records of key:value
// pairs from small vocabularies, with random numbers): every chunk differs, but they
// share their words, so a dictionary trained on them pays.
enum class Fill { kZero, kText, kRandom, kCopyOfFirstText, kRecords };

// MixedImage returns `length` bytes whose consecutive `chunk_bytes`-sized pieces follow
// `pattern` cyclically (kCopyOfFirstText repeats the first kText piece exactly).
std::vector<uint8_t> MixedImage(uint64_t length, uint32_t chunk_bytes,
                                const std::vector<Fill>& pattern, uint64_t seed = 7);

// MemoryImageSource serves an in-memory image with the given regions; it can be told to
// fail after reading `fail_after_bytes`, or to behave like a stream.
class MemoryImageSource : public ImageSource {
 public:
  MemoryImageSource(std::vector<uint8_t> image, std::vector<format::Region> regions);

  std::string name() const override { return "memory image"; }
  std::vector<format::Region> regions() const override { return regions_; }
  absl::StatusOr<size_t> Read(uint64_t image_offset_bytes, std::span<uint8_t> out) override;
  bool random_access() const override { return true; }

  void FailAfter(uint64_t bytes) { fail_after_bytes_ = bytes; }
  const std::vector<uint8_t>& image() const { return image_; }

 private:
  std::vector<uint8_t> image_;
  std::vector<format::Region> regions_;
  uint64_t bytes_read_ = 0;
  uint64_t fail_after_bytes_ = UINT64_MAX;
};

// MemoryFile: a RandomAccessFile over bytes held in memory, named `name` (for chains
// built without touching the disk, and for fuzz targets).
class MemoryFile : public RandomAccessFile {
 public:
  MemoryFile(std::string name, std::vector<uint8_t> bytes)
      : name_(std::move(name)), bytes_(std::move(bytes)) {}
  const std::string& name() const override { return name_; }
  uint64_t size_bytes() const override { return bytes_.size(); }
  absl::Status ReadAt(uint64_t offset_bytes, std::span<uint8_t> out) const override;
  const std::vector<uint8_t>& bytes() const { return bytes_; }

 private:
  std::string name_;
  std::vector<uint8_t> bytes_;
};

// ReadFile / WriteFile: whole files as bytes.
std::vector<uint8_t> ReadFileBytes(std::string_view path);
void WriteFileBytes(std::string_view path, std::span<const uint8_t> bytes);

// SnapshotBytes: a decoded view of a snapshot file's bytes for surgery.
struct SnapshotLayout {
  format::Trailer trailer;
  uint64_t regions_offset = 0;   // file offsets of the tables
  uint64_t sections_offset = 0;
  uint64_t segments_offset = 0;
  uint64_t index_offset = 0;
};
SnapshotLayout LayoutOf(std::span<const uint8_t> file);

// Reseal recomputes the header, segment, tables and trailer checksums of a
// snapshot held in `file` after a test edited fields, so that the edit is seen by the
// semantic checks rather than the checksums.
void Reseal(std::vector<uint8_t>& file, const format::Trailer* new_trailer = nullptr);

// WithExtraSection appends a section entry of `type` and `flags` whose payload is the
// first 16 bytes of the data area (its content is not what such files test), then
// reseals.
std::vector<uint8_t> WithExtraSection(std::vector<uint8_t> file, uint32_t type, uint16_t flags);

// RunfilesPath returns where `relative` (a path in this workspace, like
// "snapshot_format/testdata/golden") is for the running test: under TEST_SRCDIR when it
// is there, else relative to the working directory (the runfiles root of the workspace).
std::string RunfilesPath(std::string_view relative);

// FilesIn lists the regular files of `directory` in name order (for corpus replays); an
// error leaves `error` set.
std::vector<std::string> FilesIn(const std::string& directory, std::error_code& error);

// ValidSeeds lists the files of `directory` named "seed-valid_*" (fuzz seeds a reader
// must accept), in name order; an error leaves `error` set.
std::vector<std::string> ValidSeeds(const std::string& directory, std::error_code& error);

// ReplayCorpus runs every file of `directory` through a fuzz target (its
// LLVMFuzzerTestOneInput), naming each on stderr first so that a crash shows which.
// NotFound when the directory holds no files; the directory's own errors otherwise.
absl::Status ReplayCorpus(const std::string& directory, int (*target)(const uint8_t*, size_t));

// DecodeFlatImage decodes every chunk of `reader` (through its chain) into an image of
// image_size_bytes(), holes between regions left zero.
absl::StatusOr<std::vector<uint8_t>> DecodeFlatImage(const SnapshotReader& reader);

// PatchIndexEntry rewrites index entry `chunk` with `edit` applied, then reseals.
void PatchIndexEntry(std::vector<uint8_t>& file, uint64_t chunk,
                     const std::function<void(format::IndexEntry&)>& edit);

// PatchSection rewrites section table entry `index` with `edit` applied, then reseals.
void PatchSection(std::vector<uint8_t>& file, uint32_t index,
                  const std::function<void(format::Section&)>& edit);

// PatchSectionPayload edits the payload of the first section of `type` in place (`edit`
// must keep its length), recomputes the section's checksum and reseals.
void PatchSectionPayload(std::vector<uint8_t>& file, format::SectionType type,
                         const std::function<void(std::span<uint8_t>)>& edit);

// PatchParentReference decodes the parent section, applies `edit` and writes it back
// (the name's length must not change), then reseals.
void PatchParentReference(std::vector<uint8_t>& file,
                          const std::function<void(format::ParentReference&)>& edit);

}  // namespace lazysnap::testing

#endif  // LAZYSNAP_SNAPSHOT_FORMAT_TEST_UTIL_H_
