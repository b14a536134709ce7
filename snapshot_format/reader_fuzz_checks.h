// Shared parts of the reader's fuzz targets (reader_fuzzer.cc, chain_fuzzer.cc).
#ifndef LAZYSNAP_SNAPSHOT_FORMAT_READER_FUZZ_CHECKS_H_
#define LAZYSNAP_SNAPSHOT_FORMAT_READER_FUZZ_CHECKS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "snapshot_format/snapshot_reader.h"

namespace lazysnap {

// Die reports a contradiction the fuzzer found and aborts.
[[noreturn]] void Die(const std::string& what);

// ResealSnapshot recomputes, as far as the bytes allow, every checksum of a snapshot:
// chunks and section payloads, index segments, tables, header and trailer. Garbage stays
// garbage: only checksum fields are written.
void ResealSnapshot(std::vector<uint8_t>& file);

// OpenFunction opens the snapshot under test with or without eager index validation.
using OpenFunction =
    std::function<absl::StatusOr<std::unique_ptr<SnapshotReader>>(bool validate_index)>;

// CheckSnapshot opens the snapshot eagerly and lazily and aborts when the reader
// contradicts itself:
// - opening with validate_index and opening lazily then calling ValidateIndex give the
//   same status;
// - reading chunk by chunk with ReadChunk and decoding with DecodeImage agree on which
//   chunk fails first, with which status, and on the bytes of every chunk that decodes;
// - every chunk is stored in a file of the reader's chain; the index summary adds up.
void CheckSnapshot(const OpenFunction& open);

}  // namespace lazysnap

#endif  // LAZYSNAP_SNAPSHOT_FORMAT_READER_FUZZ_CHECKS_H_
