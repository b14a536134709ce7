// The userfaultfd features each restore mode asks for.
#include "engine/restore_options.h"

namespace lazysnap {

FeatureRequest FeatureRequestFor(const RestoreOptions& options) {
  FeatureRequest request;
  request.wanted = Bit(UffdFeature::kEventRemove) | Bit(UffdFeature::kEventUnmap) |
                   Bit(UffdFeature::kThreadId) | Bit(UffdFeature::kPoison);
  if (options.serving == ServingMode::kSigbus) request.required |= Bit(UffdFeature::kSigbus);
  return request;
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
