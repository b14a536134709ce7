// The userfaultfd features lazysnap knows, and feature negotiation as a pure function of
// (what we require, what we would like, what the kernel reported) -> (what we enable and
// which fallback applies to each optional feature, or an error naming what is missing).
//
// Nothing here talks to the kernel: userfaultfd.h does the handshake and calls
// NegotiateFeatures with the kernel's answer.
#ifndef LAZYSNAP_ENGINE_UFFD_FEATURES_H_
#define LAZYSNAP_ENGINE_UFFD_FEATURES_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace lazysnap {

// UffdFeature: one UFFD_FEATURE_* bit (values as in the kernel's uapi header).
enum class UffdFeature : uint64_t {
  kPagefaultFlagWp = 1ull << 0,
  kEventFork = 1ull << 1,
  kEventRemap = 1ull << 2,
  kEventRemove = 1ull << 3,
  kMissingHugetlbfs = 1ull << 4,
  kMissingShmem = 1ull << 5,
  kEventUnmap = 1ull << 6,
  kSigbus = 1ull << 7,
  kThreadId = 1ull << 8,
  kMinorHugetlbfs = 1ull << 9,
  kMinorShmem = 1ull << 10,
  kExactAddress = 1ull << 11,
  kWpHugetlbfsShmem = 1ull << 12,
  kWpUnpopulated = 1ull << 13,
  kPoison = 1ull << 14,
  kWpAsync = 1ull << 15,
  kMove = 1ull << 16,
};

// FeatureSet: a set of UffdFeature bits.
using FeatureSet = uint64_t;
constexpr FeatureSet Bit(UffdFeature feature) { return static_cast<FeatureSet>(feature); }

// KnownFeatures is every bit lazysnap knows a meaning for (bits 0-16).
inline constexpr FeatureSet kKnownFeatures = (1ull << 17) - 1;

// FeatureInfo: what a feature is for and what lazysnap does without it.
struct FeatureInfo {
  UffdFeature feature;
  std::string_view name;       // "POISON"
  std::string_view since;      // first kernel with it ("6.6")
  std::string_view purpose;    // what lazysnap uses it for
  std::string_view fallback;   // behaviour when it is wanted but missing
};

// AllFeatures lists FeatureInfo for every known feature, in bit order.
const std::vector<FeatureInfo>& AllFeatures();
const FeatureInfo& InfoOf(UffdFeature feature);

// FeatureNames renders a set as "EVENT_REMOVE|POISON"; unknown bits as hex.
std::string FeatureNames(FeatureSet features);

// FeatureRequest: what the caller needs. Required features missing from the kernel are
// an error; wanted ones degrade to their fallback.
struct FeatureRequest {
  FeatureSet required = 0;
  FeatureSet wanted = 0;
};

// FeatureState: the outcome for one known feature.
enum class FeatureState {
  kEnabled,       // requested and reported: in use
  kFallback,      // wanted but not reported: the fallback applies
  kNotRequested,  // supported or not, lazysnap does not ask for it here
};

struct FeatureDecision {
  UffdFeature feature;
  bool supported = false;  // reported by the kernel
  FeatureState state = FeatureState::kNotRequested;
};

// Negotiation: the result of NegotiateFeatures.
struct Negotiation {
  FeatureSet request = 0;  // exactly what to send in UFFDIO_API: a subset of `reported`
  std::vector<FeatureDecision> decisions;  // one per known feature, in bit order
};

// NegotiateFeatures decides what to enable. `reported` is the kernel's answer to a
// features=0 probe. The request never contains a bit the kernel did not report, nor a
// bit lazysnap does not know. FailedPrecondition when a required feature is not
// reported, naming each missing feature, its purpose and the kernel that added it.
absl::StatusOr<Negotiation> NegotiateFeatures(const FeatureRequest& request,
                                              FeatureSet reported);

}  // namespace lazysnap

#endif  // LAZYSNAP_ENGINE_UFFD_FEATURES_H_
