// WriteSnapshot: a three-stage pipeline.
//
//   reader (calling thread) --batches--> compressors (N threads) --batches--> output thread
//
// The reader fills batches of consecutive chunks from the source. Compressors classify
// each chunk (zero, or checksummed and hashed) and compress it, skipping chunks whose
// content another compressor has already claimed. The output thread takes batches in
// image order, decides duplicates against what it has already written (so a duplicate
// always names an earlier chunk), appends stored bytes and builds the index.
#include "snapshot_format/snapshot_writer.h"

#include <sys/random.h>
#include <unistd.h>
#define ZSTD_STATIC_LINKING_ONLY  // ZSTD_estimateCCtxSize_usingCParams
#include <zstd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_format.h"
#include "base/atomic_file.h"
#include "base/byte_order.h"
#include "base/checksum.h"
#include "base/file_io.h"
#include "base/status_macros.h"
#include "snapshot_format/format.h"

namespace lazysnap {
namespace {

using format::ChunkKind;

// Batches carry about this many image bytes (at least one chunk).
constexpr uint64_t kBatchTargetBytes = 4 << 20;

// BatchChunks: chunks per batch; BatchCount: batches in the pipeline (two per compressor
// keep every stage busy).
uint32_t BatchChunks(uint32_t chunk_size) {
  return static_cast<uint32_t>(std::max<uint64_t>(1, kBatchTargetBytes / chunk_size));
}
size_t BatchCount(int threads) { return 2 * static_cast<size_t>(threads) + 2; }
// The output thread writes the file in pieces of this size.
constexpr size_t kOutputBufferBytes = 4 << 20;

struct DedupKey {
  ContentHash128 hash;
  uint32_t length_bytes = 0;
  friend bool operator==(const DedupKey&, const DedupKey&) = default;
  template <typename H>
  friend H AbslHashValue(H state, const DedupKey& key) {
    return H::combine(std::move(state), key.hash, key.length_bytes);
  }
};

struct ChunkJob {
  uint32_t length_bytes = 0;
  // After the compressor: kZero, kCompressed, kRaw, kParent (unchanged from the parent's
  // chunk `parent_chunk`), or kDuplicate meaning "not compressed because another chunk
  // claimed the same content".
  ChunkKind kind = ChunkKind::kZero;
  uint64_t parent_chunk = 0;
  uint64_t checksum = 0;
  DedupKey key;
  uint32_t compressed_bytes = 0;
  uint64_t stored_checksum = 0;
};

struct Batch {
  uint64_t sequence = 0;
  bool known_zero = false;  // a hole of the source: not read, every chunk is zero
  uint64_t image_offset_bytes = 0;  // of the first chunk; the batch lies in one region
  uint32_t chunk_count = 0;
  uint64_t input_bytes = 0;
  std::unique_ptr<uint8_t[]> input;
  std::unique_ptr<uint8_t[]> output;  // chunk i's frame at i * output_slot_bytes
  std::vector<ChunkJob> jobs;
};

// Pipeline holds the queues between the stages and the first error any stage hit.
class Pipeline {
 public:
  explicit Pipeline(size_t batch_count) {
    for (size_t i = 0; i < batch_count; ++i) free_.push_back(std::make_unique<Batch>());
  }

  // Fail records `status` (the first one wins) and wakes every stage so it can stop.
  void Fail(absl::Status status) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (error_.ok()) error_ = std::move(status);
    changed_.notify_all();
  }

  absl::Status error() {
    std::lock_guard<std::mutex> lock(mutex_);
    return error_;
  }

  // TakeFree returns an unused batch, or nullptr after a failure.
  std::unique_ptr<Batch> TakeFree() {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] { return !free_.empty() || !error_.ok(); });
    if (!error_.ok()) return nullptr;
    std::unique_ptr<Batch> batch = std::move(free_.front());
    free_.pop_front();
    return batch;
  }

  void ReturnFree(std::unique_ptr<Batch> batch) {
    std::lock_guard<std::mutex> lock(mutex_);
    free_.push_back(std::move(batch));
    changed_.notify_all();
  }

  void PushWork(std::unique_ptr<Batch> batch) {
    std::lock_guard<std::mutex> lock(mutex_);
    work_.push_back(std::move(batch));
    ++batches_read_;
    changed_.notify_all();
  }

  // FinishReading says no more batches will be pushed.
  void FinishReading() {
    std::lock_guard<std::mutex> lock(mutex_);
    reading_done_ = true;
    changed_.notify_all();
  }

  // TakeWork returns the next batch to compress, or nullptr when there is none left.
  std::unique_ptr<Batch> TakeWork() {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] { return !work_.empty() || reading_done_ || !error_.ok(); });
    if (!error_.ok() || work_.empty()) return nullptr;
    std::unique_ptr<Batch> batch = std::move(work_.front());
    work_.pop_front();
    return batch;
  }

  void PushCompressed(std::unique_ptr<Batch> batch) {
    std::lock_guard<std::mutex> lock(mutex_);
    uint64_t sequence = batch->sequence;
    compressed_.emplace(sequence, std::move(batch));
    changed_.notify_all();
  }

  // TakeCompressed returns batch `sequence` once it is compressed, or nullptr when all
  // batches have been taken or a stage failed.
  std::unique_ptr<Batch> TakeCompressed(uint64_t sequence) {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] {
      return compressed_.count(sequence) != 0 || (reading_done_ && sequence >= batches_read_) ||
             !error_.ok();
    });
    auto it = compressed_.find(sequence);
    if (!error_.ok() || it == compressed_.end()) return nullptr;
    std::unique_ptr<Batch> batch = std::move(it->second);
    compressed_.erase(it);
    return batch;
  }

  // Claim returns true when `key` had not been claimed yet (the caller compresses it).
  bool Claim(const DedupKey& key) {
    std::lock_guard<std::mutex> lock(claims_mutex_);
    return claims_.insert(key).second;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  absl::Status error_;
  std::deque<std::unique_ptr<Batch>> free_;
  std::deque<std::unique_ptr<Batch>> work_;
  std::map<uint64_t, std::unique_ptr<Batch>> compressed_;
  uint64_t batches_read_ = 0;
  bool reading_done_ = false;

  std::mutex claims_mutex_;
  absl::flat_hash_set<DedupKey> claims_;
};

// OutputFile appends to the snapshot file through a large buffer.
class OutputFile {
 public:
  OutputFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {
    buffer_.reserve(kOutputBufferBytes);
  }

  uint64_t position() const { return position_; }

  absl::Status Append(std::span<const uint8_t> bytes) {
    if (buffer_.size() + bytes.size() > kOutputBufferBytes) LAZYSNAP_RETURN_IF_ERROR(Flush());
    if (bytes.size() >= kOutputBufferBytes) {
      LAZYSNAP_RETURN_IF_ERROR(WriteFull(fd_, bytes, path_));
    } else {
      buffer_.insert(buffer_.end(), bytes.begin(), bytes.end());
    }
    position_ += bytes.size();
    return absl::OkStatus();
  }

  absl::Status Flush() {
    if (buffer_.empty()) return absl::OkStatus();
    absl::Status status = WriteFull(fd_, buffer_, path_);
    buffer_.clear();
    return status;
  }

 private:
  int fd_;
  std::string path_;
  std::vector<uint8_t> buffer_;
  uint64_t position_ = 0;
};

absl::Status ValidateOptions(const WriterOptions& options, uint32_t page_size) {
  const uint32_t chunk = options.chunk_size_bytes;
  if (!format::IsPowerOfTwo(chunk) || chunk < format::kMinChunkSizeBytes ||
      chunk > format::kMaxChunkSizeBytes) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "chunk size %d is not a power of two between 4 KiB and 4 MiB", chunk));
  }
  if (!format::IsPowerOfTwo(page_size) || page_size < format::kMinPageSizeBytes ||
      page_size > chunk) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "page size %d must be a power of two, at least 4 KiB and at most the chunk size %d",
        page_size, chunk));
  }
  if (options.threads < 0 || options.threads > 1024) {
    return absl::InvalidArgumentError(
        absl::StrFormat("thread count %d is not in [0, 1024]", options.threads));
  }
  return ChunkCompressor::Create(options.compression_level).status();
}

absl::Status ValidateRegions(const std::vector<format::Region>& regions, uint32_t page_size,
                             std::string_view source) {
  uint64_t previous_end = 0;
  for (size_t i = 0; i < regions.size(); ++i) {
    const format::Region& r = regions[i];
    const bool stream = r.length_bytes == kLengthUntilEndOfStream;
    if (stream && i + 1 != regions.size()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: only the last region may extend to the end of the stream", source));
    }
    uint64_t end = r.image_offset_bytes + r.length_bytes;
    if (r.length_bytes == 0 || (!stream && end < r.image_offset_bytes)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: region %d (offset %d, length %d) is empty or overflows", source, i,
          r.image_offset_bytes, r.length_bytes));
    }
    if (r.image_offset_bytes % page_size != 0) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: region %d offset %d is not a multiple of the page size %d", source, i,
          r.image_offset_bytes, page_size));
    }
    if (r.image_offset_bytes < previous_end) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: region %d (offset %d) overlaps or precedes region %d", source, i,
          r.image_offset_bytes, i - 1));
    }
    previous_end = end;
  }
  return absl::OkStatus();
}

// SetStoredForm decides raw or compressed for a chunk compressed to `compressed_bytes`
// at `output`, and records the stored bytes' checksum.
void SetStoredForm(ChunkJob& job, size_t compressed_bytes, const uint8_t* output) {
  if (StoresRaw(compressed_bytes, job.length_bytes)) {
    job.kind = ChunkKind::kRaw;
    job.stored_checksum = job.checksum;
  } else {
    job.kind = ChunkKind::kCompressed;
    job.compressed_bytes = static_cast<uint32_t>(compressed_bytes);
    job.stored_checksum = Checksum64({output, compressed_bytes});
  }
}

// ParentChunks finds, for a chunk of the image being written, the parent's chunk at the
// same image offset with the same length, and says whether it holds the same bytes.
class ParentChunks {
 public:
  explicit ParentChunks(const SnapshotReader* parent) : parent_(parent) {}

  // Unchanged returns the number of the parent's chunk at `image_offset_bytes` when it
  // has `length_bytes` and `checksum` (then the chunk need not be stored again), nullopt
  // when there is no such chunk or it differs; DataLoss from a corrupt parent index.
  absl::StatusOr<std::optional<uint64_t>> Unchanged(uint64_t image_offset_bytes,
                                                    uint32_t length_bytes,
                                                    uint64_t checksum) const {
    if (parent_ == nullptr) return std::nullopt;
    std::span<const format::Region> regions = parent_->regions();
    // The last region starting at or before the offset.
    auto it = std::upper_bound(regions.begin(), regions.end(), image_offset_bytes,
                               [](uint64_t offset, const format::Region& r) {
                                 return offset < r.image_offset_bytes;
                               });
    if (it == regions.begin()) return std::nullopt;
    --it;
    const uint64_t region_offset = image_offset_bytes - it->image_offset_bytes;
    const uint32_t chunk_size = parent_->chunk_size_bytes();
    if (region_offset >= it->length_bytes || region_offset % chunk_size != 0) {
      return std::nullopt;
    }
    const uint32_t region_index = static_cast<uint32_t>(it - regions.begin());
    const uint64_t chunk = parent_->region_first_chunk(region_index) + region_offset / chunk_size;
    LAZYSNAP_ASSIGN_OR_RETURN(const ChunkLocation location, parent_->Locate(chunk));
    if (location.stored.kind == ChunkKind::kZero || location.stored.length_bytes != length_bytes ||
        location.stored.checksum != checksum) {
      return std::nullopt;
    }
    return chunk;
  }

 private:
  const SnapshotReader* parent_;
};

// Compressor stage: classifies and compresses the chunks of each batch.
void CompressBatches(Pipeline& pipeline, int level, uint32_t chunk_size, size_t slot_bytes,
                     const CompressionDictionary* dictionary, const ParentChunks& parent) {
  auto compressor = ChunkCompressor::Create(level);
  if (!compressor.ok()) return pipeline.Fail(compressor.status());
  while (std::unique_ptr<Batch> batch = pipeline.TakeWork()) {
    for (uint32_t i = 0; i < batch->chunk_count; ++i) {
      ChunkJob& job = batch->jobs[i];
      std::span<const uint8_t> input(batch->input.get() + static_cast<uint64_t>(i) * chunk_size,
                                     job.length_bytes);
      if (batch->known_zero || IsAllZero(input)) {
        job.kind = ChunkKind::kZero;
        continue;
      }
      job.checksum = Checksum64(input);
      auto unchanged = parent.Unchanged(
          batch->image_offset_bytes + static_cast<uint64_t>(i) * chunk_size, job.length_bytes,
          job.checksum);
      if (!unchanged.ok()) return pipeline.Fail(unchanged.status());
      if (unchanged->has_value()) {
        job.kind = ChunkKind::kParent;
        job.parent_chunk = **unchanged;
        continue;
      }
      job.key = DedupKey{HashContent128(input), job.length_bytes};
      if (!pipeline.Claim(job.key)) {
        job.kind = ChunkKind::kDuplicate;
        continue;
      }
      auto n = compressor->Compress(
          input, {batch->output.get() + static_cast<uint64_t>(i) * slot_bytes, slot_bytes},
          dictionary);
      if (!n.ok()) return pipeline.Fail(n.status());
      SetStoredForm(job, *n, batch->output.get() + static_cast<uint64_t>(i) * slot_bytes);
    }
    pipeline.PushCompressed(std::move(batch));
  }
}

// Output stage state: what has been written so far.
struct OutputState {
  std::vector<uint8_t> index;  // encoded entries
  absl::flat_hash_map<DedupKey, uint64_t> first_occurrence;
  WriteSummary summary;
  uint64_t next_chunk = 0;
};

absl::Status WriteBatches(Pipeline& pipeline, OutputFile& out, OutputState& state,
                          const WriterOptions& options, const CompressionDictionary* dictionary,
                          size_t slot_bytes, uint64_t bytes_total) {
  LAZYSNAP_ASSIGN_OR_RETURN(ChunkCompressor compressor,
                            ChunkCompressor::Create(options.compression_level));
  const uint32_t chunk_size = options.chunk_size_bytes;
  const uint8_t slot = dictionary != nullptr ? 1 : 0;
  uint64_t bytes_done = 0;
  for (uint64_t sequence = 0;; ++sequence) {
    std::unique_ptr<Batch> batch = pipeline.TakeCompressed(sequence);
    if (batch == nullptr) break;
    for (uint32_t i = 0; i < batch->chunk_count; ++i) {
      ChunkJob& job = batch->jobs[i];
      const uint64_t chunk = state.next_chunk++;
      uint8_t* input = batch->input.get() + static_cast<uint64_t>(i) * chunk_size;
      uint8_t* output = batch->output.get() + static_cast<uint64_t>(i) * slot_bytes;
      format::IndexEntry entry;
      entry.checksum = job.checksum;
      if (job.kind == ChunkKind::kZero) {
        entry.kind = ChunkKind::kZero;
        ++state.summary.zero_chunks;
      } else if (job.kind == ChunkKind::kParent) {
        entry.kind = ChunkKind::kParent;
        entry.location = job.parent_chunk;
        ++state.summary.parent_chunks;
      } else if (auto it = state.first_occurrence.find(job.key);
                 it != state.first_occurrence.end()) {
        entry.kind = ChunkKind::kDuplicate;
        entry.location = it->second;
        ++state.summary.duplicate_chunks;
      } else {
        if (job.kind == ChunkKind::kDuplicate) {
          // Another compressor claimed this content, but for a later chunk: this is the
          // first occurrence after all, so compress it here.
          LAZYSNAP_ASSIGN_OR_RETURN(
              size_t n, compressor.Compress({input, job.length_bytes}, {output, slot_bytes},
                                            dictionary));
          SetStoredForm(job, n, output);
        }
        entry.kind = job.kind;
        entry.location = out.position();
        entry.stored_checksum = job.stored_checksum;
        if (job.kind == ChunkKind::kRaw) {
          entry.stored_length_bytes = job.length_bytes;
          LAZYSNAP_RETURN_IF_ERROR(out.Append({input, job.length_bytes}));
          ++state.summary.raw_chunks;
        } else {
          entry.stored_length_bytes = job.compressed_bytes;
          entry.dictionary_slot = slot;
          LAZYSNAP_RETURN_IF_ERROR(out.Append({output, job.compressed_bytes}));
          ++state.summary.compressed_chunks;
        }
        state.first_occurrence.emplace(job.key, chunk);
      }
      size_t at = state.index.size();
      state.index.resize(at + format::kIndexEntrySizeBytes);
      format::EncodeIndexEntry(entry, std::span<uint8_t, format::kIndexEntrySizeBytes>(
                                          state.index.data() + at, format::kIndexEntrySizeBytes));
    }
    bytes_done += batch->input_bytes;
    if (options.progress) options.progress({bytes_done, bytes_total, out.position()});
    pipeline.ReturnFree(std::move(batch));
  }
  return pipeline.error();
}

std::array<uint8_t, 16> RandomSnapshotId() {
  std::array<uint8_t, 16> id = {};
  size_t done = 0;
  while (done < id.size()) {
    ssize_t n = ::getrandom(id.data() + done, id.size() - done, 0);
    if (n <= 0) break;  // fall back to a time-based id below
    done += static_cast<size_t>(n);
  }
  if (done < id.size()) {
    uint64_t now = static_cast<uint64_t>(
        std::chrono::steady_clock::now().time_since_epoch().count());
    std::memcpy(id.data(), &now, sizeof(now));
  }
  return id;
}

}  // namespace

uint64_t WriterMemoryBytes(const WriterOptions& options, int threads) {
  if (threads <= 0) threads = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  const uint32_t chunk_size = std::max<uint32_t>(options.chunk_size_bytes, 1);
  const uint64_t batch_bytes =
      uint64_t{BatchChunks(chunk_size)} * (chunk_size + MaxCompressedSize(chunk_size));
  const uint64_t context_bytes = ZSTD_estimateCCtxSize_usingCParams(
      ZSTD_getCParams(options.compression_level, chunk_size, options.train_dictionary.dictionary_size_bytes));
  return BatchCount(threads) * batch_bytes + static_cast<uint64_t>(threads) * context_bytes;
}

// ParentReferenceFor describes `parent` for a child's parent section, or says why no
// child of it can be written.
absl::StatusOr<format::ParentReference> ParentReferenceFor(const SnapshotReader& parent,
                                                           const WriterOptions& options,
                                                           uint32_t page_size) {
  if (parent.chain_depth() >= format::kMaxChainDepth) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s is at chain depth %d, the deepest a chain may go: flatten it and write a child "
        "of the flattened snapshot",
        parent.path(), parent.chain_depth()));
  }
  if (options.chunk_size_bytes != parent.chunk_size_bytes() ||
      page_size != parent.header().page_size_bytes) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "chunk size %d and page size %d differ from the parent's (%s: %d and %d); a child "
        "has its parent's",
        options.chunk_size_bytes, page_size, parent.path(), parent.chunk_size_bytes(),
        parent.header().page_size_bytes));
  }
  format::ParentReference reference;
  reference.snapshot_id = parent.header().snapshot_id;
  reference.header_checksum = parent.header_checksum();
  reference.trailer_checksum = parent.trailer_checksum();
  reference.file_size_bytes = parent.file_size_bytes();
  reference.chain_depth = parent.chain_depth() + 1;
  reference.name = options.parent_name;
  // The reader's rules on its own, so that a name it would refuse is refused here.
  auto decoded = format::DecodeParentSection(format::EncodeParentSection(reference), "child");
  if (!decoded.ok()) {
    return absl::InvalidArgumentError(absl::StrFormat("parent name \"%s\" cannot be recorded: %s",
                                                      options.parent_name,
                                                      decoded.status().message()));
  }
  return reference;
}

// ParentDictionary returns the parent's own dictionary of its lowest slot, prepared for
// `level`, or nullptr when the parent has none.
absl::StatusOr<std::shared_ptr<const CompressionDictionary>> ParentDictionary(
    const SnapshotReader& parent, int level) {
  for (uint16_t slot = 1; slot < 256; ++slot) {
    if (const DecompressionDictionary* d = parent.dictionary(slot); d != nullptr) {
      return CompressionDictionary::Create(d->bytes(), level);
    }
  }
  return std::shared_ptr<const CompressionDictionary>();
}

absl::StatusOr<WriteSummary> WriteSnapshot(ImageSource& source, std::string_view path,
                                           const WriterOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  uint32_t page_size = options.page_size_bytes != 0
                           ? options.page_size_bytes
                           : static_cast<uint32_t>(::sysconf(_SC_PAGESIZE));
  if (options.parent != nullptr && options.page_size_bytes == 0) {
    page_size = options.parent->header().page_size_bytes;
  }
  LAZYSNAP_RETURN_IF_ERROR(ValidateOptions(options, page_size));
  std::optional<format::ParentReference> parent_reference;
  if (options.parent != nullptr) {
    LAZYSNAP_ASSIGN_OR_RETURN(parent_reference,
                              ParentReferenceFor(*options.parent, options, page_size));
  }
  std::vector<format::Region> regions = source.regions();
  LAZYSNAP_RETURN_IF_ERROR(ValidateRegions(regions, page_size, source.name()));
  const uint32_t chunk_size = options.chunk_size_bytes;
  uint64_t bytes_total = 0;
  for (const format::Region& r : regions) {
    bytes_total = r.length_bytes == kLengthUntilEndOfStream ? 0 : bytes_total + r.length_bytes;
  }

  const int threads = options.threads > 0
                          ? options.threads
                          : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));

  // The dictionary comes first: every chunk is compressed with it.
  std::shared_ptr<const CompressionDictionary> dictionary = options.dictionary;
  WriteSummary training;
  const bool reuse_parent = dictionary == nullptr && options.parent != nullptr &&
                            options.reuse_parent_dictionary &&
                            options.train_dictionary.dictionary_size_bytes != 0;
  if (reuse_parent) {
    // A child's changed chunks look like its parent's: the parent's dictionary (or its
    // choice of none) fits them without the cost of training on a sample of mostly
    // unchanged chunks.
    LAZYSNAP_ASSIGN_OR_RETURN(dictionary,
                              ParentDictionary(*options.parent, options.compression_level));
    training.dictionary_note =
        dictionary != nullptr
            ? absl::StrFormat("the parent's dictionary (id %u), reused", dictionary->id())
            : std::string("the parent has none");
  } else if (dictionary == nullptr) {
    DictionaryTrainingOptions train = options.train_dictionary;
    train.threads = threads;
    LAZYSNAP_ASSIGN_OR_RETURN(
        TrainedDictionary trained,
        TrainDictionary(source, chunk_size, options.compression_level, train));
    dictionary = std::move(trained.dictionary);
    training.dictionary_sample_bytes = trained.sample_bytes;
    training.dictionary_seconds = trained.seconds;
    training.dictionary_note = std::move(trained.note);
  }

  LAZYSNAP_ASSIGN_OR_RETURN(AtomicFile file, AtomicFile::Create(path));
  OutputFile out(file.fd(), file.temp_path());

  DictionaryPayload payload;
  if (dictionary != nullptr) {
    using Storage = WriterOptions::DictionaryStorage;
    if (options.dictionary_storage == Storage::kRaw) {
      payload.bytes.assign(dictionary->bytes().begin(), dictionary->bytes().end());
    } else {
      LAZYSNAP_ASSIGN_OR_RETURN(
          payload, ChooseDictionaryPayload(dictionary->bytes(),
                                           options.dictionary_storage == Storage::kCompressed));
    }
  }

  format::Header header;
  // The lowest version that describes the file, so that 1.0 readers read every file that
  // needs nothing later (a compressed dictionary needs 1.2, a parent section 1.1).
  header.minor_version = payload.compressed ? format::kMinorVersionCompressedDictionary
                                            : format::kBaseMinorVersion;
  header.page_size_bytes = page_size;
  header.chunk_size_bytes = chunk_size;
  header.created_unix_seconds = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count());
  header.snapshot_id = RandomSnapshotId();
  if (parent_reference.has_value()) {
    header.minor_version = std::max(header.minor_version, format::kParentMinorVersion);
  }
  uint8_t header_bytes[format::kHeaderSizeBytes];
  format::EncodeHeader(header, header_bytes);
  LAZYSNAP_RETURN_IF_ERROR(out.Append(header_bytes));

  std::vector<format::Section> sections;
  if (dictionary != nullptr) {
    std::span<const uint8_t> bytes = payload.bytes;
    format::Section section;
    section.type = static_cast<uint32_t>(payload.compressed
                                             ? format::SectionType::kCompressedDictionary
                                             : format::SectionType::kDictionary);
    section.flags = format::kSectionFlagRequired;
    section.slot = 1;
    section.offset_bytes = out.position();
    section.length_bytes = bytes.size();
    section.checksum = Checksum64(bytes);
    LAZYSNAP_RETURN_IF_ERROR(out.Append(bytes));
    sections.push_back(section);
  }
  if (parent_reference.has_value()) {
    const std::vector<uint8_t> bytes = format::EncodeParentSection(*parent_reference);
    format::Section section;
    section.type = static_cast<uint32_t>(format::SectionType::kParent);
    section.flags = format::kSectionFlagRequired;
    section.offset_bytes = out.position();
    section.length_bytes = bytes.size();
    section.checksum = Checksum64(bytes);
    LAZYSNAP_RETURN_IF_ERROR(out.Append(bytes));
    sections.push_back(section);
  }

  const uint32_t batch_chunks = BatchChunks(chunk_size);
  const size_t slot_bytes = MaxCompressedSize(chunk_size);
  Pipeline pipeline(BatchCount(threads));
  const ParentChunks parent_chunks(options.parent);

  std::vector<std::thread> compressors;
  for (int i = 0; i < threads; ++i) {
    compressors.emplace_back(CompressBatches, std::ref(pipeline), options.compression_level,
                             chunk_size, slot_bytes, dictionary.get(), std::cref(parent_chunks));
  }
  OutputState state;
  absl::Status output_status;
  std::thread output_thread([&] {
    output_status = WriteBatches(pipeline, out, state, options, dictionary.get(), slot_bytes,
                                 bytes_total);
    if (!output_status.ok()) pipeline.Fail(output_status);
  });

  // Reader stage, on this thread.
  uint64_t sequence = 0;
  for (format::Region& region : regions) {
    const bool stream = region.length_bytes == kLengthUntilEndOfStream;
    uint64_t offset = 0;
    while (stream || offset < region.length_bytes) {
      std::unique_ptr<Batch> batch = pipeline.TakeFree();
      if (batch == nullptr) break;
      if (batch->input == nullptr) {
        batch->input.reset(new uint8_t[static_cast<size_t>(batch_chunks) * chunk_size]);
        batch->output.reset(new uint8_t[static_cast<size_t>(batch_chunks) * slot_bytes]);
        batch->jobs.resize(batch_chunks);
      }
      uint64_t want = static_cast<uint64_t>(batch_chunks) * chunk_size;
      if (!stream) want = std::min(want, region.length_bytes - offset);
      absl::StatusOr<size_t> got = want;
      batch->known_zero = !stream && source.KnownZero(region.image_offset_bytes + offset, want);
      if (!batch->known_zero) {
        got = source.Read(region.image_offset_bytes + offset,
                          {batch->input.get(), static_cast<size_t>(want)});
      }
      if (!got.ok()) {
        pipeline.Fail(got.status());
        break;
      }
      if (*got < want && !stream) {
        pipeline.Fail(absl::DataLossError(absl::StrFormat(
            "%s: the image ended at offset %d, inside region (offset %d, length %d)",
            source.name(), region.image_offset_bytes + offset + *got,
            region.image_offset_bytes, region.length_bytes)));
        break;
      }
      if (*got == 0) {
        pipeline.ReturnFree(std::move(batch));
        break;
      }
      batch->sequence = sequence++;
      batch->image_offset_bytes = region.image_offset_bytes + offset;
      batch->input_bytes = *got;
      batch->chunk_count = static_cast<uint32_t>(format::ChunkCountForLength(*got, chunk_size));
      for (uint32_t i = 0; i < batch->chunk_count; ++i) {
        batch->jobs[i] = ChunkJob{};
        batch->jobs[i].length_bytes = static_cast<uint32_t>(
            std::min<uint64_t>(chunk_size, *got - static_cast<uint64_t>(i) * chunk_size));
      }
      pipeline.PushWork(std::move(batch));
      offset += *got;
      if (*got < want) break;  // end of stream
    }
    if (stream) region.length_bytes = offset;
  }
  pipeline.FinishReading();
  for (std::thread& t : compressors) t.join();
  output_thread.join();
  LAZYSNAP_RETURN_IF_ERROR(pipeline.error());

  // A stream that turned out empty leaves an empty last region, which is dropped.
  if (!regions.empty() && regions.back().length_bytes == 0) regions.pop_back();

  // Metadata block: regions, sections, index; then the trailer.
  LAZYSNAP_RETURN_IF_ERROR(out.Flush());
  format::Trailer trailer;
  trailer.metadata_offset_bytes = out.position();
  trailer.region_count = static_cast<uint32_t>(regions.size());
  trailer.section_count = static_cast<uint32_t>(sections.size());
  trailer.chunk_count = state.next_chunk;
  std::vector<uint8_t> metadata(format::TablesSizeBytes(trailer.region_count,
                                                        trailer.section_count,
                                                        trailer.chunk_count));
  uint8_t* p = metadata.data();
  for (const format::Region& r : regions) {
    format::EncodeRegion(r, std::span<uint8_t, format::kRegionEntrySizeBytes>(
                                p, format::kRegionEntrySizeBytes));
    p += format::kRegionEntrySizeBytes;
    trailer.image_size_bytes = r.image_offset_bytes + r.length_bytes;
  }
  for (const format::Section& s : sections) {
    format::EncodeSection(s, std::span<uint8_t, format::kSectionEntrySizeBytes>(
                                 p, format::kSectionEntrySizeBytes));
    p += format::kSectionEntrySizeBytes;
  }
  const uint64_t segment_bytes = format::kIndexSegmentEntries * format::kIndexEntrySizeBytes;
  for (uint64_t at = 0; at < state.index.size(); at += segment_bytes) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(segment_bytes, state.index.size() - at));
    StoreLe<uint64_t>(p, Checksum64({state.index.data() + at, n}));
    p += format::kSegmentChecksumSizeBytes;
  }
  trailer.tables_checksum = Checksum64(metadata);
  metadata.insert(metadata.end(), state.index.begin(), state.index.end());
  trailer.metadata_length_bytes = metadata.size();
  LAZYSNAP_RETURN_IF_ERROR(out.Append(metadata));
  uint8_t trailer_bytes[format::kTrailerSizeBytes];
  format::EncodeTrailer(trailer, format::HeaderChecksum(header_bytes), trailer_bytes);
  LAZYSNAP_RETURN_IF_ERROR(out.Append(trailer_bytes));
  LAZYSNAP_RETURN_IF_ERROR(out.Flush());
  LAZYSNAP_RETURN_IF_ERROR(file.Commit());

  WriteSummary summary = state.summary;
  summary.file_bytes = out.position();
  summary.chunk_count = state.next_chunk;
  summary.index_bytes = state.index.size();
  summary.dictionary_bytes = dictionary != nullptr ? dictionary->bytes().size() : 0;
  summary.dictionary_id = dictionary != nullptr ? dictionary->id() : 0;
  summary.dictionary_stored_bytes = payload.bytes.size();
  summary.dictionary_compressed = payload.compressed;
  summary.dictionary_sample_bytes = training.dictionary_sample_bytes;
  summary.dictionary_seconds = training.dictionary_seconds;
  summary.dictionary_note = std::move(training.dictionary_note);
  summary.region_count = trailer.region_count;
  summary.incremental = parent_reference.has_value();
  for (const format::Region& r : regions) summary.image_bytes += r.length_bytes;
  summary.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

}  // namespace lazysnap
