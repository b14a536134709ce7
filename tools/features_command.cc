// lazysnap features: what this host's kernel offers lazysnap, as `criu check` does for
// CRIU: the first thing a runtime operator runs.
#include <cstdio>
#include <string>

#include "absl/strings/str_format.h"
#include "base/json_writer.h"
#include "engine/host_features.h"
#include "tools/commands.h"

namespace lazysnap::cli {
namespace {

const CommandSpec kFeaturesSpec = {
    .name = "features",
    .synopsis = "[--json] [--require-kernel-faults]",
    .summary = "check what userfaultfd and io_uring offer lazysnap on this host",
    .description =
        "Opens a userfaultfd the way a restore would (/dev/userfaultfd, then\n"
        "userfaultfd(2), then UFFD_USER_MODE_ONLY), probes the kernel's features on a\n"
        "throwaway descriptor, negotiates what lazysnap uses and prints, for every\n"
        "feature, whether the kernel supports it, whether lazysnap enabled it, and what\n"
        "lazysnap does without it. Exit status 0 when lazysnap can restore here, 1 when it\n"
        "cannot at all (the message says why and how to fix it).",
    .min_positional = 0,
    .max_positional = 0,
    .flags = {{"json", "", "print as JSON on stdout"},
              {"require-kernel-faults", "",
               "refuse UFFD_USER_MODE_ONLY, as a VM runtime must (KVM faults are kernel faults)"}}};

const char* StateName(FeatureState state) {
  switch (state) {
    case FeatureState::kEnabled: return "enabled";
    case FeatureState::kFallback: return "fallback";
    case FeatureState::kNotRequested: return "not used";
  }
  return "?";
}

int RunFeatures(const ParsedArgs& args) {
  const HostFeatures host = ProbeHostFeatures(args.Has("require-kernel-faults"));
  if (args.Has("json")) {
    JsonWriter json;
    json.BeginObject()
        .Member("kernel_release", host.kernel_release)
        .Member("can_restore", host.can_restore);
    json.Key("userfaultfd").BeginObject();
    json.Member("opened", host.open_status.ok());
    if (host.open_status.ok()) {
      json.Member("open_path", host.open_path)
          .Member("serves_kernel_faults", host.serves_kernel_faults);
    }
    json.Key("attempts").BeginArray();
    for (const std::string& attempt : host.open_attempts) json.String(attempt);
    json.EndArray();
    if (!host.handshake_status.ok()) {
      json.Member("error", std::string(host.handshake_status.message()));
    } else {
      json.Member("reported_features", host.reported).Member("enabled_features", host.enabled);
    }
    json.EndObject();
    json.Key("features").BeginArray();
    for (const FeatureInfo& info : AllFeatures()) {
      json.BeginObject().Member("name", std::string(info.name)).Member("since", std::string(info.since));
      if (host.can_restore) {
        for (const FeatureDecision& d : host.decisions) {
          if (d.feature != info.feature) continue;
          json.Member("supported", d.supported).Member("state", StateName(d.state));
        }
      }
      json.Member("purpose", std::string(info.purpose))
          .Member("fallback", std::string(info.fallback))
          .EndObject();
    }
    json.EndArray();
    json.Key("io_uring")
        .BeginObject()
        .Member("available", host.io_uring_available)
        .Member("detail", host.io_uring_detail)
        .EndObject();
    json.EndObject();
    std::printf("%s\n", json.text().c_str());
    return host.can_restore ? kExitOk : kExitFailure;
  }

  std::printf("kernel       %s\n", host.kernel_release.c_str());
  if (!host.open_status.ok()) {
    std::printf("userfaultfd  unavailable\n");
    std::printf("\nlazysnap cannot restore lazily here: %s\n",
                std::string(host.open_status.message()).c_str());
    std::printf("io_uring     %s\n", host.io_uring_detail.c_str());
    return kExitFailure;
  }
  std::printf("userfaultfd  %s%s\n", host.open_path.c_str(),
              !host.serves_kernel_faults
                  ? " (user-mode faults only: KVM and read(2) into restored memory are not "
                    "served)"
                  : " (serves user- and kernel-mode faults)");
  for (size_t i = 0; i + 1 < host.open_attempts.size(); ++i) {
    std::printf("             tried first: %s\n", host.open_attempts[i].c_str());
  }
  std::printf("io_uring     %s\n", host.io_uring_detail.c_str());
  if (!host.handshake_status.ok()) {
    std::printf("\nlazysnap cannot restore lazily here: %s\n",
                std::string(host.handshake_status.message()).c_str());
    return kExitFailure;
  }
  std::printf("features     reported 0x%llx, enabled %s\n\n",
              static_cast<unsigned long long>(host.reported), FeatureNames(host.enabled).c_str());
  std::printf("  %-19s %-6s %-9s %s\n", "FEATURE", "SINCE", "STATE", "WHAT IT GIVES / WITHOUT IT");
  for (const FeatureDecision& d : host.decisions) {
    const FeatureInfo& info = InfoOf(d.feature);
    const char* state = !d.supported ? (d.state == FeatureState::kFallback ? "missing" : "absent")
                                     : StateName(d.state);
    std::printf("  %-19s %-6s %-9s %s\n", std::string(info.name).c_str(),
                std::string(info.since).c_str(), state,
                std::string(d.supported ? info.purpose : info.fallback).c_str());
  }
  std::printf("\nlazysnap can restore here: handler threads%s%s%s.\n",
              host.Supported(UffdFeature::kSigbus) ? "; SIGBUS self-service available" : "",
              host.Supported(UffdFeature::kPoison) ? "; corrupt chunks are poisoned" : "",
              host.io_uring_available ? "; chunk reads with io_uring" : "; chunk reads with pread");
  return kExitOk;
}

}  // namespace

const Command& FeaturesCommand() {
  static const Command command{kFeaturesSpec, RunFeatures};
  return command;
}

}  // namespace lazysnap::cli
