#include "engine/uffd_features.h"

#include <gtest/gtest.h>

namespace lazysnap {
namespace {

FeatureState StateOf(const Negotiation& n, UffdFeature feature) {
  for (const FeatureDecision& d : n.decisions) {
    if (d.feature == feature) return d.state;
  }
  ADD_FAILURE() << "no decision for " << InfoOf(feature).name;
  return FeatureState::kNotRequested;
}

TEST(NegotiateFeatures, EnablesOnlyWhatIsWantedAndReported) {
  FeatureRequest request;
  request.wanted = Bit(UffdFeature::kEventRemove) | Bit(UffdFeature::kPoison);
  auto n = NegotiateFeatures(request, Bit(UffdFeature::kEventRemove) | Bit(UffdFeature::kMove));
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(n->request, Bit(UffdFeature::kEventRemove));
  EXPECT_EQ(StateOf(*n, UffdFeature::kEventRemove), FeatureState::kEnabled);
  EXPECT_EQ(StateOf(*n, UffdFeature::kPoison), FeatureState::kFallback);
  EXPECT_EQ(StateOf(*n, UffdFeature::kMove), FeatureState::kNotRequested);
  EXPECT_EQ(n->decisions.size(), AllFeatures().size());
}

TEST(NegotiateFeatures, NeverRequestsUnknownOrUnreportedBits) {
  FeatureRequest request;
  request.wanted = ~0ull;  // even a caller asking for everything
  const FeatureSet reported = Bit(UffdFeature::kSigbus) | (1ull << 40);
  auto n = NegotiateFeatures(request, reported);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->request, Bit(UffdFeature::kSigbus));
}

TEST(NegotiateFeatures, MissingRequiredFeatureIsAnErrorNamingIt) {
  FeatureRequest request;
  request.required = Bit(UffdFeature::kMissingShmem) | Bit(UffdFeature::kMinorShmem);
  request.wanted = Bit(UffdFeature::kEventRemove);
  auto n = NegotiateFeatures(request, Bit(UffdFeature::kMissingShmem));
  ASSERT_TRUE(absl::IsFailedPrecondition(n.status())) << n.status();
  EXPECT_NE(n.status().message().find("MINOR_SHMEM"), absl::string_view::npos);
  EXPECT_NE(n.status().message().find("5.14"), absl::string_view::npos);
  EXPECT_EQ(n.status().message().find("MISSING_SHMEM ("), absl::string_view::npos);
}

TEST(NegotiateFeatures, OldKernelReportingNothingGetsAnEmptyRequest) {
  FeatureRequest request;
  request.wanted = Bit(UffdFeature::kEventRemove) | Bit(UffdFeature::kThreadId);
  auto n = NegotiateFeatures(request, 0);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->request, 0u);
  EXPECT_EQ(StateOf(*n, UffdFeature::kThreadId), FeatureState::kFallback);
}

TEST(FeatureNames, RendersKnownAndUnknownBits) {
  EXPECT_EQ(FeatureNames(0), "(none)");
  EXPECT_EQ(FeatureNames(Bit(UffdFeature::kEventRemove) | Bit(UffdFeature::kMove)),
            "EVENT_REMOVE|MOVE");
  EXPECT_EQ(FeatureNames(1ull << 20), "0x100000");
}

TEST(FeatureTable, CoversEveryBitInOrderWithAFallback) {
  uint64_t expected = 1;
  for (const FeatureInfo& info : AllFeatures()) {
    EXPECT_EQ(Bit(info.feature), expected) << info.name;
    EXPECT_FALSE(info.fallback.empty()) << info.name;
    expected <<= 1;
  }
  EXPECT_EQ(expected, kKnownFeatures + 1);
}

}  // namespace
}  // namespace lazysnap
