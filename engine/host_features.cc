// ProbeHostFeatures: the handshake's probe report, as public data.
#include "engine/host_features.h"

#include "engine/kernel.h"
#include "engine/restore_options.h"
#include "engine/userfaultfd.h"

namespace lazysnap {

HostFeatures ProbeHostFeatures(bool require_kernel_faults) {
  UffdOptions options;
  options.features = AllEngineFeatures();
  options.allow_user_mode_only = !require_kernel_faults;
  const UffdProbeReport report = ProbeUserfaultfd(LinuxKernel(), options);
  HostFeatures features;
  features.kernel_release = report.kernel_release;
  features.can_restore = report.can_restore;
  features.open_status = report.open_status;
  if (report.open_status.ok()) {
    features.open_path = std::string(UffdOpenPathName(report.open_path));
    features.serves_kernel_faults = report.open_path != UffdOpenPath::kUserModeOnly;
  }
  features.open_attempts = report.open_attempts;
  features.handshake_status = report.handshake_status;
  if (report.handshake_status.ok()) {
    features.reported = report.capabilities.reported;
    features.enabled = report.capabilities.enabled;
    features.decisions = report.capabilities.decisions;
  }
  features.io_uring_available = report.io_uring.available;
  features.io_uring_detail = report.io_uring.detail;
  return features;
}

}  // namespace lazysnap
