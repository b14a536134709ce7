// Dictionary training: uniform chunk sampling, zstd's fastCover builder, and a held-out
// check that the dictionary pays for itself.
#include "snapshot_format/dictionary_trainer.h"

#define ZDICT_STATIC_LINKING_ONLY  // ZDICT_trainFromBuffer_fastCover
#include <zdict.h>
#include <zstd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <thread>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_format.h"
#include "base/checksum.h"
#include "base/status_macros.h"

namespace lazysnap {
namespace {

// Chunks of a stratum tried after a zero or repeated one before the stratum is given up.
constexpr int kAttemptsPerStratum = 4;
// Fewer non-zero chunks than this are not worth a dictionary (zstd's builder also needs a
// few samples to split into its own training and test sets).
constexpr size_t kMinSampleChunks = 16;
// One sampled chunk in this many is held out of training to evaluate the dictionary.
constexpr size_t kEvaluationStride = 8;
// zstd's fastCover builder works on 32-bit sample offsets.
constexpr uint64_t kMaxSampleBytes = 1ull << 30;
// The probe for far repeats (TrainDictionary): how much of the training sample it uses as
// raw content, and the projected gain over the small dictionary that makes a larger one
// worth training.
constexpr size_t kProbeContentBytes = 4 << 20;
constexpr uint64_t kProbeMinGainBytes = 512 << 10;
constexpr size_t kMaxChunkBytes = format::kMaxChunkSizeBytes;

// Mix64 is SplitMix64's finaliser: a fixed pseudo-random place in each stratum, so that
// sampling does not lock onto a period of the image (every 16th chunk a stack, say).
uint64_t Mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

std::string Bytes(uint64_t n) {
  if (n >= (10ull << 20)) return absl::StrFormat("%.1f MiB", n / 1048576.0);
  if (n >= (10ull << 10)) return absl::StrFormat("%.1f KiB", n / 1024.0);
  return absl::StrFormat("%d bytes", n);
}

}  // namespace

std::span<const uint8_t> ChunkSample::ChunkAt(size_t i) const {
  size_t offset = 0;
  for (size_t j = 0; j < i; ++j) offset += chunk_sizes[j];
  return {bytes.data() + offset, chunk_sizes[i]};
}

void ChunkSample::Add(std::span<const uint8_t> chunk) {
  bytes.insert(bytes.end(), chunk.begin(), chunk.end());
  chunk_sizes.push_back(chunk.size());
}

absl::StatusOr<ChunkSample> SampleChunks(ImageSource& source, uint32_t chunk_size_bytes,
                                         uint64_t sample_bytes) {
  if (!source.random_access()) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s: sampling chunks needs a source with random access (not a stream)", source.name()));
  }
  if (chunk_size_bytes == 0) return absl::InvalidArgumentError("chunk size 0");
  const std::vector<format::Region> regions = source.regions();
  ChunkSample sample;
  std::vector<uint64_t> first_chunk;  // per region, then the total
  first_chunk.reserve(regions.size() + 1);
  for (const format::Region& r : regions) {
    if (r.length_bytes == kLengthUntilEndOfStream) {
      return absl::FailedPreconditionError(
          absl::StrFormat("%s: a region of unknown length cannot be sampled", source.name()));
    }
    first_chunk.push_back(sample.image_chunks);
    sample.image_chunks += format::ChunkCountForLength(r.length_bytes, chunk_size_bytes);
    sample.image_bytes += r.length_bytes;
  }
  first_chunk.push_back(sample.image_chunks);
  const uint64_t total = sample.image_chunks;
  if (total == 0 || sample_bytes == 0) return sample;

  const uint64_t strata =
      std::min<uint64_t>(total, (sample_bytes + chunk_size_bytes - 1) / chunk_size_bytes);
  sample.bytes.reserve(std::min<uint64_t>(sample_bytes, strata * chunk_size_bytes));
  std::vector<uint8_t> buffer(chunk_size_bytes);
  absl::flat_hash_set<ContentHash128> seen;
  for (uint64_t s = 0; s < strata && sample.bytes.size() < sample_bytes; ++s) {
    // Strata of (nearly) equal numbers of chunks; 128-bit products do not overflow.
    const uint64_t lo = static_cast<uint64_t>(static_cast<unsigned __int128>(s) * total / strata);
    const uint64_t hi =
        static_cast<uint64_t>(static_cast<unsigned __int128>(s + 1) * total / strata);
    const uint64_t width = hi - lo;
    const uint64_t start = Mix64(s) % width;
    for (int attempt = 0; attempt < kAttemptsPerStratum && attempt < static_cast<int>(width);
         ++attempt) {
      const uint64_t chunk = lo + (start + attempt) % width;
      const size_t r = static_cast<size_t>(
          std::upper_bound(first_chunk.begin(), first_chunk.end() - 1, chunk) -
          first_chunk.begin() - 1);
      const format::Region& region = regions[r];
      const uint64_t region_offset = (chunk - first_chunk[r]) * chunk_size_bytes;
      const size_t length = static_cast<size_t>(
          std::min<uint64_t>(chunk_size_bytes, region.length_bytes - region_offset));
      const uint64_t image_offset = region.image_offset_bytes + region_offset;
      ++sample.chunks_examined;
      if (source.KnownZero(image_offset, length)) continue;
      std::span<uint8_t> bytes(buffer.data(), length);
      LAZYSNAP_ASSIGN_OR_RETURN(size_t got, source.Read(image_offset, bytes));
      if (got != length) {
        return absl::DataLossError(absl::StrFormat(
            "%s: the image ended at offset %d, inside region %d (offset %d, length %d)",
            source.name(), image_offset + got, r, region.image_offset_bytes,
            region.length_bytes));
      }
      if (IsAllZero(bytes)) continue;
      if (!seen.insert(HashContent128(bytes)).second) continue;
      sample.Add(bytes);
      break;
    }
  }
  return sample;
}

absl::StatusOr<std::shared_ptr<const CompressionDictionary>> BuildDictionary(
    const ChunkSample& sample, size_t dictionary_size_bytes, int level, int threads) {
  if (dictionary_size_bytes < kMinDictionarySizeBytes ||
      dictionary_size_bytes > format::kMaxDictionarySizeBytes) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "dictionary size %d is not in [%d, %d]", dictionary_size_bytes, kMinDictionarySizeBytes,
        format::kMaxDictionarySizeBytes));
  }
  if (sample.bytes.size() > kMaxSampleBytes) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "a dictionary sample of %d bytes is larger than the limit %d", sample.bytes.size(),
        kMaxSampleBytes));
  }
  if (threads <= 0) threads = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  std::vector<uint8_t> dictionary(dictionary_size_bytes);
  // Fixed fastCover parameters rather than ZDICT_optimizeTrainFromBuffer_fastCover: on
  // process memory the optimiser sometimes settles on a dictionary of a few hundred
  // bytes that scores best on its own small test split and saves nothing, and it takes
  // four times as long (bench/results/dictionary.md). k = 1024, d = 8 did as well as the
  // optimiser's best on every image measured.
  ZDICT_fastCover_params_t params = {};
  // zstd refuses a segment (k) longer than the dictionary: small dictionaries get
  // segments of their own size.
  params.k = static_cast<unsigned>(std::min<size_t>(1024, dictionary_size_bytes));
  params.d = 8;
  params.f = 20;
  params.accel = 1;
  params.nbThreads = static_cast<unsigned>(threads);
  params.zParams.compressionLevel = level;  // shapes the dictionary's entropy tables
  std::vector<size_t> sizes(sample.chunk_sizes.begin(), sample.chunk_sizes.end());
  size_t n = ZDICT_trainFromBuffer_fastCover(dictionary.data(), dictionary.size(),
                                             sample.bytes.data(), sizes.data(),
                                             static_cast<unsigned>(sizes.size()), params);
  if (ZDICT_isError(n)) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "zstd could not train a dictionary on %d chunks (%s): %s", sample.count(),
        Bytes(sample.bytes.size()), ZDICT_getErrorName(n)));
  }
  dictionary.resize(n);
  return CompressionDictionary::Create(dictionary, level);
}

absl::StatusOr<std::shared_ptr<const CompressionDictionary>> ShrinkDictionary(
    const CompressionDictionary& dictionary, size_t content_bytes, const ChunkSample& sample,
    int level) {
  std::span<const uint8_t> bytes = dictionary.bytes();
  const size_t header = ZDICT_getDictHeaderSize(bytes.data(), bytes.size());
  if (ZDICT_isError(header) || header >= bytes.size()) {
    return absl::FailedPreconditionError("the dictionary has no content to shrink");
  }
  content_bytes = std::min(content_bytes, bytes.size() - header);
  std::span<const uint8_t> content = bytes.subspan(bytes.size() - content_bytes);
  // The entropy tables come from compressing the sample with the new content; a quarter
  // of the sample's chunks give the same tables at a quarter of the cost.
  ChunkSample tables;
  size_t offset = 0;
  for (size_t i = 0; i < sample.count(); ++i) {
    if (i % 4 == 0) tables.Add({sample.bytes.data() + offset, sample.chunk_sizes[i]});
    offset += sample.chunk_sizes[i];
  }
  std::vector<uint8_t> out(content_bytes + (64 << 10));
  ZDICT_params_t params = {};
  params.compressionLevel = level;
  std::vector<size_t> sizes(tables.chunk_sizes.begin(), tables.chunk_sizes.end());
  const size_t n = ZDICT_finalizeDictionary(out.data(), out.size(), content.data(),
                                            content.size(), tables.bytes.data(), sizes.data(),
                                            static_cast<unsigned>(sizes.size()), params);
  if (ZDICT_isError(n)) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "zstd could not finalize a %s dictionary: %s", Bytes(content_bytes),
        ZDICT_getErrorName(n)));
  }
  out.resize(n);
  return CompressionDictionary::Create(out, level);
}

absl::StatusOr<uint64_t> EstimateStoredBytes(const ChunkSample& sample, int level,
                                             const CompressionDictionary* dictionary) {
  LAZYSNAP_ASSIGN_OR_RETURN(ChunkCompressor compressor, ChunkCompressor::Create(level));
  size_t largest = 0;
  for (size_t size : sample.chunk_sizes) largest = std::max(largest, size);
  std::vector<uint8_t> output(MaxCompressedSize(largest));
  uint64_t stored = 0;
  size_t offset = 0;
  for (size_t size : sample.chunk_sizes) {
    std::span<const uint8_t> chunk(sample.bytes.data() + offset, size);
    offset += size;
    LAZYSNAP_ASSIGN_OR_RETURN(size_t n, compressor.Compress(chunk, output, dictionary));
    stored += StoresRaw(n, size) ? size : n;
  }
  return stored;
}

absl::StatusOr<TrainedDictionary> TrainDictionary(ImageSource& source, uint32_t chunk_size_bytes,
                                                  int level,
                                                  const DictionaryTrainingOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  TrainedDictionary result;
  auto finish = [&](std::string note) -> absl::StatusOr<TrainedDictionary> {
    if (options.required && result.dictionary == nullptr) {
      return absl::FailedPreconditionError(absl::StrFormat("no dictionary: %s", note));
    }
    result.note = std::move(note);
    result.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return result;
  };
  if (options.dictionary_size_bytes == 0) return finish("no dictionary was asked for");
  if (options.dictionary_size_bytes < kMinDictionarySizeBytes ||
      options.dictionary_size_bytes > format::kMaxDictionarySizeBytes) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "dictionary size %d is not 0 or in [%d, %d]", options.dictionary_size_bytes,
        kMinDictionarySizeBytes, format::kMaxDictionarySizeBytes));
  }
  if (options.sample_bytes == 0 || options.sample_bytes > kMaxSampleBytes) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "dictionary sample size %d is not in [1, %d]", options.sample_bytes, kMaxSampleBytes));
  }
  if (!source.random_access()) {
    return finish(
        "the image is a stream: a dictionary is trained only on a source that can be sampled "
        "before it is written (a file, a device, a process)");
  }
  LAZYSNAP_ASSIGN_OR_RETURN(ChunkSample sample,
                            SampleChunks(source, chunk_size_bytes, options.sample_bytes));
  result.sample_chunks = sample.count();
  result.sample_bytes = sample.bytes.size();
  if (sample.count() < kMinSampleChunks) {
    return finish(absl::StrFormat(
        "too little non-zero data to train a dictionary on (%d chunks sampled, %d needed)",
        sample.count(), kMinSampleChunks));
  }

  ChunkSample training;
  ChunkSample evaluation;
  size_t offset = 0;
  for (size_t i = 0; i < sample.count(); ++i) {
    std::span<const uint8_t> chunk(sample.bytes.data() + offset, sample.chunk_sizes[i]);
    offset += sample.chunk_sizes[i];
    (i % kEvaluationStride == kEvaluationStride - 1 ? evaluation : training).Add(chunk);
  }
  result.evaluation_chunks = evaluation.count();
  result.evaluation_bytes = evaluation.bytes.size();
  LAZYSNAP_ASSIGN_OR_RETURN(result.evaluation_stored_without,
                            EstimateStoredBytes(evaluation, level, nullptr));
  // The share of the image the writer will compress: sampled chunks that were neither
  // zero nor repeats, out of all chunks looked at.
  const double compressed_share =
      static_cast<double>(sample.count()) / static_cast<double>(sample.chunks_examined);
  // Project projects bytes saved on the evaluation sample onto the whole image.
  auto project = [&](double saved_bytes) {
    return saved_bytes / static_cast<double>(result.evaluation_bytes) * compressed_share *
           static_cast<double>(sample.image_bytes);
  };

  std::vector<std::shared_ptr<const CompressionDictionary>> candidates;
  auto evaluate = [&](std::shared_ptr<const CompressionDictionary> d) -> absl::Status {
    DictionaryCandidate c;
    // What the dictionary costs in the file: compressed when large (format 1.2).
    LAZYSNAP_ASSIGN_OR_RETURN(DictionaryPayload payload, ChooseDictionaryPayload(d->bytes()));
    c.dictionary_bytes = d->bytes().size();
    c.stored_dictionary_bytes = payload.bytes.size();
    LAZYSNAP_ASSIGN_OR_RETURN(c.evaluation_stored_with,
                              EstimateStoredBytes(evaluation, level, d.get()));
    c.projected_net_saving_bytes =
        static_cast<int64_t>(project(static_cast<double>(result.evaluation_stored_without) -
                                     static_cast<double>(c.evaluation_stored_with))) -
        static_cast<int64_t>(c.stored_dictionary_bytes);
    result.candidates.push_back(c);
    candidates.push_back(std::move(d));
    return absl::OkStatus();
  };

  // The small dictionary. When larger ones may follow it is trained on every other
  // training chunk: it does not need more, and training time grows with the sample.
  const size_t small_size =
      std::min<size_t>(options.dictionary_size_bytes, kMinCandidateDictionarySizeBytes);
  const bool larger_allowed = options.dictionary_size_bytes > kMinCandidateDictionarySizeBytes;
  ChunkSample small_training;
  if (larger_allowed) {
    size_t offset = 0;
    for (size_t i = 0; i < training.count(); ++i) {
      if (i % 2 == 0) small_training.Add({training.bytes.data() + offset, training.chunk_sizes[i]});
      offset += training.chunk_sizes[i];
    }
  }
  auto small = BuildDictionary(larger_allowed ? small_training : training, small_size, level,
                               options.threads);
  if (absl::IsFailedPrecondition(small.status())) {
    return finish(std::string(small.status().message()));
  }
  if (!small.ok()) return small.status();
  LAZYSNAP_RETURN_IF_ERROR(evaluate(std::move(*small)));

  // Larger dictionaries pay only on images that repeat content farther apart than a small
  // dictionary can hold, and training them costs several times more. A cheap probe says
  // whether the image is one: the evaluation chunks compressed with (up to) the last
  // kProbeContentBytes of the training sample as raw content, which is roughly what the
  // largest dictionary could offer. Below kProbeMinGainBytes of projected gain over the
  // small dictionary no larger one is trained.
  if (larger_allowed && training.bytes.size() >= 4 * kMinCandidateDictionarySizeBytes) {
    // Training chunks spread over the whole sample (so over the whole image, whose
    // regions can hold very different data), up to kProbeContentBytes.
    const size_t stride =
        std::max<size_t>(1, (training.bytes.size() + kProbeContentBytes - 1) / kProbeContentBytes);
    std::vector<uint8_t> content;
    content.reserve(std::min<size_t>(training.bytes.size(), kProbeContentBytes) + kMaxChunkBytes);
    size_t offset = 0;
    for (size_t i = 0; i < training.count(); ++i) {
      if (i % stride == 0) {
        content.insert(content.end(), training.bytes.begin() + offset,
                       training.bytes.begin() + offset + training.chunk_sizes[i]);
      }
      offset += training.chunk_sizes[i];
    }
    LAZYSNAP_ASSIGN_OR_RETURN(std::shared_ptr<const CompressionDictionary> probe,
                              CompressionDictionary::CreateFromContent(content));
    LAZYSNAP_ASSIGN_OR_RETURN(result.probe_stored_with,
                              EstimateStoredBytes(evaluation, level, probe.get()));
    const double probe_gain =
        project(static_cast<double>(result.candidates[0].evaluation_stored_with) -
                static_cast<double>(result.probe_stored_with));
    result.probe_projected_gain_bytes = probe_gain > 0 ? static_cast<uint64_t>(probe_gain) : 0;
  }
  if (result.probe_projected_gain_bytes > kProbeMinGainBytes) {
    // A dictionary larger than a quarter of what it is trained on is mostly the sample
    // itself: the largest size is capped there.
    const size_t largest =
        std::min<size_t>(options.dictionary_size_bytes,
                         std::max<size_t>(training.bytes.size() / 4, 4 * small_size));
    auto large = BuildDictionary(training, largest, level, options.threads);
    if (large.ok()) {
      // Its tails, from four times the small size up, fourfold, are candidates too.
      for (size_t size = 4 * small_size; size + size / 2 <= (*large)->bytes().size();
           size *= 4) {
        auto tail = ShrinkDictionary(**large, size, training, level);
        if (absl::IsFailedPrecondition(tail.status())) continue;
        if (!tail.ok()) return tail.status();
        LAZYSNAP_RETURN_IF_ERROR(evaluate(std::move(*tail)));
      }
      LAZYSNAP_RETURN_IF_ERROR(evaluate(std::move(*large)));
    } else if (!absl::IsFailedPrecondition(large.status())) {
      return large.status();
    }
  }
  size_t best = 0;
  for (size_t i = 1; i < result.candidates.size(); ++i) {
    if (result.candidates[i].projected_net_saving_bytes >
        result.candidates[best].projected_net_saving_bytes) {
      best = i;
    }
  }
  // Without the held-out check ("always"), the largest candidate is used.
  if (!options.only_if_it_pays) best = candidates.size() - 1;
  const DictionaryCandidate& chosen = result.candidates[best];
  result.evaluation_stored_with = chosen.evaluation_stored_with;
  const int64_t projected = chosen.projected_net_saving_bytes +
                            static_cast<int64_t>(chosen.stored_dictionary_bytes);
  result.projected_saving_bytes = projected > 0 ? static_cast<uint64_t>(projected) : 0;
  if (options.only_if_it_pays && chosen.projected_net_saving_bytes <= 0) {
    return finish(absl::StrFormat(
        "a %s dictionary would save about %s on this image, not more than its own size",
        Bytes(chosen.dictionary_bytes), Bytes(result.projected_saving_bytes)));
  }
  result.dictionary = std::move(candidates[best]);
  std::string tried;
  for (const DictionaryCandidate& c : result.candidates) {
    absl::StrAppendFormat(&tried, "%s%s (%s%s)", tried.empty() ? "" : ", ",
                          Bytes(c.dictionary_bytes), c.projected_net_saving_bytes < 0 ? "-" : "+",
                          Bytes(static_cast<uint64_t>(std::abs(c.projected_net_saving_bytes))));
  }
  return finish(absl::StrFormat(
      "dictionary sizes tried, with the projected saving net of their size: %s; far-repeat "
      "probe: %s", tried,
      result.probe_stored_with == 0
          ? std::string("not run")
          : absl::StrFormat("+%s over the smallest", Bytes(result.probe_projected_gain_bytes))));
}

}  // namespace lazysnap
