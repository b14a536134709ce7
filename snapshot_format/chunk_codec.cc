// Chunk codec: zstd frames per chunk, optional shared dictionaries, checksum checks.
#include "snapshot_format/chunk_codec.h"

#include <zstd.h>
#include <zdict.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_format.h"
#include "base/checksum.h"
#include "base/status_macros.h"

namespace lazysnap {

std::pair<int, int> CompressionLevelRange() { return {ZSTD_minCLevel(), ZSTD_maxCLevel()}; }

size_t MaxCompressedSize(size_t input_bytes) { return ZSTD_compressBound(input_bytes); }

namespace {

// Dictionaries up to this size get the level's own match tables; larger ones get tables
// sized for them, up to 2^kMaxDictionaryTableLog entries (16 MiB each of hash and chain).
constexpr size_t kDefaultTablesDictionaryBytes = 64 << 10;
constexpr unsigned kMaxDictionaryTableLog = 22;

// CreateCDict prepares `bytes` (referenced, not copied) for compression at `level`.
ZSTD_CDict* CreateCDict(std::span<const uint8_t> bytes, ZSTD_dictContentType_e type, int level) {
  if (bytes.size() <= kDefaultTablesDictionaryBytes && type == ZSTD_dct_auto) {
    return ZSTD_createCDict(bytes.data(), bytes.size(), level);
  }
  // Level 3's hash tables (2^17 entries) forget most positions of a dictionary of MiBs,
  // and a chunk then misses the matches the dictionary was trained for; tables with about
  // one entry per dictionary byte find them (bench/results/corpus.md).
  ZSTD_compressionParameters params =
      ZSTD_getCParams(level, ZSTD_CONTENTSIZE_UNKNOWN, bytes.size());
  unsigned log = 0;
  while ((size_t{1} << log) < bytes.size()) ++log;
  log = std::min(log, kMaxDictionaryTableLog);
  params.hashLog = std::max(params.hashLog, log);
  params.chainLog = std::max(params.chainLog, log);
  return ZSTD_createCDict_advanced(bytes.data(), bytes.size(), ZSTD_dlm_byRef, type, params,
                                   ZSTD_defaultCMem);
}

}  // namespace

absl::StatusOr<std::shared_ptr<const CompressionDictionary>> CompressionDictionary::Create(
    std::span<const uint8_t> dictionary, int level) {
  uint32_t id = ZDICT_getDictID(dictionary.data(), dictionary.size());
  if (id == 0) {
    return absl::InvalidArgumentError(
        "the dictionary is not in zstd's dictionary format (no dictionary id)");
  }
  std::shared_ptr<CompressionDictionary> result(new CompressionDictionary());
  result->bytes_.assign(dictionary.begin(), dictionary.end());
  result->id_ = id;
  result->cdict_ = CreateCDict(result->bytes_, ZSTD_dct_auto, level);
  if (result->cdict_ == nullptr) {
    return absl::InvalidArgumentError("zstd could not prepare the dictionary");
  }
  return std::shared_ptr<const CompressionDictionary>(std::move(result));
}

absl::StatusOr<std::shared_ptr<const CompressionDictionary>>
CompressionDictionary::CreateFromContent(std::span<const uint8_t> content) {
  std::shared_ptr<CompressionDictionary> result(new CompressionDictionary());
  result->bytes_.assign(content.begin(), content.end());
  // Estimates want to be cheap more than exact: zstd's fastest strategy, with a hash
  // table of up to 2^20 entries, prepares MiBs of content in milliseconds.
  ZSTD_compressionParameters params =
      ZSTD_getCParams(1, ZSTD_CONTENTSIZE_UNKNOWN, result->bytes_.size());
  params.hashLog = std::min<unsigned>(std::max(params.hashLog, 20u), 20u);
  result->cdict_ = ZSTD_createCDict_advanced(result->bytes_.data(), result->bytes_.size(),
                                             ZSTD_dlm_byRef, ZSTD_dct_rawContent, params,
                                             ZSTD_defaultCMem);
  if (result->cdict_ == nullptr) {
    return absl::InvalidArgumentError("zstd could not prepare the dictionary content");
  }
  return std::shared_ptr<const CompressionDictionary>(std::move(result));
}

CompressionDictionary::~CompressionDictionary() { ZSTD_freeCDict(cdict_); }

absl::StatusOr<std::unique_ptr<const DecompressionDictionary>> DecompressionDictionary::Create(
    std::span<const uint8_t> dictionary) {
  uint32_t id = ZDICT_getDictID(dictionary.data(), dictionary.size());
  if (id == 0) {
    return absl::DataLossError(
        "dictionary section is not a zstd dictionary (no dictionary magic or id)");
  }
  std::unique_ptr<DecompressionDictionary> result(new DecompressionDictionary());
  // The DDict refers to the object's own copy of the bytes, which also serves bytes().
  result->bytes_.assign(dictionary.begin(), dictionary.end());
  result->ddict_ = ZSTD_createDDict_byReference(result->bytes_.data(), result->bytes_.size());
  if (result->ddict_ == nullptr) {
    return absl::DataLossError("zstd rejected the dictionary section");
  }
  result->id_ = id;
  return std::unique_ptr<const DecompressionDictionary>(std::move(result));
}

DecompressionDictionary::~DecompressionDictionary() { ZSTD_freeDDict(ddict_); }

absl::StatusOr<std::unique_ptr<const DecompressionDictionary>>
DecompressionDictionary::CreateFromCompressed(std::span<const uint8_t> stored,
                                              uint64_t max_bytes) {
  // Everything zstd says about the frame is checked before the output is allocated.
  if (ZSTD_findFrameCompressedSize(stored.data(), stored.size()) != stored.size()) {
    return absl::DataLossError(
        "compressed dictionary: the payload is not exactly one zstd frame");
  }
  if (ZSTD_getDictID_fromFrame(stored.data(), stored.size()) != 0) {
    return absl::DataLossError(
        "compressed dictionary: the frame needs a dictionary itself");
  }
  const unsigned long long size = ZSTD_getFrameContentSize(stored.data(), stored.size());
  if (size == ZSTD_CONTENTSIZE_UNKNOWN || size == ZSTD_CONTENTSIZE_ERROR) {
    return absl::DataLossError(
        "compressed dictionary: the frame does not record its content size");
  }
  if (size == 0 || size > max_bytes) {
    return absl::DataLossError(absl::StrFormat(
        "compressed dictionary: the frame says %d bytes, not in [1, %d]", size, max_bytes));
  }
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  const size_t n = ZSTD_decompress(bytes.data(), bytes.size(), stored.data(), stored.size());
  if (ZSTD_isError(n)) {
    return absl::DataLossError(
        absl::StrFormat("compressed dictionary: zstd: %s", ZSTD_getErrorName(n)));
  }
  if (n != bytes.size()) {
    return absl::DataLossError(absl::StrFormat(
        "compressed dictionary: decompressed to %d bytes, the frame says %d", n, size));
  }
  return Create(bytes);
}

absl::StatusOr<std::vector<uint8_t>> CompressDictionaryPayload(
    std::span<const uint8_t> dictionary) {
  ZSTD_CCtx* context = ZSTD_createCCtx();
  if (context == nullptr) return absl::ResourceExhaustedError("ZSTD_createCCtx failed");
  // Level 9 with a window over the whole dictionary: within a few percent of level 19
  // on trained dictionaries at a tenth of its time (bench/results/corpus.md).
  unsigned window_log = 10;
  while ((size_t{1} << window_log) < dictionary.size() && window_log < 27) ++window_log;
  ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, 9);
  ZSTD_CCtx_setParameter(context, ZSTD_c_windowLog, static_cast<int>(window_log));
  ZSTD_CCtx_setParameter(context, ZSTD_c_contentSizeFlag, 1);
  ZSTD_CCtx_setParameter(context, ZSTD_c_checksumFlag, 0);
  std::vector<uint8_t> out(ZSTD_compressBound(dictionary.size()));
  const size_t n = ZSTD_compress2(context, out.data(), out.size(), dictionary.data(),
                                  dictionary.size());
  ZSTD_freeCCtx(context);
  if (ZSTD_isError(n)) {
    return absl::InternalError(
        absl::StrFormat("compressing the dictionary: %s", ZSTD_getErrorName(n)));
  }
  out.resize(n);
  return out;
}

absl::StatusOr<DictionaryPayload> ChooseDictionaryPayload(std::span<const uint8_t> dictionary,
                                                          bool force_compressed) {
  DictionaryPayload payload;
  if (force_compressed || dictionary.size() > kMinDictionaryCompressionSavingBytes) {
    LAZYSNAP_ASSIGN_OR_RETURN(std::vector<uint8_t> compressed,
                              CompressDictionaryPayload(dictionary));
    if (force_compressed ||
        compressed.size() + kMinDictionaryCompressionSavingBytes <= dictionary.size()) {
      payload.compressed = true;
      payload.bytes = std::move(compressed);
      return payload;
    }
  }
  payload.bytes.assign(dictionary.begin(), dictionary.end());
  return payload;
}

absl::StatusOr<ChunkCompressor> ChunkCompressor::Create(int level) {
  auto [min_level, max_level] = CompressionLevelRange();
  if (level < min_level || level > max_level || level == 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "compression level %d is outside zstd's range [%d, %d] (0 is not a level)", level,
        min_level, max_level));
  }
  ZSTD_CCtx* context = ZSTD_createCCtx();
  if (context == nullptr) return absl::ResourceExhaustedError("ZSTD_createCCtx failed");
  // lazysnap keeps its own checksum of every chunk; zstd's would only add 4 bytes.
  ZSTD_CCtx_setParameter(context, ZSTD_c_checksumFlag, 0);
  ZSTD_CCtx_setParameter(context, ZSTD_c_contentSizeFlag, 1);
  ZSTD_CCtx_setParameter(context, ZSTD_c_dictIDFlag, 1);
  ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, level);
  // With a dictionary, zstd copies the CDict's match tables (hundreds of KiB at level 3)
  // into the context for inputs above a small cutoff, i.e. for every 64 KiB chunk;
  // attaching them read-only compresses to the same size without the copy
  // (bench/results/dictionary.md).
  ZSTD_CCtx_setParameter(context, ZSTD_c_forceAttachDict, ZSTD_dictForceAttach);
  return ChunkCompressor(context, level);
}

ChunkCompressor::ChunkCompressor(ChunkCompressor&& other) noexcept
    : context_(other.context_), level_(other.level_) {
  other.context_ = nullptr;
}

ChunkCompressor& ChunkCompressor::operator=(ChunkCompressor&& other) noexcept {
  if (this != &other) {
    ZSTD_freeCCtx(context_);
    context_ = other.context_;
    level_ = other.level_;
    other.context_ = nullptr;
  }
  return *this;
}

ChunkCompressor::~ChunkCompressor() { ZSTD_freeCCtx(context_); }

absl::StatusOr<size_t> ChunkCompressor::Compress(std::span<const uint8_t> input,
                                                 std::span<uint8_t> output,
                                                 const CompressionDictionary* dictionary) {
  // refCDict replaces whatever was referenced before (nullptr: no dictionary).
  size_t ref = ZSTD_CCtx_refCDict(context_, dictionary != nullptr ? dictionary->cdict() : nullptr);
  if (ZSTD_isError(ref)) {
    return absl::InternalError(
        absl::StrFormat("ZSTD_CCtx_refCDict: %s", ZSTD_getErrorName(ref)));
  }
  size_t n = ZSTD_compress2(context_, output.data(), output.size(), input.data(), input.size());
  if (ZSTD_isError(n)) {
    return absl::InternalError(absl::StrFormat("zstd compression of %d bytes failed: %s",
                                               input.size(), ZSTD_getErrorName(n)));
  }
  return n;
}

absl::StatusOr<ChunkDecoder> ChunkDecoder::Create() {
  ZSTD_DCtx* context = ZSTD_createDCtx();
  if (context == nullptr) return absl::ResourceExhaustedError("ZSTD_createDCtx failed");
  return ChunkDecoder(context);
}

ChunkDecoder::ChunkDecoder(ChunkDecoder&& other) noexcept : context_(other.context_) {
  other.context_ = nullptr;
}

ChunkDecoder& ChunkDecoder::operator=(ChunkDecoder&& other) noexcept {
  if (this != &other) {
    ZSTD_freeDCtx(context_);
    context_ = other.context_;
    other.context_ = nullptr;
  }
  return *this;
}

ChunkDecoder::~ChunkDecoder() { ZSTD_freeDCtx(context_); }

namespace {

absl::Status ChunkError(std::string_view file, const StoredChunk& chunk,
                        std::string_view reason) {
  return absl::DataLossError(
      absl::StrFormat("%s: chunk %d (%s, %d bytes stored at file offset %d): %s", file,
                      chunk.chunk_number, format::ChunkKindName(chunk.kind),
                      chunk.stored_length_bytes, chunk.file_offset_bytes, reason));
}

}  // namespace

DecodeError ChunkDecoder::DecodeQuietly(const StoredChunk& chunk,
                                        std::span<const uint8_t> stored, std::span<uint8_t> out,
                                        const DecompressionDictionary* dictionary,
                                        size_t* zstd_error) {
  if (out.size() != chunk.length_bytes || stored.size() != chunk.stored_length_bytes) {
    return DecodeError::kBadBuffers;
  }
  switch (chunk.kind) {
    case format::ChunkKind::kRaw:
      if (stored.data() != out.data()) std::memcpy(out.data(), stored.data(), out.size());
      break;
    case format::ChunkKind::kCompressed: {
      // Not every bit of a zstd frame affects its output, so damage to the stored bytes
      // is caught by their own checksum, before the decompressor parses them.
      if (Checksum64(stored) != chunk.stored_checksum) return DecodeError::kStoredChecksum;
      // The format allows exactly one frame. zstd's one-shot decoder would also decode
      // frames concatenated after it and skip skippable frames, and the dictionary id
      // check below only sees the first frame.
      if (ZSTD_findFrameCompressedSize(stored.data(), stored.size()) != stored.size()) {
        return DecodeError::kNotOneFrame;
      }
      const uint32_t expected_dictionary = dictionary != nullptr ? dictionary->id() : 0;
      if (ZSTD_getDictID_fromFrame(stored.data(), stored.size()) != expected_dictionary) {
        return DecodeError::kDictionaryMismatch;
      }
      size_t n = dictionary != nullptr
                     ? ZSTD_decompress_usingDDict(context_, out.data(), out.size(),
                                                  stored.data(), stored.size(),
                                                  dictionary->ddict())
                     : ZSTD_decompressDCtx(context_, out.data(), out.size(), stored.data(),
                                           stored.size());
      if (ZSTD_isError(n)) {
        if (zstd_error != nullptr) *zstd_error = n;
        return DecodeError::kZstd;
      }
      if (n != out.size()) return DecodeError::kWrongLength;
      break;
    }
    case format::ChunkKind::kZero:
    case format::ChunkKind::kDuplicate:
    case format::ChunkKind::kParent:
      return DecodeError::kNotStored;
  }
  if (Checksum64(out) != chunk.checksum) return DecodeError::kChecksum;
  return DecodeError::kNone;
}

absl::Status ChunkDecoder::Decode(const StoredChunk& chunk, std::span<const uint8_t> stored,
                                  std::span<uint8_t> out,
                                  const DecompressionDictionary* dictionary,
                                  std::string_view file) {
  size_t zstd_error = 0;
  switch (DecodeQuietly(chunk, stored, out, dictionary, &zstd_error)) {
    case DecodeError::kNone:
      return absl::OkStatus();
    case DecodeError::kBadBuffers:
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: chunk %d: decode buffers are %d/%d bytes, expected %d/%d", file,
          chunk.chunk_number, stored.size(), out.size(), chunk.stored_length_bytes,
          chunk.length_bytes));
    case DecodeError::kStoredChecksum:
      return ChunkError(file, chunk,
                        absl::StrFormat("stored bytes checksum mismatch: index says %016x, "
                                        "the bytes give %016x",
                                        chunk.stored_checksum, Checksum64(stored)));
    case DecodeError::kNotOneFrame:
      return ChunkError(file, chunk, "the stored bytes are not exactly one zstd frame");
    case DecodeError::kDictionaryMismatch:
      return ChunkError(
          file, chunk,
          absl::StrFormat("the frame needs dictionary id %d but the index points it at "
                          "dictionary slot %d (id %d)",
                          ZSTD_getDictID_fromFrame(stored.data(), stored.size()),
                          chunk.dictionary_slot % 256,
                          dictionary != nullptr ? dictionary->id() : 0));
    case DecodeError::kZstd:
      return ChunkError(file, chunk, absl::StrFormat("zstd: %s", ZSTD_getErrorName(zstd_error)));
    case DecodeError::kWrongLength:
      return ChunkError(file, chunk,
                        absl::StrFormat("decompressed to a length other than %d bytes",
                                        out.size()));
    case DecodeError::kChecksum:
      return ChunkError(file, chunk,
                        absl::StrFormat("checksum mismatch: index says %016x, the bytes give "
                                        "%016x",
                                        chunk.checksum, Checksum64(out)));
    case DecodeError::kNotStored:
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: chunk %d: %s chunks have no stored bytes to decode", file, chunk.chunk_number,
          format::ChunkKindName(chunk.kind)));
  }
  return absl::InternalError("unreachable");
}

bool IsAllZero(std::span<const uint8_t> bytes) {
  const uint8_t* p = bytes.data();
  size_t n = bytes.size();
  // OR 64 bytes at a time (the compiler vectorises this); stop early on the first
  // non-zero block since most non-zero chunks differ from zero in their first bytes.
  while (n >= 64) {
    uint64_t words[8];
    std::memcpy(words, p, 64);
    uint64_t acc = 0;
    for (uint64_t w : words) acc |= w;
    if (acc != 0) return false;
    p += 64;
    n -= 64;
  }
  for (size_t i = 0; i < n; ++i) {
    if (p[i] != 0) return false;
  }
  return true;
}

}  // namespace lazysnap
