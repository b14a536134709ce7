// The C API (include/lazysnap/lazysnap.h) over lazysnap's public C++ headers: each
// handle owns the C++ object it stands for, each call converts arguments, runs the C++
// call inside a guard that turns every exception into a code, and hands the Status back
// as a code plus a malloc'd message. Nothing here reaches below the public surface
// (docs/ARCHITECTURE.md, "The public surface").
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <new>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/random_access_file.h"
#include "base/unique_fd.h"
#include "engine/chunk_source.h"
#include "engine/host_features.h"
#include "engine/restore_options.h"
#include "engine/restore_session.h"
#include "engine/restore_stats.h"
#include "engine/uffd_features.h"
#include "lazysnap/lazysnap.h"
#include "snapshot_format/chunk_codec.h"
#include "snapshot_format/format.h"
#include "snapshot_format/image_source.h"
#include "snapshot_format/snapshot_reader.h"
#include "snapshot_format/snapshot_writer.h"

// The handles. Their names are the C header's incomplete types.
struct lazysnap_snapshot_t {
  std::shared_ptr<const lazysnap::SnapshotReader> reader;
  // Where sessions read chunks from; nullptr: the reader's own file (DefaultChunkSource).
  // A snapshot opened from a URL will carry its remote source here.
  std::shared_ptr<lazysnap::ChunkSource> chunk_source;
};

struct lazysnap_write_options_t {
  lazysnap::WriterOptions options;
};

struct lazysnap_restore_options_t {
  lazysnap::RestoreOptions options;
  lazysnap_error_fn error_callback = nullptr;
  void* error_context = nullptr;
};

struct lazysnap_session_t {
  std::shared_ptr<const lazysnap::SnapshotReader> snapshot;
  std::unique_ptr<lazysnap::RestoreSession> session;
  // Strings handed out by lazysnap_session_get_features live here until the session is
  // freed (std::set nodes never move). features() is called anew each time because its
  // poison answer can change once a handed-over range has been tried.
  mutable std::mutex strings_mutex;
  mutable std::set<std::string> strings;
};

struct lazysnap_host_features_t {
  struct Feature {
    lazysnap::UffdFeature feature;
    std::string name, since, purpose, fallback;
  };
  lazysnap::HostFeatures host;
  std::string open_message;
  std::string handshake_message;
  std::vector<Feature> features;  // NUL-terminated copies of AllFeatures()
};

namespace lazysnap {
namespace {

// CopyString returns a malloc'd copy of `text` (NULL when malloc fails).
char* CopyString(absl::string_view text) {
  char* copy = static_cast<char*>(std::malloc(text.size() + 1));
  if (copy == nullptr) return nullptr;
  std::memcpy(copy, text.data(), text.size());
  copy[text.size()] = '\0';
  return copy;
}

lazysnap_code CodeOf(const absl::Status& status) {
  return static_cast<lazysnap_code>(static_cast<int>(status.code()));
}

// Report turns `status` into the C convention: a code, and a message in *error.
lazysnap_code Report(const absl::Status& status, char** error) {
  if (error != nullptr) *error = status.ok() ? nullptr : CopyString(status.message());
  return CodeOf(status);
}

// Guarded runs `body` (returning absl::Status) so that no exception leaves the C API.
template <typename Body>
lazysnap_code Guarded(char** error, Body&& body) {
  if (error != nullptr) *error = nullptr;
  try {
    return Report(body(), error);
  } catch (const std::bad_alloc&) {
    return Report(absl::ResourceExhaustedError("lazysnap: out of memory"), error);
  } catch (const std::exception& e) {
    return Report(absl::InternalError(absl::StrCat("lazysnap: unexpected exception: ", e.what())),
                  error);
  } catch (...) {
    return Report(absl::InternalError("lazysnap: unexpected exception"), error);
  }
}

absl::Status NullArgument(std::string_view call, std::string_view argument) {
  return absl::InvalidArgumentError(absl::StrFormat("%s: %s is NULL", call, argument));
}

absl::Status OutOfBounds(std::string_view call, std::string_view what, int64_t value, int64_t low,
                         int64_t high) {
  return absl::InvalidArgumentError(
      absl::StrFormat("%s: %s %d is not in [%d, %d]", call, what, value, low, high));
}

// CopyOut copies `value` into the caller's struct of `size` bytes: a smaller struct (an
// older header) gets the fields it declares, a larger one (a newer header) zeros after
// the fields this library knows.
template <typename T>
void CopyOut(const T& value, void* out, size_t size) {
  const size_t known = std::min(size, sizeof(T));
  std::memcpy(out, &value, known);
  if (size > known) std::memset(static_cast<char*>(out) + known, 0, size - known);
}

// CallbackFile: a RandomAccessFile whose bytes the embedder reads (read_fn).
class CallbackFile final : public RandomAccessFile {
 public:
  CallbackFile(std::string name, uint64_t size_bytes, lazysnap_read_fn read,
               lazysnap_release_fn release, void* context)
      : name_(std::move(name)),
        size_bytes_(size_bytes),
        read_(read),
        release_(release),
        context_(context) {}
  ~CallbackFile() override {
    if (release_ != nullptr) release_(context_);
  }
  CallbackFile(const CallbackFile&) = delete;
  CallbackFile& operator=(const CallbackFile&) = delete;

  const std::string& name() const override { return name_; }
  uint64_t size_bytes() const override { return size_bytes_; }
  absl::Status ReadAt(uint64_t offset_bytes, std::span<uint8_t> out) const override {
    if (offset_bytes > size_bytes_ || out.size() > size_bytes_ - offset_bytes) {
      return absl::OutOfRangeError(absl::StrFormat("%s: %d bytes at offset %d pass its end (%d)",
                                                   name_, out.size(), offset_bytes, size_bytes_));
    }
    const int error_number = read_(context_, offset_bytes, out.data(), out.size());
    if (error_number == 0) return absl::OkStatus();
    return absl::ErrnoToStatus(error_number, absl::StrFormat("%s: reading %d bytes at offset %d",
                                                             name_, out.size(), offset_bytes));
  }

 private:
  std::string name_;
  uint64_t size_bytes_;
  lazysnap_read_fn read_;
  lazysnap_release_fn release_;
  void* context_;
};

absl::Status CheckOpenFlags(std::string_view call, uint32_t flags) {
  if ((flags & ~LAZYSNAP_OPEN_VALIDATE_INDEX) != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: unknown flags 0x%x (this library is %d.%d)", call,
        flags & ~LAZYSNAP_OPEN_VALIDATE_INDEX, LAZYSNAP_VERSION_MAJOR, LAZYSNAP_VERSION_MINOR));
  }
  return absl::OkStatus();
}

OpenOptions OpenOptionsOf(uint32_t flags) {
  return OpenOptions{.validate_index = (flags & LAZYSNAP_OPEN_VALIDATE_INDEX) != 0};
}

absl::Status ReadRegion(const SnapshotReader& snapshot, uint32_t region, uint64_t offset_bytes,
                        uint8_t* buffer, size_t length_bytes) {
  const auto regions = snapshot.regions();
  if (region >= regions.size()) {
    return absl::OutOfRangeError(
        absl::StrFormat("%s: region %d of %d", snapshot.path(), region, regions.size()));
  }
  const uint64_t region_length = regions[region].length_bytes;
  if (offset_bytes > region_length || length_bytes > region_length - offset_bytes) {
    return absl::OutOfRangeError(
        absl::StrFormat("%s: %d bytes at offset %d pass the end of region %d (%d bytes)",
                        snapshot.path(), length_bytes, offset_bytes, region, region_length));
  }
  absl::StatusOr<ChunkDecoder> decoder = ChunkDecoder::Create();
  if (!decoder.ok()) return decoder.status();
  const uint64_t chunk_size = snapshot.chunk_size_bytes();
  std::vector<uint8_t> scratch;
  std::vector<uint8_t> chunk_bytes;
  uint64_t offset = offset_bytes;
  const uint64_t end = offset_bytes + length_bytes;
  while (offset < end) {
    const uint64_t chunk_offset = offset / chunk_size * chunk_size;
    const uint64_t chunk_length = std::min<uint64_t>(chunk_size, region_length - chunk_offset);
    const uint64_t chunk = snapshot.region_first_chunk(region) + offset / chunk_size;
    const uint64_t take = std::min(end, chunk_offset + chunk_length) - offset;
    uint8_t* destination = buffer + (offset - offset_bytes);
    if (offset == chunk_offset && take == chunk_length) {
      absl::Status status = snapshot.ReadChunk(chunk, *decoder, scratch, {destination, take});
      if (!status.ok()) return status;
    } else {
      chunk_bytes.resize(chunk_length);
      absl::Status status = snapshot.ReadChunk(chunk, *decoder, scratch, chunk_bytes);
      if (!status.ok()) return status;
      std::memcpy(destination, chunk_bytes.data() + (offset - chunk_offset), take);
    }
    offset += take;
  }
  return absl::OkStatus();
}

// RestoreOptionsOf is the C++ options a session of `snapshot` starts with: the defaults
// for NULL, the snapshot's chunk source, and the C error callback wrapped so that nothing
// thrown reaches the engine's thread.
RestoreOptions RestoreOptionsOf(const lazysnap_restore_options_t* options,
                                const lazysnap_snapshot_t& snapshot) {
  RestoreOptions result = options != nullptr ? options->options : RestoreOptions{};
  result.chunk_source = snapshot.chunk_source;
  if (options == nullptr) return result;
  if (options->error_callback != nullptr) {
    result.on_error = [callback = options->error_callback,
                       context = options->error_context](const absl::Status& status) {
      try {
        const std::string message(status.message());
        callback(context, CodeOf(status), message.c_str());
      } catch (...) {
        callback(context, CodeOf(status), "(no memory for the message)");
      }
    };
  }
  return result;
}

using SessionStart = absl::StatusOr<std::unique_ptr<RestoreSession>>;

// StartSession runs one of RestoreSession's Start calls and wraps the result in a handle.
template <typename Start>
absl::Status StartSession(std::string_view call, const lazysnap_snapshot_t* snapshot,
                          lazysnap_session_t** session, Start&& start) {
  if (session == nullptr) return NullArgument(call, "session");
  *session = nullptr;
  if (snapshot == nullptr) return NullArgument(call, "snapshot");
  auto handle = std::make_unique<lazysnap_session_t>();
  handle->snapshot = snapshot->reader;
  SessionStart started = start();
  if (!started.ok()) return started.status();
  handle->session = std::move(*started);
  *session = handle.release();
  return absl::OkStatus();
}

absl::StatusOr<std::vector<uint64_t>> AddressesOf(std::string_view call,
                                                  const uint64_t* region_addresses,
                                                  size_t region_count) {
  if (region_addresses == nullptr && region_count != 0) {
    return NullArgument(call, "region_addresses");
  }
  if (region_count == 0) return std::vector<uint64_t>{};
  return std::vector<uint64_t>(region_addresses, region_addresses + region_count);
}

const char* Intern(const lazysnap_session_t* session, std::string value) {
  std::lock_guard<std::mutex> lock(session->strings_mutex);
  return session->strings.insert(std::move(value)).first->c_str();
}

lazysnap_stats StatsOf(const RestoreStats& s) {
  return lazysnap_stats{
      .faults = s.faults,
      .faults_write = s.faults_write,
      .faults_zero = s.faults_zero,
      .faults_fetched = s.faults_fetched,
      .faults_joined = s.faults_joined,
      .faults_after_remove = s.faults_after_remove,
      .faults_stale = s.faults_stale,
      .faults_outside = s.faults_outside,
      .chunks_installed = s.chunks_installed,
      .chunks_readahead = s.chunks_readahead,
      .chunks_background = s.chunks_background,
      .chunks_failed = s.chunks_failed,
      .bytes_read = s.bytes_read,
      .bytes_decompressed = s.bytes_decompressed,
      .bytes_installed = s.bytes_installed,
      .bytes_zero_installed = s.bytes_zero_installed,
      .copy_eexist = s.copy_eexist,
      .copy_eagain = s.copy_eagain,
      .events_remove = s.events_remove,
      .events_unmap = s.events_unmap,
      .latency_p50_ns = s.latency_p50_ns,
      .latency_p90_ns = s.latency_p90_ns,
      .latency_p99_ns = s.latency_p99_ns,
      .latency_max_ns = s.latency_max_ns,
      .time_to_ready_ns = s.time_to_ready_ns,
  };
}

int32_t PoisonOf(const std::string& poison) {
  if (poison == "yes") return LAZYSNAP_POISON_YES;
  if (poison == "no") return LAZYSNAP_POISON_NO;
  return LAZYSNAP_POISON_UNKNOWN;
}

int32_t StateOf(FeatureState state) {
  switch (state) {
    case FeatureState::kEnabled: return LAZYSNAP_FEATURE_ENABLED;
    case FeatureState::kFallback: return LAZYSNAP_FEATURE_FALLBACK;
    case FeatureState::kNotRequested: return LAZYSNAP_FEATURE_NOT_REQUESTED;
  }
  return LAZYSNAP_FEATURE_NOT_REQUESTED;
}

// SetOption is the body of every options setter: check `value` against [low, high],
// then apply it (flags pass `flag != 0` in [0, 1]).
template <typename Options, typename Apply>
lazysnap_code SetOption(std::string_view call, Options* options, int64_t value, int64_t low,
                        int64_t high, char** error, Apply&& apply) {
  return Guarded(error, [&]() -> absl::Status {
    if (options == nullptr) return NullArgument(call, "options");
    if (value < low || value > high) return OutOfBounds(call, "value", value, low, high);
    apply(*options);
    return absl::OkStatus();
  });
}

}  // namespace
}  // namespace lazysnap

using lazysnap::Guarded;
using lazysnap::NullArgument;

extern "C" {

// ---- Errors and versions -----------------------------------------------------------

const char* lazysnap_code_name(lazysnap_code code) {
  switch (code) {
    case LAZYSNAP_OK: return "OK";
    case LAZYSNAP_CANCELLED: return "CANCELLED";
    case LAZYSNAP_UNKNOWN: return "UNKNOWN";
    case LAZYSNAP_INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case LAZYSNAP_DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case LAZYSNAP_NOT_FOUND: return "NOT_FOUND";
    case LAZYSNAP_ALREADY_EXISTS: return "ALREADY_EXISTS";
    case LAZYSNAP_PERMISSION_DENIED: return "PERMISSION_DENIED";
    case LAZYSNAP_RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case LAZYSNAP_FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case LAZYSNAP_ABORTED: return "ABORTED";
    case LAZYSNAP_OUT_OF_RANGE: return "OUT_OF_RANGE";
    case LAZYSNAP_UNIMPLEMENTED: return "UNIMPLEMENTED";
    case LAZYSNAP_INTERNAL: return "INTERNAL";
    case LAZYSNAP_UNAVAILABLE: return "UNAVAILABLE";
    case LAZYSNAP_DATA_LOSS: return "DATA_LOSS";
    case LAZYSNAP_UNAUTHENTICATED: return "UNAUTHENTICATED";
  }
  return "UNKNOWN_CODE";
}

void lazysnap_free(void* pointer) { std::free(pointer); }

int lazysnap_version_major(void) { return LAZYSNAP_VERSION_MAJOR; }
int lazysnap_version_minor(void) { return LAZYSNAP_VERSION_MINOR; }
int lazysnap_version_check(int major, int minor) {
  return major == LAZYSNAP_VERSION_MAJOR && minor >= 0 && minor <= LAZYSNAP_VERSION_MINOR;
}

// ---- Snapshots ---------------------------------------------------------------------

lazysnap_code lazysnap_snapshot_open(const char* path, uint32_t flags,
                                     lazysnap_snapshot_t** snapshot, char** error) {
  return Guarded(error, [&]() -> absl::Status {
    constexpr std::string_view kCall = "lazysnap_snapshot_open";
    if (snapshot == nullptr) return NullArgument(kCall, "snapshot");
    *snapshot = nullptr;
    if (path == nullptr) return NullArgument(kCall, "path");
    if (absl::Status s = lazysnap::CheckOpenFlags(kCall, flags); !s.ok()) return s;
    auto reader =
        lazysnap::SnapshotReader::Open(std::string_view(path), lazysnap::OpenOptionsOf(flags));
    if (!reader.ok()) return reader.status();
    *snapshot = new lazysnap_snapshot_t{std::move(*reader), nullptr};
    return absl::OkStatus();
  });
}

lazysnap_code lazysnap_snapshot_open_reader(const char* name, uint64_t size_bytes,
                                            lazysnap_read_fn read, lazysnap_release_fn release,
                                            void* context, uint32_t flags,
                                            lazysnap_snapshot_t** snapshot, char** error) {
  // `release` runs however this call ends: from here on the file owns the context.
  std::shared_ptr<lazysnap::CallbackFile> file;
  const lazysnap_code code = Guarded(error, [&]() -> absl::Status {
    constexpr std::string_view kCall = "lazysnap_snapshot_open_reader";
    file = std::make_shared<lazysnap::CallbackFile>(name != nullptr ? name : "(unnamed reader)",
                                                    size_bytes, read, release, context);
    if (snapshot == nullptr) return NullArgument(kCall, "snapshot");
    *snapshot = nullptr;
    if (read == nullptr) return NullArgument(kCall, "read");
    if (absl::Status s = lazysnap::CheckOpenFlags(kCall, flags); !s.ok()) return s;
    auto reader = lazysnap::SnapshotReader::Open(file, lazysnap::OpenOptionsOf(flags));
    if (!reader.ok()) return reader.status();
    *snapshot = new lazysnap_snapshot_t{std::move(*reader), nullptr};
    return absl::OkStatus();
  });
  if (file == nullptr && release != nullptr) release(context);  // make_shared threw
  return code;
}

void lazysnap_snapshot_free(lazysnap_snapshot_t* snapshot) { delete snapshot; }

lazysnap_code lazysnap_snapshot_get_info(const lazysnap_snapshot_t* snapshot,
                                         lazysnap_snapshot_info* info, size_t info_size,
                                         char** error) {
  return Guarded(error, [&]() -> absl::Status {
    constexpr std::string_view kCall = "lazysnap_snapshot_get_info";
    if (snapshot == nullptr) return NullArgument(kCall, "snapshot");
    if (info == nullptr) return NullArgument(kCall, "info");
    const lazysnap::SnapshotReader& reader = *snapshot->reader;
    const lazysnap_snapshot_info result = {
        .name = reader.path().c_str(),
        .chunk_count = reader.chunk_count(),
        .image_size_bytes = reader.image_size_bytes(),
        .memory_size_bytes = reader.memory_size_bytes(),
        .file_size_bytes = reader.file_size_bytes(),
        .chunk_size_bytes = reader.chunk_size_bytes(),
        .page_size_bytes = reader.header().page_size_bytes,
        .region_count = static_cast<uint32_t>(reader.regions().size()),
        .format_major_version = reader.header().major_version,
        .format_minor_version = reader.header().minor_version,
    };
    lazysnap::CopyOut(result, info, info_size);
    return absl::OkStatus();
  });
}

lazysnap_code lazysnap_snapshot_get_region(const lazysnap_snapshot_t* snapshot, uint32_t index,
                                           lazysnap_region* region, size_t region_size,
                                           char** error) {
  return Guarded(error, [&]() -> absl::Status {
    constexpr std::string_view kCall = "lazysnap_snapshot_get_region";
    if (snapshot == nullptr) return NullArgument(kCall, "snapshot");
    if (region == nullptr) return NullArgument(kCall, "region");
    const auto regions = snapshot->reader->regions();
    if (index >= regions.size()) {
      return absl::OutOfRangeError(
          absl::StrFormat("%s: region %d of %d", snapshot->reader->path(), index, regions.size()));
    }
    const lazysnap_region result = {.image_offset_bytes = regions[index].image_offset_bytes,
                                    .length_bytes = regions[index].length_bytes,
                                    .guest_address = regions[index].guest_address};
    lazysnap::CopyOut(result, region, region_size);
    return absl::OkStatus();
  });
}

lazysnap_code lazysnap_snapshot_read(const lazysnap_snapshot_t* snapshot, uint32_t region,
                                     uint64_t offset_bytes, void* buffer, size_t length_bytes,
                                     char** error) {
  return Guarded(error, [&]() -> absl::Status {
    constexpr std::string_view kCall = "lazysnap_snapshot_read";
    if (snapshot == nullptr) return NullArgument(kCall, "snapshot");
    if (buffer == nullptr && length_bytes != 0) return NullArgument(kCall, "buffer");
    return lazysnap::ReadRegion(*snapshot->reader, region, offset_bytes,
                                static_cast<uint8_t*>(buffer), length_bytes);
  });
}

// ---- Writing snapshots -------------------------------------------------------------

lazysnap_write_options_t* lazysnap_write_options_create(void) {
  return new (std::nothrow) lazysnap_write_options_t();
}

void lazysnap_write_options_free(lazysnap_write_options_t* options) { delete options; }

lazysnap_code lazysnap_write_options_set_chunk_size_bytes(lazysnap_write_options_t* options,
                                                          uint32_t chunk_size_bytes, char** error) {
  return Guarded(error, [&]() -> absl::Status {
    constexpr std::string_view kCall = "lazysnap_write_options_set_chunk_size_bytes";
    if (options == nullptr) return NullArgument(kCall, "options");
    if (!lazysnap::format::IsPowerOfTwo(chunk_size_bytes) ||
        chunk_size_bytes < lazysnap::format::kMinChunkSizeBytes ||
        chunk_size_bytes > lazysnap::format::kMaxChunkSizeBytes) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: %d is not a power of two between 4 KiB and 4 MiB", kCall, chunk_size_bytes));
    }
    options->options.chunk_size_bytes = chunk_size_bytes;
    return absl::OkStatus();
  });
}

lazysnap_code lazysnap_write_options_set_compression_level(lazysnap_write_options_t* options,
                                                           int32_t level, char** error) {
  const auto [low, high] = lazysnap::CompressionLevelRange();
  return lazysnap::SetOption(
      "lazysnap_write_options_set_compression_level", options, level, low, high, error,
      [&](lazysnap_write_options_t& o) { o.options.compression_level = level; });
}

lazysnap_code lazysnap_write_options_set_threads(lazysnap_write_options_t* options, int32_t threads,
                                                 char** error) {
  return lazysnap::SetOption("lazysnap_write_options_set_threads", options, threads, 0, 1024, error,
                             [&](lazysnap_write_options_t& o) {
                               o.options.threads = threads;
                               o.options.train_dictionary.threads = threads;
                             });
}

lazysnap_code lazysnap_write_options_set_dictionary_size_bytes(lazysnap_write_options_t* options,
                                                               uint64_t dictionary_size_bytes,
                                                               char** error) {
  return Guarded(error, [&]() -> absl::Status {
    constexpr std::string_view kCall = "lazysnap_write_options_set_dictionary_size_bytes";
    if (options == nullptr) return NullArgument(kCall, "options");
    if (dictionary_size_bytes > lazysnap::format::kMaxDictionarySizeBytes ||
        (dictionary_size_bytes != 0 && dictionary_size_bytes < lazysnap::kMinDictionarySizeBytes)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: %d is neither 0 (no dictionary) nor in [%d, %d]", kCall, dictionary_size_bytes,
          lazysnap::kMinDictionarySizeBytes, lazysnap::format::kMaxDictionarySizeBytes));
    }
    options->options.train_dictionary.dictionary_size_bytes = dictionary_size_bytes;
    return absl::OkStatus();
  });
}

lazysnap_code lazysnap_snapshot_write(const char* image_path, const char* snapshot_path,
                                      const lazysnap_write_options_t* options,
                                      lazysnap_write_summary* summary, size_t summary_size,
                                      char** error) {
  return Guarded(error, [&]() -> absl::Status {
    constexpr std::string_view kCall = "lazysnap_snapshot_write";
    if (image_path == nullptr) return NullArgument(kCall, "image_path");
    if (snapshot_path == nullptr) return NullArgument(kCall, "snapshot_path");
    auto source = lazysnap::FileImageSource::Open(image_path);
    if (!source.ok()) return source.status();
    const lazysnap::WriterOptions writer_options =
        options != nullptr ? options->options : lazysnap::WriterOptions{};
    auto written = lazysnap::WriteSnapshot(**source, snapshot_path, writer_options);
    if (!written.ok()) return written.status();
    if (summary != nullptr) {
      const lazysnap_write_summary result = {
          .image_bytes = written->image_bytes,
          .file_bytes = written->file_bytes,
          .chunk_count = written->chunk_count,
          .zero_chunks = written->zero_chunks,
          .compressed_chunks = written->compressed_chunks,
          .raw_chunks = written->raw_chunks,
          .duplicate_chunks = written->duplicate_chunks,
          .dictionary_bytes = written->dictionary_bytes,
          .elapsed_ns = static_cast<uint64_t>(written->seconds * 1e9),
      };
      lazysnap::CopyOut(result, summary, summary_size);
    }
    return absl::OkStatus();
  });
}

// ---- Restore options ---------------------------------------------------------------

lazysnap_restore_options_t* lazysnap_restore_options_create(void) {
  return new (std::nothrow) lazysnap_restore_options_t();
}

void lazysnap_restore_options_free(lazysnap_restore_options_t* options) { delete options; }

lazysnap_code lazysnap_restore_options_set_serving_mode(lazysnap_restore_options_t* options,
                                                        lazysnap_serving_mode mode, char** error) {
  return lazysnap::SetOption("lazysnap_restore_options_set_serving_mode", options, mode,
                             LAZYSNAP_SERVING_HANDLER_THREADS, LAZYSNAP_SERVING_SIGBUS, error,
                             [&](lazysnap_restore_options_t& o) {
                               o.options.serving = mode == LAZYSNAP_SERVING_SIGBUS
                                                       ? lazysnap::ServingMode::kSigbus
                                                       : lazysnap::ServingMode::kHandlerThreads;
                             });
}

lazysnap_code lazysnap_restore_options_set_handler_threads(lazysnap_restore_options_t* options,
                                                           int32_t threads, char** error) {
  return lazysnap::SetOption(
      "lazysnap_restore_options_set_handler_threads", options, threads, 0, 1024, error,
      [&](lazysnap_restore_options_t& o) { o.options.handler_threads = threads; });
}

lazysnap_code lazysnap_restore_options_set_pin_handler_threads(lazysnap_restore_options_t* options,
                                                               int pin, char** error) {
  return lazysnap::SetOption(
      "lazysnap_restore_options_set_pin_handler_threads", options, pin != 0, 0, 1, error,
      [&](lazysnap_restore_options_t& o) { o.options.pin_handler_threads = pin != 0; });
}

lazysnap_code lazysnap_restore_options_set_handler_nice(lazysnap_restore_options_t* options,
                                                        int32_t nice, char** error) {
  return lazysnap::SetOption("lazysnap_restore_options_set_handler_nice", options, nice, -20, 19,
                             error,
                             [&](lazysnap_restore_options_t& o) { o.options.handler_nice = nice; });
}

lazysnap_code lazysnap_restore_options_set_spin_before_sleep_us(lazysnap_restore_options_t* options,
                                                                uint32_t microseconds,
                                                                char** error) {
  return lazysnap::SetOption(
      "lazysnap_restore_options_set_spin_before_sleep_us", options, microseconds, 0, 1000000, error,
      [&](lazysnap_restore_options_t& o) { o.options.spin_before_sleep_us = microseconds; });
}

lazysnap_code lazysnap_restore_options_set_reads_in_flight(lazysnap_restore_options_t* options,
                                                           uint32_t reads, char** error) {
  return lazysnap::SetOption(
      "lazysnap_restore_options_set_reads_in_flight", options, reads, 1, 4096, error,
      [&](lazysnap_restore_options_t& o) { o.options.reads_in_flight = reads; });
}

lazysnap_code lazysnap_restore_options_set_readahead_chunks(lazysnap_restore_options_t* options,
                                                            uint32_t chunks, char** error) {
  return lazysnap::SetOption(
      "lazysnap_restore_options_set_readahead_chunks", options, chunks, 0, 65536, error,
      [&](lazysnap_restore_options_t& o) { o.options.readahead_chunks = chunks; });
}

lazysnap_code lazysnap_restore_options_set_background_populate(lazysnap_restore_options_t* options,
                                                               int populate, char** error) {
  return lazysnap::SetOption(
      "lazysnap_restore_options_set_background_populate", options, populate != 0, 0, 1, error,
      [&](lazysnap_restore_options_t& o) { o.options.background_populate = populate != 0; });
}

lazysnap_code lazysnap_restore_options_set_use_io_uring(lazysnap_restore_options_t* options,
                                                        int use, char** error) {
  return lazysnap::SetOption(
      "lazysnap_restore_options_set_use_io_uring", options, use != 0, 0, 1, error,
      [&](lazysnap_restore_options_t& o) { o.options.use_io_uring = use != 0; });
}

lazysnap_code lazysnap_restore_options_set_require_kernel_faults(
    lazysnap_restore_options_t* options, int require, char** error) {
  return lazysnap::SetOption(
      "lazysnap_restore_options_set_require_kernel_faults", options, require != 0, 0, 1, error,
      [&](lazysnap_restore_options_t& o) { o.options.require_kernel_faults = require != 0; });
}

lazysnap_code lazysnap_restore_options_set_use_poison(lazysnap_restore_options_t* options, int use,
                                                      char** error) {
  return lazysnap::SetOption(
      "lazysnap_restore_options_set_use_poison", options, use != 0, 0, 1, error,
      [&](lazysnap_restore_options_t& o) { o.options.use_poison = use != 0; });
}

lazysnap_code lazysnap_restore_options_set_close_mode(lazysnap_restore_options_t* options,
                                                      lazysnap_close_mode mode, char** error) {
  return lazysnap::SetOption(
      "lazysnap_restore_options_set_close_mode", options, mode, LAZYSNAP_CLOSE_FINISH_RESTORE,
      LAZYSNAP_CLOSE_DISCARD, error, [&](lazysnap_restore_options_t& o) {
        o.options.close_mode = mode == LAZYSNAP_CLOSE_DISCARD ? lazysnap::CloseMode::kDiscard
                                                              : lazysnap::CloseMode::kFinishRestore;
      });
}

lazysnap_code lazysnap_restore_options_set_error_callback(lazysnap_restore_options_t* options,
                                                          lazysnap_error_fn callback, void* context,
                                                          char** error) {
  return lazysnap::SetOption("lazysnap_restore_options_set_error_callback", options, 0, 0, 0, error,
                             [&](lazysnap_restore_options_t& o) {
                               o.error_callback = callback;
                               o.error_context = callback != nullptr ? context : nullptr;
                             });
}

// ---- Restore sessions --------------------------------------------------------------

lazysnap_code lazysnap_session_start(const lazysnap_snapshot_t* snapshot,
                                     const lazysnap_restore_options_t* options,
                                     lazysnap_session_t** session, char** error) {
  return Guarded(error, [&]() -> absl::Status {
    return lazysnap::StartSession("lazysnap_session_start", snapshot, session, [&] {
      return lazysnap::RestoreSession::Start(snapshot->reader, lazysnap::RestoreOptionsOf(options, *snapshot));
    });
  });
}

lazysnap_code lazysnap_session_start_into(const lazysnap_snapshot_t* snapshot,
                                          const uint64_t* region_addresses, size_t region_count,
                                          const lazysnap_restore_options_t* options,
                                          lazysnap_session_t** session, char** error) {
  return Guarded(error, [&]() -> absl::Status {
    constexpr std::string_view kCall = "lazysnap_session_start_into";
    auto addresses = lazysnap::AddressesOf(kCall, region_addresses, region_count);
    if (!addresses.ok()) return addresses.status();
    return lazysnap::StartSession(kCall, snapshot, session, [&] {
      return lazysnap::RestoreSession::StartInto(snapshot->reader, std::move(*addresses),
                                                 lazysnap::RestoreOptionsOf(options, *snapshot));
    });
  });
}

lazysnap_code lazysnap_session_start_with_userfaultfd(const lazysnap_snapshot_t* snapshot,
                                                      const uint64_t* region_addresses,
                                                      size_t region_count, int userfaultfd,
                                                      const lazysnap_restore_options_t* options,
                                                      lazysnap_session_t** session, char** error) {
  // Owned from the first line, so that every way out of this call closes it.
  lazysnap::UniqueFd uffd(userfaultfd);
  return Guarded(error, [&]() -> absl::Status {
    constexpr std::string_view kCall = "lazysnap_session_start_with_userfaultfd";
    if (!uffd.valid()) {
      if (session != nullptr) *session = nullptr;
      return absl::InvalidArgumentError(
          absl::StrFormat("%s: %d is not a file descriptor", kCall, userfaultfd));
    }
    auto addresses = lazysnap::AddressesOf(kCall, region_addresses, region_count);
    if (!addresses.ok()) return addresses.status();
    return lazysnap::StartSession(kCall, snapshot, session, [&] {
      return lazysnap::RestoreSession::StartWithUserfaultfd(snapshot->reader, std::move(*addresses),
                                                            std::move(uffd),
                                                            lazysnap::RestoreOptionsOf(options, *snapshot));
    });
  });
}

void lazysnap_session_free(lazysnap_session_t* session) { delete session; }

lazysnap_code lazysnap_session_region_memory(const lazysnap_session_t* session, uint32_t region,
                                             void** data, uint64_t* length_bytes, char** error) {
  return Guarded(error, [&]() -> absl::Status {
    constexpr std::string_view kCall = "lazysnap_session_region_memory";
    if (session == nullptr) return NullArgument(kCall, "session");
    if (data == nullptr) return NullArgument(kCall, "data");
    if (length_bytes == nullptr) return NullArgument(kCall, "length_bytes");
    *data = nullptr;
    *length_bytes = 0;
    const size_t regions = session->snapshot->regions().size();
    if (region >= regions) {
      return absl::OutOfRangeError(absl::StrFormat("%s: region %d of %d", kCall, region, regions));
    }
    const std::span<uint8_t> memory = session->session->region_memory(region);
    if (memory.empty()) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "%s: region %d is another process's memory (a handed-over userfaultfd)", kCall, region));
    }
    *data = memory.data();
    *length_bytes = memory.size();
    return absl::OkStatus();
  });
}

lazysnap_code lazysnap_session_get_stats(const lazysnap_session_t* session, lazysnap_stats* stats,
                                         size_t stats_size, char** error) {
  return Guarded(error, [&]() -> absl::Status {
    constexpr std::string_view kCall = "lazysnap_session_get_stats";
    if (session == nullptr) return NullArgument(kCall, "session");
    if (stats == nullptr) return NullArgument(kCall, "stats");
    lazysnap::CopyOut(lazysnap::StatsOf(session->session->stats()), stats, stats_size);
    return absl::OkStatus();
  });
}

lazysnap_code lazysnap_session_get_features(const lazysnap_session_t* session,
                                            lazysnap_session_features* features,
                                            size_t features_size, char** error) {
  return Guarded(error, [&]() -> absl::Status {
    constexpr std::string_view kCall = "lazysnap_session_get_features";
    if (session == nullptr) return NullArgument(kCall, "session");
    if (features == nullptr) return NullArgument(kCall, "features");
    const lazysnap::SessionFeatures f = session->session->features();
    const lazysnap_session_features result = {
        .userfaultfd = lazysnap::Intern(session, f.userfaultfd),
        .enabled_features = f.enabled_features,
        .serves_kernel_faults = f.serves_kernel_faults ? 1 : 0,
        .handler_threads = f.handler_threads,
        .reader = lazysnap::Intern(session, f.reader),
        .install = lazysnap::Intern(session, f.install),
        .poison = lazysnap::PoisonOf(f.poison),
        .reserved = 0,
    };
    lazysnap::CopyOut(result, features, features_size);
    return absl::OkStatus();
  });
}

lazysnap_code lazysnap_session_status(const lazysnap_session_t* session, char** error) {
  return Guarded(error, [&]() -> absl::Status {
    if (session == nullptr) return NullArgument("lazysnap_session_status", "session");
    return session->session->status();
  });
}

lazysnap_code lazysnap_session_close(lazysnap_session_t* session, lazysnap_close_mode mode,
                                     char** error) {
  return Guarded(error, [&]() -> absl::Status {
    constexpr std::string_view kCall = "lazysnap_session_close";
    if (session == nullptr) return NullArgument(kCall, "session");
    if (mode != LAZYSNAP_CLOSE_FINISH_RESTORE && mode != LAZYSNAP_CLOSE_DISCARD) {
      return lazysnap::OutOfBounds(kCall, "mode", mode, LAZYSNAP_CLOSE_FINISH_RESTORE,
                                   LAZYSNAP_CLOSE_DISCARD);
    }
    return session->session->Close(mode == LAZYSNAP_CLOSE_DISCARD
                                       ? lazysnap::CloseMode::kDiscard
                                       : lazysnap::CloseMode::kFinishRestore);
  });
}

// ---- Host features -----------------------------------------------------------------

lazysnap_code lazysnap_host_features_probe(uint32_t flags, lazysnap_host_features_t** features,
                                           char** error) {
  return Guarded(error, [&]() -> absl::Status {
    constexpr std::string_view kCall = "lazysnap_host_features_probe";
    if (features == nullptr) return NullArgument(kCall, "features");
    *features = nullptr;
    if ((flags & ~LAZYSNAP_PROBE_REQUIRE_KERNEL_FAULTS) != 0) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: unknown flags 0x%x", kCall, flags & ~LAZYSNAP_PROBE_REQUIRE_KERNEL_FAULTS));
    }
    auto handle = std::make_unique<lazysnap_host_features_t>();
    handle->host = lazysnap::ProbeHostFeatures((flags & LAZYSNAP_PROBE_REQUIRE_KERNEL_FAULTS) != 0);
    handle->open_message = std::string(handle->host.open_status.message());
    handle->handshake_message = std::string(handle->host.handshake_status.message());
    for (const lazysnap::FeatureInfo& info : lazysnap::AllFeatures()) {
      handle->features.push_back({info.feature, std::string(info.name), std::string(info.since),
                                  std::string(info.purpose), std::string(info.fallback)});
    }
    *features = handle.release();
    return absl::OkStatus();
  });
}

void lazysnap_host_features_free(lazysnap_host_features_t* features) { delete features; }

lazysnap_code lazysnap_host_features_get(const lazysnap_host_features_t* features,
                                         lazysnap_host_features_info* info, size_t info_size,
                                         char** error) {
  return Guarded(error, [&]() -> absl::Status {
    constexpr std::string_view kCall = "lazysnap_host_features_get";
    if (features == nullptr) return NullArgument(kCall, "features");
    if (info == nullptr) return NullArgument(kCall, "info");
    const lazysnap::HostFeatures& host = features->host;
    const lazysnap_host_features_info result = {
        .kernel_release = host.kernel_release.c_str(),
        .can_restore = host.can_restore ? 1 : 0,
        .serves_kernel_faults = host.serves_kernel_faults ? 1 : 0,
        .open_code = lazysnap::CodeOf(host.open_status),
        .handshake_code = lazysnap::CodeOf(host.handshake_status),
        .open_path = host.open_path.c_str(),
        .open_message = features->open_message.c_str(),
        .handshake_message = features->handshake_message.c_str(),
        .reported_features = host.reported,
        .enabled_features = host.enabled,
        .known_features = lazysnap::kKnownFeatures,
        .io_uring_available = host.io_uring_available ? 1 : 0,
        .open_attempt_count = static_cast<uint32_t>(host.open_attempts.size()),
        .io_uring_detail = host.io_uring_detail.c_str(),
    };
    lazysnap::CopyOut(result, info, info_size);
    return absl::OkStatus();
  });
}

const char* lazysnap_host_features_open_attempt(const lazysnap_host_features_t* features,
                                                uint32_t index) {
  if (features == nullptr || index >= features->host.open_attempts.size()) return nullptr;
  return features->host.open_attempts[index].c_str();
}

lazysnap_code lazysnap_host_features_feature(const lazysnap_host_features_t* features,
                                             uint64_t feature, lazysnap_feature_info* info,
                                             size_t info_size, char** error) {
  return Guarded(error, [&]() -> absl::Status {
    constexpr std::string_view kCall = "lazysnap_host_features_feature";
    if (features == nullptr) return NullArgument(kCall, "features");
    if (info == nullptr) return NullArgument(kCall, "info");
    const lazysnap_host_features_t::Feature* found = nullptr;
    for (const auto& f : features->features) {
      if (lazysnap::Bit(f.feature) == feature) found = &f;
    }
    if (found == nullptr) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: 0x%x is not one userfaultfd feature bit lazysnap knows", kCall, feature));
    }
    int32_t state = LAZYSNAP_FEATURE_NOT_REQUESTED;
    for (const lazysnap::FeatureDecision& decision : features->host.decisions) {
      if (decision.feature == found->feature) state = lazysnap::StateOf(decision.state);
    }
    const lazysnap_feature_info result = {
        .name = found->name.c_str(),
        .since = found->since.c_str(),
        .purpose = found->purpose.c_str(),
        .fallback = found->fallback.c_str(),
        .supported = features->host.Supported(found->feature) ? 1 : 0,
        .state = state,
    };
    lazysnap::CopyOut(result, info, info_size);
    return absl::OkStatus();
  });
}

}  // extern "C"
