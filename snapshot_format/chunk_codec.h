// Chunk codec: compressing one chunk and decoding one stored chunk back, with its
// checksum verified, using zstd with or without a shared dictionary.
//
// Compressors and decoders are per-thread objects (each owns a zstd context); the
// dictionaries are immutable once built and shared by all threads.
#ifndef LAZYSNAP_SNAPSHOT_FORMAT_CHUNK_CODEC_H_
#define LAZYSNAP_SNAPSHOT_FORMAT_CHUNK_CODEC_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "snapshot_format/format.h"

struct ZSTD_CCtx_s;
struct ZSTD_DCtx_s;
struct ZSTD_CDict_s;
struct ZSTD_DDict_s;

namespace lazysnap {

// CompressionLevelRange returns zstd's [min, max] compression levels (min is negative).
std::pair<int, int> CompressionLevelRange();

// MaxCompressedSize is the largest a compressed chunk of `input_bytes` can be (zstd's
// compress bound); readers reject stored lengths above it.
size_t MaxCompressedSize(size_t input_bytes);

// StoresRaw is the writer's rule for a chunk that compressed to `compressed_bytes`: it is
// stored raw unless zstd saves at least 1/16 of its `length_bytes`, because a raw chunk is
// served with a copy instead of a decode. Estimates of stored sizes use the same rule.
inline bool StoresRaw(size_t compressed_bytes, size_t length_bytes) {
  return compressed_bytes >= length_bytes - length_bytes / 16;
}

// CompressionDictionary is a prepared zstd dictionary for compressing (a CDict at one
// level). Immutable and thread-safe once created.
class CompressionDictionary {
 public:
  // Create prepares `dictionary` (zstd dictionary format) for `level`.
  // InvalidArgument when the bytes are not a zstd dictionary.
  static absl::StatusOr<std::shared_ptr<const CompressionDictionary>> Create(
      std::span<const uint8_t> dictionary, int level);
  ~CompressionDictionary();

  // CreateFromContent prepares `content` as a raw-content dictionary (no entropy tables,
  // id 0) with zstd's fastest match finder, whatever level the compressor is at. For
  // estimates only: the format names a frame's dictionary by id, so frames compressed
  // with it are never stored.
  static absl::StatusOr<std::shared_ptr<const CompressionDictionary>> CreateFromContent(
      std::span<const uint8_t> content);

  uint32_t id() const { return id_; }
  std::span<const uint8_t> bytes() const { return bytes_; }
  const ZSTD_CDict_s* cdict() const { return cdict_; }

 private:
  CompressionDictionary() = default;
  std::vector<uint8_t> bytes_;
  uint32_t id_ = 0;
  ZSTD_CDict_s* cdict_ = nullptr;
};

// DecompressionDictionary is a prepared zstd dictionary for decoding (a DDict).
// Immutable and thread-safe once created: all decoders share one.
class DecompressionDictionary {
 public:
  // Create prepares `dictionary`. DataLoss when the bytes are not a zstd dictionary.
  static absl::StatusOr<std::unique_ptr<const DecompressionDictionary>> Create(
      std::span<const uint8_t> dictionary);
  // CreateFromCompressed prepares a dictionary stored as a compressed dictionary section
  // (FORMAT.md, type 4): `stored` must be exactly one zstd frame, compressed without a
  // dictionary, that records its content size, which is checked against `max_bytes`
  // before anything is allocated; it must decompress to exactly that many bytes, which
  // must be a zstd dictionary. DataLoss naming the reason otherwise.
  static absl::StatusOr<std::unique_ptr<const DecompressionDictionary>> CreateFromCompressed(
      std::span<const uint8_t> stored, uint64_t max_bytes);
  ~DecompressionDictionary();

  uint32_t id() const { return id_; }
  size_t size_bytes() const { return bytes_.size(); }
  // bytes: the dictionary as stored (to recompress with it, see CompressionDictionary).
  std::span<const uint8_t> bytes() const { return bytes_; }
  const ZSTD_DDict_s* ddict() const { return ddict_; }

 private:
  DecompressionDictionary() = default;
  std::vector<uint8_t> bytes_;  // referenced by ddict_
  uint32_t id_ = 0;
  ZSTD_DDict_s* ddict_ = nullptr;
};

// CompressDictionaryPayload returns `dictionary` as one zstd frame (no dictionary, content
// size recorded): the payload of a compressed dictionary section. It compresses at a high
// level with a window covering the whole dictionary; about 10 ms per MiB.
absl::StatusOr<std::vector<uint8_t>> CompressDictionaryPayload(
    std::span<const uint8_t> dictionary);

// A dictionary is stored compressed (format 1.2) only when that saves at least this much:
// smaller dictionaries stay in format 1.0 sections, readable by every 1.x reader.
inline constexpr size_t kMinDictionaryCompressionSavingBytes = 64 << 10;

// DictionaryPayload: a dictionary section's payload as the writer stores it.
struct DictionaryPayload {
  bool compressed = false;  // a compressed dictionary section (type 4) rather than type 1
  std::vector<uint8_t> bytes;
};

// ChooseDictionaryPayload returns the dictionary compressed when that saves at least
// kMinDictionaryCompressionSavingBytes (or always with `force_compressed`), else as it
// is. Dictionaries too small to save that much are not compressed at all.
absl::StatusOr<DictionaryPayload> ChooseDictionaryPayload(std::span<const uint8_t> dictionary,
                                                          bool force_compressed = false);

// ChunkCompressor compresses chunks at one level. Move-only; one per thread.
class ChunkCompressor {
 public:
  // Create makes a compressor; InvalidArgument when `level` is outside
  // CompressionLevelRange().
  static absl::StatusOr<ChunkCompressor> Create(int level);
  ChunkCompressor(ChunkCompressor&& other) noexcept;
  ChunkCompressor& operator=(ChunkCompressor&& other) noexcept;
  ~ChunkCompressor();

  // Compress writes one zstd frame for `input` into `output` (whose size must be at least
  // MaxCompressedSize(input.size())) and returns its size. With `dictionary` the frame
  // records the dictionary's id and the dictionary's level applies.
  absl::StatusOr<size_t> Compress(std::span<const uint8_t> input, std::span<uint8_t> output,
                                  const CompressionDictionary* dictionary);

  int level() const { return level_; }

 private:
  ChunkCompressor(ZSTD_CCtx_s* context, int level) : context_(context), level_(level) {}
  ZSTD_CCtx_s* context_ = nullptr;
  int level_ = 0;
};

// StoredChunk describes what the decoder needs to know about one stored chunk; the reader
// fills it from the (already validated) index.
struct StoredChunk {
  uint64_t chunk_number = 0;   // as requested (for messages)
  // Duplicates and parent chunks resolved: zero, compressed or raw.
  format::ChunkKind kind = format::ChunkKind::kZero;
  uint64_t file_offset_bytes = 0;  // for messages
  uint32_t stored_length_bytes = 0;
  uint32_t length_bytes = 0;  // uncompressed
  uint64_t checksum = 0;         // of the uncompressed bytes
  uint64_t stored_checksum = 0;  // of the stored bytes
  // The dictionary to decode with, as SnapshotReader::dictionary() takes it: 0 for none,
  // else the slot the index entry names (1..255) + 256 * file_index, so that one number
  // names a dictionary anywhere in a chain (format::kMaxChainDepth keeps it in 16 bits).
  // For a chunk of the snapshot itself (file_index 0) it is the entry's slot.
  uint16_t dictionary_slot = 0;
  // Which file of the reader's chain holds the stored bytes: 0 is the snapshot opened, 1
  // its parent, and so on (SnapshotReader::chain_file()). file_offset_bytes is in it.
  uint32_t file_index = 0;
};

// DecodeError: why a chunk did not decode (kNone when it did).
enum class DecodeError {
  kNone,
  kBadBuffers,          // the buffers do not have the chunk's sizes
  kStoredChecksum,      // the stored bytes do not match their checksum
  kNotOneFrame,         // the stored bytes are not exactly one zstd frame
  kDictionaryMismatch,  // the frame needs another dictionary than the index names
  kZstd,                // zstd refused the frame
  kWrongLength,         // the frame decoded to another length than the chunk's
  kChecksum,            // the decoded bytes do not match the chunk's checksum
  kNotStored,           // zero and duplicate chunks have no stored bytes
};

// ChunkDecoder turns stored bytes back into a chunk and verifies its checksum. Move-only;
// one per thread. Decode does not allocate.
class ChunkDecoder {
 public:
  static absl::StatusOr<ChunkDecoder> Create();
  ChunkDecoder(ChunkDecoder&& other) noexcept;
  ChunkDecoder& operator=(ChunkDecoder&& other) noexcept;
  ~ChunkDecoder();

  // Decode checks the stored bytes' checksum, then fills `out` (exactly
  // chunk.length_bytes) from `stored` (exactly chunk.stored_length_bytes; for raw chunks it
  // may alias `out`) and checks the content checksum. zstd never sees unverified bytes.
  // `dictionary` must be the one chunk.dictionary_slot names (nullptr for 0).
  // DataLoss naming `file`, the chunk and the reason when the bytes do not decode to
  // exactly length_bytes or the checksum does not match; `out` is then unspecified and
  // must not be used.
  absl::Status Decode(const StoredChunk& chunk, std::span<const uint8_t> stored,
                      std::span<uint8_t> out, const DecompressionDictionary* dictionary,
                      std::string_view file);

  // DecodeQuietly does what Decode does but reports only the kind of failure, without
  // building a message: it neither allocates nor takes a lock, so it may run in a signal
  // handler. `zstd_error` receives zstd's error code for kZstd.
  DecodeError DecodeQuietly(const StoredChunk& chunk, std::span<const uint8_t> stored,
                            std::span<uint8_t> out, const DecompressionDictionary* dictionary,
                            size_t* zstd_error = nullptr);

 private:
  explicit ChunkDecoder(ZSTD_DCtx_s* context) : context_(context) {}
  ZSTD_DCtx_s* context_ = nullptr;
};

// IsAllZero is true when every byte of `bytes` is zero.
bool IsAllZero(std::span<const uint8_t> bytes);

}  // namespace lazysnap

#endif  // LAZYSNAP_SNAPSHOT_FORMAT_CHUNK_CODEC_H_
