// lazysnap push: upload a snapshot to object storage, so that any host can restore it.
#include <cstdio>
#include <string>

#include "absl/strings/str_format.h"
#include "remote/object_upload.h"
#include "remote/object_url.h"
#include "tools/commands.h"
#include "tools/progress.h"

namespace lazysnap::cli {
namespace {

const CommandSpec kPushSpec = {
    .name = "push",
    .synopsis = "SNAP URL [--part-size SIZE]",
    .summary = "upload a snapshot to s3://bucket/key or an http(s):// URL",
    .description =
        "Uploads SNAP so that `lazysnap restore URL` can restore it on any host. For\n"
        "s3://BUCKET/KEY the endpoint, region and credentials come from the usual AWS\n"
        "variables and files (AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID,\n"
        "AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ~/.aws/config, ~/.aws/credentials); requests\n"
        "are signed with SigV4. Snapshots over 1 GiB go up as a multipart upload in parts\n"
        "of --part-size. An http(s):// URL takes one PUT (a WebDAV server, a presigned URL).\n"
        "`aws s3 cp SNAP s3://BUCKET/KEY` does the same job.",
    .min_positional = 2,
    .max_positional = 2,
    .flags = {{"part-size", "SIZE", "multipart part size (default 64M, at least 5M)"}}};

int RunPush(const ParsedArgs& args) {
  const std::string snapshot = args.positional()[0];
  const std::string url = args.positional()[1];
  if (!remote::IsRemoteUrl(url)) {
    return UsageError(kPushSpec, absl::StrFormat("%s: not an s3://, http:// or https:// URL", url));
  }
  remote::UploadOptions options;
  if (args.Has("part-size")) {
    auto size = ParseSize(args.Value("part-size"));
    if (!size.ok() || *size < (5 << 20) || *size > (uint64_t{5} << 30)) {
      return UsageError(kPushSpec, absl::StrFormat("--part-size %s: must be from 5M to 5G",
                                                   args.Value("part-size")));
    }
    options.part_size_bytes = *size;
  }
  Progress progress("push", Progress::StderrIsTerminal());
  options.progress = [&progress](uint64_t done, uint64_t total) { progress.Update(done, total); };
  auto summary = remote::UploadFile(snapshot, url, options);
  progress.Finish();
  if (!summary.ok()) return Fail(kPushSpec.name, summary.status());
  std::printf("%s -> %s: %s in %s (%s)%s\n", snapshot.c_str(), url.c_str(),
              FormatBytes(summary->size_bytes).c_str(), FormatDuration(summary->seconds).c_str(),
              FormatRate(summary->size_bytes / std::max(summary->seconds, 1e-9)).c_str(),
              summary->parts > 0 ? absl::StrFormat(", %d parts", summary->parts).c_str() : "");
  return kExitOk;
}

}  // namespace

const Command& PushCommand() {
  static const Command command{kPushSpec, RunPush};
  return command;
}

}  // namespace lazysnap::cli
