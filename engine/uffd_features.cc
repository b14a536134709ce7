// The feature table and the negotiation rule.
#include "engine/uffd_features.h"

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace lazysnap {

const std::vector<FeatureInfo>& AllFeatures() {
  static const std::vector<FeatureInfo>* features = new std::vector<FeatureInfo>{
      {UffdFeature::kPagefaultFlagWp, "PAGEFAULT_FLAG_WP", "4.3",
       "write-protect faults, for dirty tracking after a restore",
       "no dirty tracking: every restored page counts as written"},
      {UffdFeature::kEventFork, "EVENT_FORK", "4.11",
       "a uffd for a forked child's copy of the region",
       "not used: a child forked during restore sees untouched pages as zero"},
      {UffdFeature::kEventRemap, "EVENT_REMAP", "4.11", "follow mremap of a restored region",
       "not used: a region must not be moved with mremap while it is being restored"},
      {UffdFeature::kEventRemove, "EVENT_REMOVE", "4.11",
       "ranges dropped with madvise(DONTNEED) (a balloon) read as zeros, not snapshot data",
       "pages dropped after they were restored read as zeros; pages dropped before they "
       "were restored come back with snapshot content"},
      {UffdFeature::kMissingHugetlbfs, "MISSING_HUGETLBFS", "4.11",
       "restore into hugetlbfs-backed guest memory",
       "guest memory on hugetlbfs cannot be restored lazily"},
      {UffdFeature::kMissingShmem, "MISSING_SHMEM", "4.11",
       "restore into shared-memory (memfd, shmem) guest memory",
       "guest memory on shmem/memfd cannot be restored lazily"},
      {UffdFeature::kEventUnmap, "EVENT_UNMAP", "4.11",
       "stop serving ranges the owner unmapped",
       "a copy into an unmapped range fails with ENOENT and is treated as range gone"},
      {UffdFeature::kSigbus, "SIGBUS", "4.14",
       "in-process restores: the faulting thread serves its own fault from a SIGBUS "
       "handler (user-mode faults only)",
       "faults are served by handler threads"},
      {UffdFeature::kThreadId, "THREAD_ID", "4.14", "record which thread faulted",
       "faults are not attributed to threads"},
      {UffdFeature::kMinorHugetlbfs, "MINOR_HUGETLBFS", "5.13",
       "minor-fault mode on hugetlbfs (UFFDIO_CONTINUE over page cache)",
       "missing-fault mode with UFFDIO_COPY"},
      {UffdFeature::kMinorShmem, "MINOR_SHMEM", "5.14",
       "minor-fault mode on shmem (UFFDIO_CONTINUE over page cache)",
       "missing-fault mode with UFFDIO_COPY"},
      {UffdFeature::kExactAddress, "EXACT_ADDRESS", "5.18", "unmasked fault addresses",
       "not needed: page-aligned fault addresses suffice"},
      {UffdFeature::kWpHugetlbfsShmem, "WP_HUGETLBFS_SHMEM", "5.19",
       "write-protect on hugetlbfs and shmem memory",
       "dirty tracking only on anonymous memory"},
      {UffdFeature::kWpUnpopulated, "WP_UNPOPULATED", "6.4",
       "write-protect pages that are not populated yet",
       "write-protect only after pages are populated"},
      {UffdFeature::kPoison, "POISON", "6.6",
       "a chunk that fails its checksum is poisoned: touching it raises SIGBUS",
       "a corrupt chunk is reported through the session's error callback and its faulting "
       "threads stay blocked until the session is closed"},
      {UffdFeature::kWpAsync, "WP_ASYNC", "6.7",
       "write-protect faults resolved by the kernel (dirty bits without a round trip)",
       "synchronous write-protect faults"},
      {UffdFeature::kMove, "MOVE", "6.8", "install pages by moving them (UFFDIO_MOVE)",
       "not used: pages are installed with UFFDIO_COPY"},
  };
  return *features;
}

const FeatureInfo& InfoOf(UffdFeature feature) {
  for (const FeatureInfo& info : AllFeatures()) {
    if (info.feature == feature) return info;
  }
  return AllFeatures().front();  // unreachable for a valid enumerator
}

std::string FeatureNames(FeatureSet features) {
  std::vector<std::string> names;
  for (const FeatureInfo& info : AllFeatures()) {
    if (features & Bit(info.feature)) names.emplace_back(info.name);
  }
  if (FeatureSet unknown = features & ~kKnownFeatures; unknown != 0) {
    names.push_back(absl::StrFormat("0x%x", unknown));
  }
  if (names.empty()) return "(none)";
  return absl::StrJoin(names, "|");
}

absl::StatusOr<Negotiation> NegotiateFeatures(const FeatureRequest& request,
                                              FeatureSet reported) {
  const FeatureSet missing = request.required & ~reported;
  if (missing != 0) {
    std::vector<std::string> reasons;
    for (const FeatureInfo& info : AllFeatures()) {
      if (missing & Bit(info.feature)) {
        reasons.push_back(absl::StrFormat("%s (for %s; Linux %s or later)", info.name,
                                          info.purpose, info.since));
      }
    }
    if (FeatureSet unknown = missing & ~kKnownFeatures; unknown != 0) {
      reasons.push_back(absl::StrFormat("unknown feature bits 0x%x", unknown));
    }
    return absl::FailedPreconditionError(
        absl::StrFormat("the kernel's userfaultfd lacks required feature%s: %s",
                        reasons.size() > 1 ? "s" : "", absl::StrJoin(reasons, "; ")));
  }
  Negotiation negotiation;
  // Only known bits that the kernel reported are ever sent.
  negotiation.request = (request.required | request.wanted) & reported & kKnownFeatures;
  for (const FeatureInfo& info : AllFeatures()) {
    FeatureDecision decision{info.feature, (reported & Bit(info.feature)) != 0,
                             FeatureState::kNotRequested};
    if (negotiation.request & Bit(info.feature)) {
      decision.state = FeatureState::kEnabled;
    } else if ((request.required | request.wanted) & Bit(info.feature)) {
      decision.state = FeatureState::kFallback;
    }
    negotiation.decisions.push_back(decision);
  }
  return negotiation;
}

}  // namespace lazysnap
