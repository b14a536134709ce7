// HostFeatures: what this host's kernel offers lazysnap, as data: the userfaultfd open
// paths tried, the features the kernel reports and what a restore would enable or fall
// back from, io_uring. `lazysnap features` prints it; embedders can check it before
// choosing options. Part of the public API.
#ifndef LAZYSNAP_ENGINE_HOST_FEATURES_H_
#define LAZYSNAP_ENGINE_HOST_FEATURES_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/uffd_features.h"

namespace lazysnap {

struct HostFeatures {
  std::string kernel_release;
  // Whether lazysnap can restore lazily here at all.
  bool can_restore = false;
  // The userfaultfd: OK when some open path worked; the path that did ("/dev/userfaultfd",
  // "userfaultfd(2)", "userfaultfd(2) with UFFD_USER_MODE_ONLY"); whether it serves
  // faults the kernel raises itself (KVM, read(2) into restored memory); and every path
  // tried, with its outcome.
  absl::Status open_status;
  std::string open_path;
  bool serves_kernel_faults = false;
  std::vector<std::string> open_attempts;
  // The handshake: OK when negotiation succeeded; then what the kernel reported, what a
  // restore with every optional feature wanted would enable, and per feature the decision.
  absl::Status handshake_status;
  FeatureSet reported = 0;
  FeatureSet enabled = 0;
  std::vector<FeatureDecision> decisions;
  // io_uring for chunk reads: available, and a detail ("io_uring with IORING_OP_READ" or
  // why not).
  bool io_uring_available = false;
  std::string io_uring_detail;

  // Supported / Enabled: whether the kernel reported / the handshake enabled `feature`.
  bool Supported(UffdFeature feature) const { return (reported & Bit(feature)) != 0; }
  bool Enabled(UffdFeature feature) const { return (enabled & Bit(feature)) != 0; }
};

// ProbeHostFeatures runs the handshake a restore would (asking for every feature any
// restore mode may use; with `require_kernel_faults`, refusing UFFD_USER_MODE_ONLY) on a
// throwaway userfaultfd and reports what it learned. Never fails: failures are in the
// report.
HostFeatures ProbeHostFeatures(bool require_kernel_faults = false);

}  // namespace lazysnap

#endif  // LAZYSNAP_ENGINE_HOST_FEATURES_H_
