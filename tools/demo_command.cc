// lazysnap demo: the whole story on one machine: make a memory-like image, snapshot it,
// check it, restore it eagerly and lazily, verify every byte, and compare.
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include "absl/strings/str_format.h"
#include "base/file_io.h"
#include "engine/guest_memory.h"
#include "snapshot_format/image_decoder.h"
#include "snapshot_format/image_source.h"
#include "snapshot_format/snapshot_reader.h"
#include "snapshot_format/snapshot_writer.h"
#include "tools/commands.h"
#include "tools/progress.h"
#include "tools/restore_run.h"
#include "tools/snapshot_report.h"
#include "workload/synthetic_image.h"

namespace lazysnap::cli {
namespace {

const CommandSpec kDemoSpec = {
    .name = "demo",
    .synopsis = "[--size SIZE] [--dir DIR] [--keep]",
    .summary = "make a memory-like image, snapshot, verify and restore it eagerly and lazily",
    .description =
        "Writes a synthetic memory image (about 40% zero pages, runs of heap-like and\n"
        "random pages), snapshots it with `create`, checks it with `inspect` and `verify`,\n"
        "then restores it three ways and compares every byte with the image:\n"
        "  eager         decode the whole snapshot into memory, then touch it (what\n"
        "                `extract` does, into memory instead of a file)\n"
        "  lazy ws:10    restore lazily and touch a random 10% of the pages\n"
        "  lazy full     restore lazily and touch every page in order\n"
        "Two toucher threads each time. The files go to a temporary directory that is\n"
        "removed at the end unless --keep is given.",
    .min_positional = 0,
    .max_positional = 0,
    .flags = {{"size", "SIZE", "image size (default 1G)"},
              {"dir", "DIR", "directory for the image and snapshot (default: a new temporary one)"},
              {"chunk-size", "SIZE", "snapshot chunk size (default 32K)"},
              {"keep", "", "keep the image and snapshot"}}};

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

struct Row {
  std::string name;
  double ready_seconds = 0;
  double touch_seconds = 0;
  uint64_t pages = 0;
  uint64_t bytes_read = 0;
  bool verified = false;
  std::string note;
};

// EagerRestore decodes every chunk into fresh memory, then touches it all and compares
// it with the image.
absl::StatusOr<Row> EagerRestore(const std::string& snapshot, const std::string& image) {
  Row row{.name = "eager (decode all, then touch)"};
  auto start = std::chrono::steady_clock::now();
  auto reader = SnapshotReader::Open(snapshot);
  if (!reader.ok()) return reader.status();
  auto memory = GuestMemory::MapAnonymous((*reader)->image_size_bytes());
  if (!memory.ok()) return memory.status();
  uint8_t* base = (*memory)->data();
  auto decoded = DecodeImage(**reader, {},
                             [base](const ChunkLocation& location, std::span<const uint8_t> bytes) {
                               std::memcpy(base + location.image_offset_bytes, bytes.data(),
                                           bytes.size());
                               return absl::OkStatus();
                             });
  if (!decoded.ok()) return decoded.status();
  row.ready_seconds = SecondsSince(start);
  row.bytes_read = decoded->stored_bytes;
  MemoryView view = {(*memory)->bytes()};
  auto plan = PlanTouches(view, *AccessPattern::Parse("seq"), 2);
  TouchResult touched = TouchPages(view, plan, false);
  row.touch_seconds = touched.seconds;
  row.pages = touched.pages;
  // Compare with the image, 4 MiB at a time.
  auto fd = OpenFile(image, O_RDONLY);
  if (!fd.ok()) return fd.status();
  std::vector<uint8_t> expected(4 << 20);
  row.verified = true;
  for (uint64_t at = 0; at < (*reader)->image_size_bytes(); at += expected.size()) {
    const size_t n = std::min<uint64_t>(expected.size(), (*reader)->image_size_bytes() - at);
    absl::Status read = PreadFull(fd->get(), {expected.data(), n}, at, image);
    if (!read.ok()) return read;
    if (std::memcmp(base + at, expected.data(), n) != 0) {
      row.verified = false;
      row.note = absl::StrFormat("differs near offset 0x%x", at);
      break;
    }
  }
  return row;
}

absl::StatusOr<Row> LazyRestore(const std::string& name, const std::string& snapshot,
                                const std::string& image, const char* pattern) {
  RestoreRunOptions options;
  options.snapshot_path = snapshot;
  options.verify_image = image;
  options.pattern = *AccessPattern::Parse(pattern);
  options.touch_threads = 2;
  auto run = RunRestore(options);
  if (!run.ok()) return run.status();
  Row row{.name = name};
  row.ready_seconds = run->open_seconds + run->start_seconds;
  row.touch_seconds = run->touch_seconds;
  row.pages = run->pages_touched;
  row.bytes_read = run->stats.bytes_read;
  row.verified = run->pages_mismatched == 0 && run->session_status.ok();
  row.note = absl::StrFormat("%d faults, p50 %s, p99 %s", run->stats.faults,
                             FormatDuration(run->stats.latency_p50_ns * 1e-9),
                             FormatDuration(run->stats.latency_p99_ns * 1e-9));
  if (run->pages_mismatched > 0) row.note = "first difference at " + run->first_mismatch;
  if (!run->session_status.ok()) row.note = std::string(run->session_status.message());
  return row;
}

int RunDemo(const ParsedArgs& args) {
  const CommandSpec& spec = kDemoSpec;
  uint64_t size = 1ull << 30;
  if (args.Has("size")) {
    auto parsed = ParseSize(args.Value("size"));
    if (!parsed.ok()) return UsageError(spec, std::string(parsed.status().message()));
    size = *parsed;
  }
  WriterOptions writer;
  if (args.Has("chunk-size")) {
    auto parsed = ParseSize(args.Value("chunk-size"));
    if (!parsed.ok()) return UsageError(spec, std::string(parsed.status().message()));
    writer.chunk_size_bytes = static_cast<uint32_t>(std::min<uint64_t>(*parsed, UINT32_MAX));
  }
  std::string dir = args.Value("dir");
  const bool made_dir = dir.empty();
  if (!made_dir && !std::filesystem::is_directory(dir)) {
    return UsageError(spec, absl::StrFormat("--dir %s: not a directory", dir));
  }
  if (made_dir) {
    std::string pattern = (std::filesystem::temp_directory_path() / "lazysnap-demo-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      return Fail(spec.name, absl::InternalError(absl::StrFormat("mkdtemp %s failed", pattern)));
    }
    dir = pattern;
  }
  const std::string image = dir + "/demo.raw";
  const std::string snapshot = dir + "/demo.lzs";
  auto cleanup = [&] {
    if (args.Has("keep")) {
      std::printf("\nkept %s and %s\n", image.c_str(), snapshot.c_str());
      return;
    }
    std::error_code ignored;
    std::filesystem::remove(image, ignored);
    std::filesystem::remove(snapshot, ignored);
    if (made_dir) std::filesystem::remove(dir, ignored);
  };
  auto fail = [&](const absl::Status& status) {
    cleanup();
    return Fail(spec.name, status);
  };

  std::printf("== 1/5 image: %s memory-like image (about 40%% zero pages) -> %s\n",
              FormatBytes(size).c_str(), image.c_str());
  auto start = std::chrono::steady_clock::now();
  if (absl::Status s = WriteSyntheticImage(image, size, SyntheticImageOptions{}); !s.ok()) return fail(s);
  std::printf("   written in %s\n", FormatDuration(SecondsSince(start)).c_str());

  std::printf("\n== 2/5 create: lazysnap create %s -o %s\n", image.c_str(), snapshot.c_str());
  auto source = FileImageSource::Open(image);
  if (!source.ok()) return fail(source.status());
  Progress progress("   create", Progress::StderrIsTerminal());
  writer.progress = [&progress](const WriteProgress& p) { progress.Update(p.bytes_done, p.bytes_total); };
  auto summary = WriteSnapshot(**source, snapshot, writer);
  progress.Finish();
  if (!summary.ok()) return fail(summary.status());
  std::printf("   ");
  PrintWriteSummary(stdout, snapshot, *summary);

  std::printf("\n== 3/5 inspect and verify\n");
  auto reader = SnapshotReader::Open(snapshot);
  if (!reader.ok()) return fail(reader.status());
  PrintSnapshot(stdout, **reader);
  auto verified = DecodeImage(**reader, {}, [](const ChunkLocation&, std::span<const uint8_t>) {
    return absl::OkStatus();
  });
  if (!verified.ok()) return fail(verified.status());
  std::printf("verify      sound: %llu chunks decoded and checked in %s (%s)\n",
              static_cast<unsigned long long>(verified->chunks),
              FormatDuration(verified->seconds).c_str(),
              FormatRate(verified->image_bytes / std::max(verified->seconds, 1e-9)).c_str());

  std::printf("\n== 4/5 restore three ways (2 toucher threads each), every touched byte compared\n");
  std::vector<Row> rows;
  auto eager = EagerRestore(snapshot, image);
  if (!eager.ok()) return fail(eager.status());
  rows.push_back(*eager);
  std::printf("   eager done\n");
  for (auto [name, pattern] : {std::pair{"lazy, random 10% working set", "ws:10"},
                               std::pair{"lazy, full sequential touch", "seq"}}) {
    auto row = LazyRestore(name, snapshot, image, pattern);
    if (!row.ok()) return fail(row.status());
    rows.push_back(*row);
    std::printf("   %s done\n", name);
  }

  std::printf("\n== 5/5 results (%s image, %s snapshot)\n\n", FormatBytes(size).c_str(),
              FormatBytes((*reader)->file_size_bytes()).c_str());
  std::printf("| %-30s | %-12s | %-12s | %-12s | %-10s | %-8s |\n", "restore", "ready",
              "touch", "ready+touch", "read", "bytes ok");
  std::printf("|%s|%s|%s|%s|%s|%s|\n", std::string(32, '-').c_str(), std::string(14, '-').c_str(),
              std::string(14, '-').c_str(), std::string(14, '-').c_str(),
              std::string(12, '-').c_str(), std::string(10, '-').c_str());
  bool all_ok = true;
  for (const Row& row : rows) {
    all_ok &= row.verified;
    std::printf("| %-30s | %-12s | %-12s | %-12s | %-10s | %-8s |\n", row.name.c_str(),
                FormatDuration(row.ready_seconds).c_str(), FormatDuration(row.touch_seconds).c_str(),
                FormatDuration(row.ready_seconds + row.touch_seconds).c_str(),
                FormatBytes(row.bytes_read).c_str(), row.verified ? "yes" : "NO");
  }
  std::printf("\n");
  for (const Row& row : rows) {
    if (!row.note.empty()) std::printf("  %s: %s\n", row.name.c_str(), row.note.c_str());
  }
  cleanup();
  if (!all_ok) {
    std::fprintf(stderr, "lazysnap demo: a restore did not reproduce the image (see above)\n");
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace

const Command& DemoCommand() {
  static const Command command{kDemoSpec, RunDemo};
  return command;
}

}  // namespace lazysnap::cli
