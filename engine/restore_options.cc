// The userfaultfd features each restore mode asks for.
#include "engine/restore_options.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_format.h"

namespace lazysnap {

FeatureRequest FeatureRequestFor(const RestoreOptions& options) {
  FeatureRequest request;
  request.wanted = Bit(UffdFeature::kEventRemove) | Bit(UffdFeature::kEventUnmap) |
                   Bit(UffdFeature::kThreadId) | Bit(UffdFeature::kPoison);
  if (options.serving == ServingMode::kSigbus) request.required |= Bit(UffdFeature::kSigbus);
  return request;
}

uint64_t RestoreBufferBytes(const RestoreOptions& options, uint64_t chunk_size_bytes,
                            uint64_t max_stored_length_bytes, int online_cpus) {
  const uint64_t pair = chunk_size_bytes + max_stored_length_bytes;
  const uint64_t workers = static_cast<uint64_t>(
      std::max(1, options.handler_threads > 0 ? options.handler_threads : online_cpus));
  uint64_t pairs;
  if (options.serving == ServingMode::kSigbus) {
    pairs = 2 * workers + 2;
  } else {
    pairs = workers * std::max<uint64_t>(1, options.reads_in_flight) + workers;
  }
  if (options.background_populate) ++pairs;
  return pairs * pair;
}

absl::Status ValidateRestoreOptions(const RestoreOptions& options, uint64_t chunk_size_bytes,
                                    uint64_t max_stored_length_bytes, int online_cpus,
                                    uint64_t budget_bytes) {
  if (options.handler_threads < 0 || options.handler_threads > 1024) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "handler_threads %d is not in [0, 1024]", options.handler_threads));
  }
  if (options.reads_in_flight < 1 || options.reads_in_flight > 4096) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "reads_in_flight %d is not in [1, 4096]", options.reads_in_flight));
  }
  if (options.readahead_chunks > 65536) {
    return absl::InvalidArgumentError(
        absl::StrFormat("readahead_chunks %d is more than 65536", options.readahead_chunks));
  }
  if (options.handler_nice < -20 || options.handler_nice > 19) {
    return absl::InvalidArgumentError(
        absl::StrFormat("handler_nice %d is not in [-20, 19]", options.handler_nice));
  }
  const uint64_t bytes =
      RestoreBufferBytes(options, chunk_size_bytes, max_stored_length_bytes, online_cpus);
  if (bytes > budget_bytes) {
    const int threads = options.handler_threads > 0 ? options.handler_threads : online_cpus;
    const std::string shape =
        options.serving == ServingMode::kSigbus
            ? absl::StrFormat("handler_threads %d (SIGBUS mode: %d buffer pairs)", threads,
                              2 * threads + 2)
            : absl::StrFormat("handler_threads %d x reads_in_flight %d", threads,
                              options.reads_in_flight);
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s x %d bytes per read (a %d-byte chunk and its stored form) need %d bytes of chunk "
        "buffers, more than the %d allowed",
        shape, chunk_size_bytes + max_stored_length_bytes, chunk_size_bytes, bytes, budget_bytes));
  }
  return absl::OkStatus();
}

FeatureRequest AllEngineFeatures() {
  RestoreOptions sigbus;
  sigbus.serving = ServingMode::kSigbus;
  FeatureRequest request = FeatureRequestFor(sigbus);
  request.wanted |= request.required;
  request.required = 0;
  return request;
}

}  // namespace lazysnap
