// lazysnap restore: restore a snapshot lazily into this process and touch it.
#include <cstdio>
#include <string>

#include "absl/strings/str_format.h"
#include "base/json_writer.h"
#include "tools/commands.h"
#include "tools/restore_run.h"
#include "tools/snapshot_open.h"

namespace lazysnap::cli {
namespace {

const CommandSpec kRestoreSpec = {
    .name = "restore",
    .synopsis = "SNAP [--threads N] [--access seq|random|ws:PCT] [--verify IMAGE] [--json]",
    .summary = "restore a snapshot lazily into this process and touch its memory",
    .description =
        "Maps memory for every region, registers it with userfaultfd and starts serving\n"
        "faults: the restore is ready after reading the snapshot's tables. Then N threads\n"
        "touch pages in the given pattern (seq: every page in order, each thread its own\n"
        "slice; random: every page shuffled; ws:PCT: a random PCT% of the pages), so that\n"
        "the pages are filled on first touch. With --verify, every touched page is compared\n"
        "with the raw image. Prints time to ready, time to touch, fault counts and the\n"
        "fault service latency. Exit status 1 when a page differs or a chunk was refused:\n"
        "touching stops at the first refused chunk (a checksum mismatch, an unreadable\n"
        "snapshot), whose number, address and reason are printed, on kernels with and\n"
        "without UFFDIO_POISON alike. Flags whose chunk buffers or touch plan would take\n"
        "more than a quarter of this host's memory are refused before the restore.\n"
        "An incremental snapshot is restored through its chain: each chunk is read from\n"
        "the snapshot that holds it.\n"
        "\n"
        "SNAP may be a URL: http(s)://HOST/PATH or s3://BUCKET/KEY (endpoint, region and\n"
        "credentials from the AWS variables and files, as `lazysnap push --help` says).\n"
        "Only the tables are fetched to become ready; each fault fetches its chunk (with\n"
        "the rest of its group of --fetch-group chunks) by HTTP range requests, through a\n"
        "host-wide chunk cache keyed by content ($LAZYSNAP_CACHE_DIR, else\n"
        "~/.cache/lazysnap; every cached chunk is checked before use).",
    .min_positional = 1,
    .max_positional = 1,
    .flags = {
        {"threads", "N", "toucher threads (default 2)"},
        {"access", "PATTERN", "seq, random or ws:PCT (default seq)"},
        {"verify", "IMAGE", "compare every touched page with this raw image"},
        {"seed", "N", "seed of the random patterns (default 1)"},
        {"serving", "MODE", "threads (handler threads, default) or sigbus (the faulting thread "
                            "serves itself; user-mode faults only)"},
        {"handler-threads", "N", "fault handler threads (default: one per CPU)"},
        {"readahead", "N", "chunks installed ahead of a sequential fault (default 8, 0: off)"},
        {"reads-in-flight", "N", "reads each handler keeps in flight (default 8)"},
        {"spin-us", "N", "microseconds a handler keeps looking for work before sleeping (default 50)"},
        {"pin", "", "pin handler thread i to CPU i"},
        {"nice", "N", "nice value of the handler threads (negative needs CAP_SYS_NICE; default 0)"},
        {"background", "", "also populate every chunk from an idle-priority thread"},
        {"no-io-uring", "", "read chunks with pread instead of io_uring"},
        {"ancestor", "FILE", kAncestorFlagHelp, true},
        {"cache", "DIR", "URL snapshots: the host chunk cache directory"},
        {"cache-size", "SIZE", "URL snapshots: bound of the chunk cache (default 8G)"},
        {"no-cache", "", "URL snapshots: no chunk cache (each fault fetches only its chunk)"},
        {"fetch-group", "N", "URL snapshots: a miss fetches its aligned group of N chunks "
                             "(default 8, 1: only the chunk)"},
        {"connections", "N", "URL snapshots: HTTP connections (default 16)"},
        {"json", "", "print the result as JSON on stdout"},
    }};

int RunRestoreCommand(const ParsedArgs& args) {
  const CommandSpec& spec = kRestoreSpec;
  RestoreRunOptions options;
  options.snapshot_path = args.positional()[0];
  options.verify_image = args.Value("verify");
  auto pattern = AccessPattern::Parse(args.Value("access", "seq"));
  if (!pattern.ok()) return UsageError(spec, std::string(pattern.status().message()));
  options.pattern = *pattern;
  for (absl::Status status :
       {ParseIntFlag(args, "threads", 1, 1024, &options.touch_threads),
        ParseIntFlag(args, "seed", 0, INT64_MAX, &options.pattern.seed),
        ParseIntFlag(args, "handler-threads", 1, 256, &options.restore.handler_threads),
        ParseIntFlag(args, "readahead", 0, 4096, &options.restore.readahead_chunks),
        ParseIntFlag(args, "reads-in-flight", 1, 4096, &options.restore.reads_in_flight),
        ParseIntFlag(args, "spin-us", 0, 1000000, &options.restore.spin_before_sleep_us),
        ParseIntFlag(args, "nice", -20, 19, &options.restore.handler_nice),
        ParseIntFlag(args, "fetch-group", 1, 2048, &options.location.source.group_chunks),
        ParseIntFlag(args, "connections", 1, 1024, &options.location.file.fetch.max_connections)}) {
    if (!status.ok()) return UsageError(spec, std::string(status.message()));
  }
  const std::string serving = args.Value("serving", "threads");
  if (serving == "sigbus") {
    options.restore.serving = ServingMode::kSigbus;
  } else if (serving != "threads") {
    return UsageError(spec, absl::StrFormat("--serving %s: must be threads or sigbus", serving));
  }
  options.restore.pin_handler_threads = args.Has("pin");
  options.restore.background_populate = args.Has("background");
  options.restore.use_io_uring = !args.Has("no-io-uring");
  options.ancestors = args.Values("ancestor");
  if (args.Has("cache")) options.location.cache_directory = args.Value("cache");
  if (args.Has("no-cache")) options.location.cache_directory.clear();
  if (args.Has("cache-size")) {
    auto size = ParseSize(args.Value("cache-size"));
    if (!size.ok() || *size == 0) {
      return UsageError(spec, absl::StrFormat("--cache-size %s: expected a size such as 8G",
                                              args.Value("cache-size")));
    }
    options.location.cache_max_bytes = *size;
  }

  auto run = RunRestore(options);
  if (!run.ok()) return Fail(spec.name, run.status());
  const RestoreRunResult& r = *run;
  const RestoreStats& s = r.stats;
  const bool ok = r.pages_mismatched == 0 && r.session_status.ok();
  if (args.Has("json")) {
    JsonWriter json;
    json.BeginObject()
        .Member("snapshot", options.snapshot_path)
        .Member("memory_bytes", r.memory_bytes)
        .Member("regions", r.regions)
        .Member("chunk_size_bytes", r.chunk_size_bytes)
        .Member("chain_length", r.chain_length)
        .Member("reader", r.reader)
        .Member("handler_threads", r.handler_threads)
        .Member("access", options.pattern.ToString())
        .Member("touch_threads", options.touch_threads)
        .Member("open_seconds", r.open_seconds)
        .Member("start_seconds", r.start_seconds)
        .Member("time_to_ready_ns", s.time_to_ready_ns)
        .Member("touch_seconds", r.touch_seconds)
        .Member("pages_touched", r.pages_touched);
    json.Key("faults")
        .BeginObject()
        .Member("total", s.faults)
        .Member("fetched", s.faults_fetched)
        .Member("zero", s.faults_zero)
        .Member("joined", s.faults_joined)
        .Member("after_remove", s.faults_after_remove)
        .Member("stale", s.faults_stale)
        .Member("outside", s.faults_outside)
        .EndObject();
    json.Member("chunks_installed", s.chunks_installed)
        .Member("chunks_readahead", s.chunks_readahead)
        .Member("chunks_background", s.chunks_background)
        .Member("chunks_failed", s.chunks_failed)
        .Member("bytes_read", s.bytes_read)
        .Member("bytes_decompressed", s.bytes_decompressed)
        .Member("bytes_installed", s.bytes_installed)
        .Member("bytes_zero_installed", s.bytes_zero_installed);
    json.Key("latency_ns")
        .BeginObject()
        .Member("p50", s.latency_p50_ns)
        .Member("p90", s.latency_p90_ns)
        .Member("p99", s.latency_p99_ns)
        .Member("max", s.latency_max_ns)
        .EndObject();
    if (r.verified) {
      json.Member("pages_verified", r.pages_verified).Member("pages_mismatched", r.pages_mismatched);
      if (r.pages_mismatched > 0) json.Member("first_mismatch", r.first_mismatch);
    }
    if (r.remote) {
      json.Key("remote")
          .BeginObject()
          .Member("chunk_reads", r.remote_stats.reads)
          .Member("cache_hits", r.remote_stats.cache_hits)
          .Member("joined", r.remote_stats.joined)
          .Member("fetched", r.remote_stats.fetched)
          .Member("group_chunks_fetched", r.remote_stats.group_chunks_fetched)
          .Member("chunk_bytes_fetched", r.remote_stats.bytes_fetched)
          .Member("http_requests", r.fetch_stats.http_requests)
          .Member("bytes_received", r.fetch_stats.bytes_received)
          .Member("retries", r.fetch_stats.retries)
          .Member("connections_opened", r.fetch_stats.connections_opened)
          .Member("cache_directory", r.cache_directory)
          .Member("cache_writes", r.remote_stats.cache_writes)
          .Member("cache_corrupt", r.cache_stats.corrupt)
          .Member("cache_evicted_bytes", r.cache_stats.evicted_bytes)
          .EndObject();
    }
    if (!r.session_status.ok()) json.Member("error", std::string(r.session_status.message()));
    json.EndObject();
    std::printf("%s\n", json.text().c_str());
    return ok ? kExitOk : kExitFailure;
  }
  std::printf("restore %s: %s in %d region%s, chunk %s, %s reads, %d handler thread%s%s\n",
              options.snapshot_path.c_str(), FormatBytes(r.memory_bytes).c_str(), r.regions,
              r.regions == 1 ? "" : "s", FormatBytes(r.chunk_size_bytes).c_str(), r.reader.c_str(),
              r.handler_threads, r.handler_threads == 1 ? "" : "s",
              r.chain_length > 1
                  ? absl::StrFormat(", from a chain of %d snapshots", r.chain_length).c_str()
                  : "");
  std::printf("  ready      %s (open %s + start %s)\n",
              FormatDuration(r.open_seconds + r.start_seconds).c_str(),
              FormatDuration(r.open_seconds).c_str(), FormatDuration(r.start_seconds).c_str());
  std::printf("  touched    %llu pages (%s, %s, %d thread%s) in %s (%s)\n",
              static_cast<unsigned long long>(r.pages_touched), options.pattern.ToString().c_str(),
              FormatBytes(r.pages_touched * 4096).c_str(), options.touch_threads,
              options.touch_threads == 1 ? "" : "s", FormatDuration(r.touch_seconds).c_str(),
              FormatRate(r.pages_touched * 4096.0 / std::max(r.touch_seconds, 1e-9)).c_str());
  std::printf("  faults     %llu: fetched %llu, zero %llu, joined %llu, after remove %llu, stale %llu\n",
              static_cast<unsigned long long>(s.faults),
              static_cast<unsigned long long>(s.faults_fetched),
              static_cast<unsigned long long>(s.faults_zero),
              static_cast<unsigned long long>(s.faults_joined),
              static_cast<unsigned long long>(s.faults_after_remove),
              static_cast<unsigned long long>(s.faults_stale));
  std::printf("  chunks     %llu installed (%llu by readahead, %llu in background), %llu refused\n",
              static_cast<unsigned long long>(s.chunks_installed),
              static_cast<unsigned long long>(s.chunks_readahead),
              static_cast<unsigned long long>(s.chunks_background),
              static_cast<unsigned long long>(s.chunks_failed));
  std::printf("  bytes      read %s, decompressed %s, copied %s, zero-mapped %s\n",
              FormatBytes(s.bytes_read).c_str(), FormatBytes(s.bytes_decompressed).c_str(),
              FormatBytes(s.bytes_installed).c_str(), FormatBytes(s.bytes_zero_installed).c_str());
  std::printf("  latency    fault service p50 %s, p90 %s, p99 %s, max %s\n",
              FormatDuration(s.latency_p50_ns * 1e-9).c_str(),
              FormatDuration(s.latency_p90_ns * 1e-9).c_str(),
              FormatDuration(s.latency_p99_ns * 1e-9).c_str(),
              FormatDuration(s.latency_max_ns * 1e-9).c_str());
  if (r.remote) {
    std::printf("  remote     %s received in %llu requests (%llu retries, %llu connections); "
                "chunks: %llu hits in %s, %llu fetched (+%llu of their groups), %llu joined\n",
                FormatBytes(r.fetch_stats.bytes_received).c_str(),
                static_cast<unsigned long long>(r.fetch_stats.http_requests),
                static_cast<unsigned long long>(r.fetch_stats.retries),
                static_cast<unsigned long long>(r.fetch_stats.connections_opened),
                static_cast<unsigned long long>(r.remote_stats.cache_hits),
                r.cache_directory.empty() ? "(no cache)" : r.cache_directory.c_str(),
                static_cast<unsigned long long>(r.remote_stats.fetched),
                static_cast<unsigned long long>(r.remote_stats.group_chunks_fetched),
                static_cast<unsigned long long>(r.remote_stats.joined));
  }
  if (r.verified) {
    if (r.pages_mismatched == 0) {
      std::printf("  verified   %llu pages against %s: all equal\n",
                  static_cast<unsigned long long>(r.pages_verified), options.verify_image.c_str());
    } else {
      std::printf("  verified   %llu pages against %s: %llu DIFFER, first at %s\n",
                  static_cast<unsigned long long>(r.pages_verified), options.verify_image.c_str(),
                  static_cast<unsigned long long>(r.pages_mismatched), r.first_mismatch.c_str());
    }
  }
  if (!r.session_status.ok()) {
    std::fprintf(stderr, "lazysnap restore: %s\n", std::string(r.session_status.message()).c_str());
  }
  return ok ? kExitOk : kExitFailure;
}

}  // namespace

const Command& RestoreCommand() {
  static const Command command{kRestoreSpec, RunRestoreCommand};
  return command;
}

}  // namespace lazysnap::cli
