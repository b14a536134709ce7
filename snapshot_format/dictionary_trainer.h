// Dictionary training: builds the zstd dictionary a snapshot's chunks are compressed with,
// from a sample of the image's own chunks.
//
// Chunks are compressed one by one so that any chunk decodes alone, which throws away the
// redundancy between chunks (object headers, pointers into the same heap, repeated
// strings). A dictionary trained on the image puts much of it back: every chunk is
// compressed as if the dictionary's content came right before it. The trainer reads whole
// chunks spread uniformly over the image (skipping zero and repeated chunks, which the
// writer stores as nothing), trains on most of them with zstd's dictionary builder
// (fastCover), and measures the rest with and without the result: a dictionary that would
// not save more bytes than its own size is not used.
//
// The right size depends on the image: a heap that repeats content hundreds of KiB apart
// (rendered pages from a few hundred templates, say) needs a dictionary that holds all of
// it, while on most heaps anything above 64 KiB costs more file bytes than it saves
// (bench/results/corpus.md). So the trainer builds one dictionary of the largest size
// allowed and also tries its smaller tails (fastCover puts its best segments last), and
// keeps the candidate whose projected saving exceeds its stored size by the most.
#ifndef LAZYSNAP_SNAPSHOT_FORMAT_DICTIONARY_TRAINER_H_
#define LAZYSNAP_SNAPSHOT_FORMAT_DICTIONARY_TRAINER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "snapshot_format/chunk_codec.h"
#include "snapshot_format/image_source.h"

namespace lazysnap {

// Defaults, chosen by measurement (bench/results/dictionary.md, bench/results/corpus.md).
// kDefaultDictionarySizeBytes is the largest candidate; the smallest is
// kMinCandidateDictionarySizeBytes, and every fourfold size between them is tried.
inline constexpr size_t kDefaultDictionarySizeBytes = 2 << 20;
inline constexpr size_t kMinCandidateDictionarySizeBytes = 64 << 10;
inline constexpr uint64_t kDefaultDictionarySampleBytes = 16 << 20;
// zstd refuses dictionaries smaller than this (ZDICT_DICTSIZE_MIN).
inline constexpr size_t kMinDictionarySizeBytes = 256;

struct DictionaryTrainingOptions {
  // dictionary_size_bytes: the largest dictionary to build, at most
  // format::kMaxDictionarySizeBytes; 0 means no dictionary. Smaller candidates (from
  // kMinCandidateDictionarySizeBytes up, fourfold) are tried too; a size at or below
  // kMinCandidateDictionarySizeBytes is the only candidate.
  size_t dictionary_size_bytes = kDefaultDictionarySizeBytes;
  // sample_bytes: how many image bytes (whole non-zero chunks) are read and trained on.
  // Training time grows with it (about 0.2 to 0.4 s for the default on one core), and it
  // counts in the writer's time.
  uint64_t sample_bytes = kDefaultDictionarySampleBytes;
  // threads for zstd's dictionary builder; 0 means one per online CPU.
  int threads = 0;
  // only_if_it_pays: return the dictionary only when the held-out sample says it saves
  // more than its own size. False keeps any dictionary zstd could train (measurements).
  bool only_if_it_pays = true;
  // required: no dictionary is an error (FailedPrecondition with the reason) rather than
  // a note, for a caller that was told to use one (lazysnap create --dictionary-always).
  bool required = false;
};

// ChunkSample: whole chunks read from an image, back to back.
struct ChunkSample {
  std::vector<uint8_t> bytes;
  std::vector<size_t> chunk_sizes;  // one per chunk, in sample order
  uint64_t chunks_examined = 0;     // chunks read, including skipped zero and repeated ones
  uint64_t image_chunks = 0;        // chunks in the whole image
  uint64_t image_bytes = 0;         // bytes in the whole image (sum of region lengths)

  size_t count() const { return chunk_sizes.size(); }
  // ChunkAt returns chunk `i` (O(i): sample code walks the chunks in order instead).
  std::span<const uint8_t> ChunkAt(size_t i) const;
  // Add appends one chunk.
  void Add(std::span<const uint8_t> chunk);
};

// SampleChunks reads up to `sample_bytes` of whole chunks of `chunk_size_bytes` (the
// writer's chunk grid over `source`'s regions) spread uniformly over the image: one from
// each of sample_bytes / chunk_size_bytes equal strata of the chunk numbers, at a fixed
// pseudo-random place in the stratum. Zero chunks and chunks equal to one already taken
// are skipped (the next chunk of the stratum is tried, a few times). Deterministic for
// a given image. FailedPrecondition when `source` has no random access; errors from
// the source.
absl::StatusOr<ChunkSample> SampleChunks(ImageSource& source, uint32_t chunk_size_bytes,
                                         uint64_t sample_bytes);

// BuildDictionary trains a dictionary of at most `dictionary_size_bytes` on `sample` with
// zstd's fastCover builder (fixed parameters, `threads` at a time; 0: one per CPU) and
// prepares it for compression at `level`. FailedPrecondition (with zstd's reason) when
// the sample is too small or too uniform to train on; InvalidArgument for a size outside
// [kMinDictionarySizeBytes, format::kMaxDictionarySizeBytes].
absl::StatusOr<std::shared_ptr<const CompressionDictionary>> BuildDictionary(
    const ChunkSample& sample, size_t dictionary_size_bytes, int level, int threads);

// ShrinkDictionary makes a dictionary of the last `content_bytes` of `dictionary`'s content
// (where fastCover puts its best segments), with entropy tables computed on `sample`, and
// prepares it for `level`. FailedPrecondition when zstd cannot finalize it.
absl::StatusOr<std::shared_ptr<const CompressionDictionary>> ShrinkDictionary(
    const CompressionDictionary& dictionary, size_t content_bytes, const ChunkSample& sample,
    int level);

// EstimateStoredBytes compresses every chunk of `sample` at `level` with `dictionary`
// (nullptr: none) and returns the bytes the writer would store for them (a chunk that
// does not compress well enough counts at its full length, see StoresRaw).
absl::StatusOr<uint64_t> EstimateStoredBytes(const ChunkSample& sample, int level,
                                             const CompressionDictionary* dictionary);

// DictionaryCandidate: one size TrainDictionary tried.
struct DictionaryCandidate {
  uint64_t dictionary_bytes = 0;
  uint64_t stored_dictionary_bytes = 0;  // in the file (ChooseDictionaryPayload)
  uint64_t evaluation_stored_with = 0;  // the evaluation sample compressed with it
  int64_t projected_net_saving_bytes = 0;  // projected saving minus the stored size
};

// TrainedDictionary: the outcome of TrainDictionary.
struct TrainedDictionary {
  // dictionary: nullptr when none is worth using; `note` then says why.
  std::shared_ptr<const CompressionDictionary> dictionary;
  std::string note;
  uint64_t sample_chunks = 0;      // non-zero chunks read (training + evaluation)
  uint64_t sample_bytes = 0;
  // The evaluation part of the sample (chunks held out of training): its bytes, and what
  // the writer would store for it without and with the dictionary.
  uint64_t evaluation_chunks = 0;
  uint64_t evaluation_bytes = 0;
  uint64_t evaluation_stored_without = 0;
  uint64_t evaluation_stored_with = 0;
  // Projected saving over the whole image: evaluation saving scaled by the share of the
  // image that is non-zero. The dictionary is used when this exceeds its size.
  uint64_t projected_saving_bytes = 0;
  // Every size tried, smallest first; the chosen one has the largest net saving.
  std::vector<DictionaryCandidate> candidates;
  // The probe for far repeats: the evaluation sample compressed with the training sample
  // as raw content (0: not probed), and its projected gain over the small dictionary.
  // Larger dictionaries are trained only when that gain is large.
  uint64_t probe_stored_with = 0;
  uint64_t probe_projected_gain_bytes = 0;
  double seconds = 0;
};

// TrainDictionary samples `source` (SampleChunks), trains on seven in eight of the
// sampled chunks (BuildDictionary), and evaluates each candidate size (the dictionary and
// its ShrinkDictionary tails) on the eighth. It returns no dictionary,
// with a note, when options.dictionary_size_bytes is 0, when the source is a stream (no
// random access: the writer reads a stream once, in order), when the image has too little
// non-zero data to train on, or when the dictionary would not pay for itself; with
// options.required these are FailedPrecondition errors instead. InvalidArgument for bad
// options; errors from the source.
absl::StatusOr<TrainedDictionary> TrainDictionary(ImageSource& source, uint32_t chunk_size_bytes,
                                                  int level,
                                                  const DictionaryTrainingOptions& options);

}  // namespace lazysnap

#endif  // LAZYSNAP_SNAPSHOT_FORMAT_DICTIONARY_TRAINER_H_
