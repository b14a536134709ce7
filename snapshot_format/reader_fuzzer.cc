// Fuzz target for the snapshot decoder: SnapshotReader::Open, ReadChunk and DecodeImage
// on arbitrary bytes. Built with libFuzzer under --config=fuzz; otherwise linked into
// reader_fuzzer_corpus_test and a replay binary that run the committed corpus.
//
//   tools/bazel build --config=fuzz //snapshot_format:reader_fuzzer
//   mkdir -p /tmp/corpus && cp snapshot_format/testdata/fuzz_corpus/* /tmp/corpus/
//   bazel-bin/snapshot_format/reader_fuzzer -max_total_time=600 /tmp/corpus
//
// (libFuzzer adds the inputs it finds to its first directory, so give it a copy.) A crash
// input goes into testdata/fuzz_corpus/ as regression-<what it found>.
//
// Every input is opened twice: as given, and "resealed", with every checksum the harness
// can reach recomputed. Mutations of the bytes as given almost always stop at a
// checksum, which a fuzzer cannot forge; resealing lets a mutated field reach the
// semantic checks behind the checksums (layout, regions, sections, index entries,
// duplicates, zstd frames and dictionaries).
//
// Besides "no crash, no hang, no leak, no huge allocation", the target aborts when the
// reader contradicts itself:
// - opening with validate_index and opening lazily then calling ValidateIndex give the
//   same status;
// - reading chunk by chunk with ReadChunk and decoding with DecodeImage agree on which
//   chunk fails first, with which status, and on the bytes of every chunk that decodes.
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "base/file_io.h"
#include "base/unique_fd.h"
#include "snapshot_format/reader_fuzz_checks.h"
#include "snapshot_format/snapshot_reader.h"

namespace lazysnap {
namespace {

// FuzzFile is one memfd that holds the current input; the reader opens it by path
// through /proc/self/fd, as it would open a snapshot file.
class FuzzFile {
 public:
  FuzzFile() {
    int fd = ::memfd_create("reader_fuzzer", MFD_CLOEXEC);
    if (fd < 0) Die(absl::StrFormat("memfd_create failed (errno %d)", errno));
    fd_ = UniqueFd(fd);
    path_ = absl::StrFormat("/proc/self/fd/%d", fd);
  }

  // Replace makes `bytes` the file's whole content and returns its path.
  const std::string& Replace(std::span<const uint8_t> bytes) {
    if (::ftruncate(fd_.get(), 0) != 0) Die(absl::StrFormat("ftruncate failed (errno %d)", errno));
    absl::Status written = PwriteFull(fd_.get(), bytes, 0, path_);
    if (!written.ok()) Die(std::string(written.ToString()));
    return path_;
  }

 private:
  UniqueFd fd_;
  std::string path_;
};

// CheckFile opens the snapshot at `path` on its own: an incremental snapshot's parent is
// never found (chain_fuzzer covers chains), and no path the input names is opened.
void CheckFile(const std::string& path) {
  CheckSnapshot([&](bool validate_index) {
    return SnapshotReader::Open(
        path, {.validate_index = validate_index,
               .resolve_parent = [](const RandomAccessFile&, const format::ParentReference&)
                   -> absl::StatusOr<std::shared_ptr<const RandomAccessFile>> {
                 return absl::NotFoundError("the reader fuzz target has no parents");
               }});
  });
}

}  // namespace
}  // namespace lazysnap

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static lazysnap::FuzzFile* const file = new lazysnap::FuzzFile();
  std::span<const uint8_t> input(data, size);
  lazysnap::CheckFile(file->Replace(input));
  std::vector<uint8_t> resealed(input.begin(), input.end());
  lazysnap::ResealSnapshot(resealed);
  if (resealed != std::vector<uint8_t>(input.begin(), input.end())) {
    lazysnap::CheckFile(file->Replace(resealed));
  }
  return 0;
}
