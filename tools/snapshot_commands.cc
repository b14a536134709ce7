// lazysnap create / inspect / verify / extract: making and checking snapshot files.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "base/json_writer.h"
#include "remote/snapshot_location.h"
#include "snapshot_format/dictionary_trainer.h"
#include "snapshot_format/image_decoder.h"
#include "snapshot_format/image_source.h"
#include "snapshot_format/process_image_source.h"
#include "snapshot_format/parent_resolver.h"
#include "snapshot_format/snapshot_image_source.h"
#include "snapshot_format/snapshot_reader.h"
#include "snapshot_format/snapshot_writer.h"
#include "tools/commands.h"
#include "tools/dictionary_estimate.h"
#include "tools/input_files.h"
#include "tools/progress.h"
#include "tools/snapshot_open.h"
#include "tools/snapshot_report.h"

namespace lazysnap::cli {
namespace {

// OpenForCommand opens a snapshot path or URL and its chain (ancestors among `ancestors`,
// else beside it) with the whole index validated (inspect, verify and extract read every
// entry anyway); URLs need no chunk cache here.
absl::StatusOr<std::shared_ptr<const SnapshotReader>> OpenForCommand(
    const std::string& path, const std::vector<std::string>& ancestors) {
  remote::SnapshotLocationOptions options;
  options.open.validate_index = true;
  options.cache_directory.clear();
  options.prefetch_index = false;
  auto opened = OpenSnapshot(path, ancestors, options);
  if (!opened.ok()) return opened.status();
  return std::move(opened->reader);
}

// DecodingThreads: one per CPU for a local file; more for a URL, whose threads mostly
// wait on the network.
int DecodingThreads(int flag, const std::string& path) {
  if (flag > 0) return flag;
  return remote::IsRemoteUrl(path) ? 16 : 0;
}

absl::StatusOr<int> ThreadsFlag(const ParsedArgs& args) {
  if (!args.Has("threads")) return 0;
  auto n = ParseInt(args.Value("threads"), 1, 1024);
  if (!n.ok()) return n.status();
  return static_cast<int>(*n);
}

// ParseRegion parses OFFSET:LENGTH[@ADDRESS] (sizes accept K/M/G suffixes, the address
// is hex with 0x or decimal).
absl::StatusOr<format::Region> ParseRegion(const std::string& text) {
  std::vector<std::string> at = absl::StrSplit(text, '@');
  std::vector<std::string> parts = absl::StrSplit(at[0], ':');
  if (parts.size() != 2 || at.size() > 2) {
    return absl::InvalidArgumentError(
        absl::StrFormat("region '%s' is not OFFSET:LENGTH[@ADDRESS]", text));
  }
  format::Region region;
  auto offset = ParseSize(parts[0]);
  auto length = ParseSize(parts[1]);
  if (!offset.ok()) return offset.status();
  if (!length.ok()) return length.status();
  region.image_offset_bytes = *offset;
  region.length_bytes = *length;
  if (at.size() == 2) {
    char* end = nullptr;
    region.guest_address = std::strtoull(at[1].c_str(), &end, 0);
    if (end == at[1].c_str() || *end != '\0') {
      return absl::InvalidArgumentError(absl::StrFormat("region address '%s' is not a number", at[1]));
    }
  }
  return region;
}

const CommandSpec kCreateSpec = {
    .name = "create",
    .synopsis = "IMAGE -o SNAP [--parent PARENT] [flags]  |  --pid PID -o SNAP [flags]",
    .summary = "snapshot a raw memory image (file, block device, - for stdin) or a live process",
    .description =
        "Reads IMAGE once, cuts it into chunks, and writes SNAP: zero chunks are stored as\n"
        "nothing, repeated chunks as a reference to their first occurrence, the rest\n"
        "compressed with zstd on all cores (or raw when compression does not pay). SNAP is\n"
        "written under a temporary name, fsynced and renamed, so an interrupted create\n"
        "never leaves a partial file under the final name; a new SNAP is readable by its\n"
        "owner only (0600), a replaced one keeps its mode. SNAP must be a regular file or\n"
        "a new path. A progress bar is drawn on stderr when it is a terminal. Sparse image\n"
        "files are read around their holes; character devices and /proc files are not\n"
        "images (pipe a bounded stream into '-' instead).\n"
        "\n"
        "First a zstd dictionary is trained on a sample of the image's chunks (spread over\n"
        "the whole image) and stored once in SNAP; every chunk is compressed with it, which\n"
        "recovers much of the redundancy between chunks while each chunk still decodes on\n"
        "its own. No dictionary is used for a stream (stdin, a pipe: it is read only once)\n"
        "or when it would not save more than its own size. A 64 KiB dictionary is tried\n"
        "first; when the sample repeats content farther apart than that holds, larger ones\n"
        "(up to --dictionary-size) are tried too and the one that saves the most is kept.\n"
        "A dictionary that compresses by 64 KiB or more is stored compressed, which makes\n"
        "SNAP a format 1.2 file (older readers refuse it); otherwise SNAP is format 1.0.\n"
        "\n"
        "With --pid, the private writable memory of a running process (heap, stacks,\n"
        "anonymous mappings, .data/.bss) is captured through /proc/PID/mem, one region per\n"
        "mapping at its virtual address. That needs ptrace access to the process (root,\n"
        "CAP_SYS_PTRACE, or the same user under kernel.yama.ptrace_scope). The process keeps\n"
        "running unless --freeze stops it (SIGSTOP, resumed with SIGCONT when done, or\n"
        "when lazysnap is interrupted; lazysnap cannot freeze itself).\n"
        "\n"
        "With --parent, SNAP is incremental (format 1.1): each chunk whose checksum equals\n"
        "that of PARENT's chunk at the same offset is recorded as \"in the parent\" and not\n"
        "stored again, so SNAP costs what changed. SNAP records PARENT's identity and its\n"
        "path relative to SNAP; readers find PARENT there (or among --ancestor files) and\n"
        "refuse a file that is not the same PARENT. The chunk size is PARENT's, and so is\n"
        "the dictionary unless --dictionary-size or --dictionary-sample asks for a new one.\n"
        "A chain holds at most 32 snapshots: 'lazysnap flatten' makes a standalone one.",
    .min_positional = 0,
    .max_positional = 1,
    .flags = {
        {"output", "SNAP", "snapshot file to write (required)", false, 'o'},
        {"chunk-size", "SIZE", "chunk size, a power of two from 4K to 4M (default 32K)"},
        {"level", "N", "zstd level, negative levels are faster (default 3)"},
        {"threads", "N", "compression threads (default: one per CPU)"},
        {"region", "OFF:LEN[@ADDR]",
         "a memory region of the image (default: the whole image as one region)", true},
        {"dictionary-size", "SIZE",
         "largest zstd dictionary to train on the image (default 2M; 0: none)"},
        {"dictionary-sample", "SIZE",
         "image bytes sampled to train the dictionary on (default 16M)"},
        {"no-dictionary", "", "compress every chunk on its own (same as --dictionary-size 0)"},
        {"dictionary-always", "",
         "use the trained dictionary even where a sample says it does not pay; fail when "
         "none can be trained"},
        {"pid", "PID", "capture the memory of this live process instead of an image"},
        {"freeze", "", "with --pid: stop the process while it is captured"},
        {"include-readonly", "", "with --pid: also capture read-only and shared mappings"},
        {"parent", "PARENT",
         "write an incremental snapshot: only the chunks that differ from PARENT's"},
        {"ancestor", "FILE", kAncestorFlagHelp, true},
        {"json", "", "print the summary as JSON on stdout"},
    }};

// ParseWriterOptions reads the flags create and flatten share (chunk size, level,
// threads, dictionary) into `options`; InvalidArgument with a one-line message.
absl::Status ParseWriterOptions(const ParsedArgs& args, WriterOptions& options) {
  if (args.Has("chunk-size")) {
    auto size = ParseChunkSize(args.Value("chunk-size"));
    if (!size.ok()) return size.status();
    options.chunk_size_bytes = *size;
  }
  if (args.Has("level")) {
    auto [min_level, max_level] = CompressionLevelRange();
    auto level = ParseInt(args.Value("level"), min_level, max_level);
    if (!level.ok() || *level == 0) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "--level %s: must be a zstd level in [%d, %d], not 0", args.Value("level"),
          min_level, max_level));
    }
    options.compression_level = static_cast<int>(*level);
  }
  auto threads = ThreadsFlag(args);
  if (!threads.ok()) return threads.status();
  options.threads = *threads;
  if (args.Has("dictionary-size")) {
    auto size = ParseSize(args.Value("dictionary-size"));
    if (!size.ok() || (*size != 0 && (*size < kMinDictionarySizeBytes ||
                                      *size > format::kMaxDictionarySizeBytes))) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "--dictionary-size %s: must be 0 or from 256 to 16M", args.Value("dictionary-size")));
    }
    options.train_dictionary.dictionary_size_bytes = static_cast<size_t>(*size);
  }
  if (args.Has("dictionary-sample")) {
    auto size = ParseSize(args.Value("dictionary-sample"));
    if (!size.ok() || *size == 0 || *size > (1ull << 30)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "--dictionary-sample %s: must be from 1 byte to 1G", args.Value("dictionary-sample")));
    }
    options.train_dictionary.sample_bytes = *size;
  }
  if (args.Has("no-dictionary")) {
    if (args.Has("dictionary-size") || args.Has("dictionary-sample")) {
      return absl::InvalidArgumentError(
          "--no-dictionary contradicts --dictionary-size/--dictionary-sample");
    }
    options.train_dictionary.dictionary_size_bytes = 0;
  }
  if (args.Has("dictionary-always")) {
    if (args.Has("no-dictionary")) {
      return absl::InvalidArgumentError("--dictionary-always contradicts --no-dictionary");
    }
    options.train_dictionary.only_if_it_pays = false;
    options.train_dictionary.required = true;
  }
  // Threads, chunk size and level are each in range, but multiply: refuse what the
  // out-of-memory killer would end (the dictionary sample is held while training).
  return CheckMemoryBudget(
      absl::StrFormat("--threads %d with %s chunks at level %d, and a %s dictionary sample",
                      options.threads > 0 ? options.threads
                                          : static_cast<int>(std::thread::hardware_concurrency()),
                      FormatBytes(options.chunk_size_bytes), options.compression_level,
                      FormatBytes(options.train_dictionary.sample_bytes)),
      WriterMemoryBytes(options, options.threads) + 2 * options.train_dictionary.sample_bytes,
      "lower --threads, --chunk-size, --level or --dictionary-sample");
}

// CheckDecodeMemory: each decoding thread holds a chunk and its stored bytes.
absl::Status CheckDecodeMemory(const SnapshotReader& reader, int threads) {
  const int n = threads > 0 ? threads : static_cast<int>(std::thread::hardware_concurrency());
  const uint64_t busy = std::min<uint64_t>(static_cast<uint64_t>(std::max(n, 1)),
                                           std::max<uint64_t>(reader.chunk_count(), 1));
  return CheckMemoryBudget(
      absl::StrFormat("--threads %d with %s chunks", n, FormatBytes(reader.chunk_size_bytes())),
      busy * (reader.chunk_size_bytes() + reader.max_stored_length_bytes()), "lower --threads");
}

// PrintWritten reports what create or flatten wrote (JSON with --json).
void PrintWritten(const ParsedArgs& args, const std::string& output, const WriteSummary& summary) {
  if (args.Has("json")) {
    JsonWriter json;
    WriteSummaryJson(json, output, summary);
    std::printf("%s\n", json.text().c_str());
  } else {
    PrintWriteSummary(stdout, output, summary);
  }
}

int RunCreate(const ParsedArgs& args) {
  const CommandSpec& spec = kCreateSpec;
  if (!args.Has("output")) return UsageError(spec, "missing -o SNAP");
  WriterOptions options;
  if (absl::Status parsed = ParseWriterOptions(args, options); !parsed.ok()) {
    return UsageError(spec, std::string(parsed.message()));
  }
  std::vector<format::Region> regions;
  for (const std::string& text : args.Values("region")) {
    auto region = ParseRegion(text);
    if (!region.ok()) return UsageError(spec, std::string(region.status().message()));
    regions.push_back(*region);
  }
  const bool from_process = args.Has("pid");
  if (from_process == !args.positional().empty()) {
    return UsageError(spec, "give either an IMAGE or --pid PID");
  }
  if (!from_process && (args.Has("freeze") || args.Has("include-readonly"))) {
    return UsageError(spec, "--freeze and --include-readonly only apply to --pid");
  }
  if (from_process && !regions.empty()) {
    return UsageError(spec, "--region does not apply to --pid (the process's mappings are its regions)");
  }
  const std::string output = args.Value("output");
  if (output.empty()) return UsageError(spec, "-o: the output path is empty");
  const bool json = args.Has("json");
  if (args.Has("ancestor") && !args.Has("parent")) {
    return UsageError(spec, "--ancestor only applies to --parent");
  }
  std::shared_ptr<const SnapshotReader> parent;
  if (args.Has("parent")) {
    const std::string parent_path = args.Value("parent");
    auto opened = OpenForCommand(parent_path, args.Values("ancestor"));
    if (!opened.ok()) return Fail(spec.name, opened.status(), json);
    parent = std::move(*opened);
    if (!args.Has("chunk-size")) {
      options.chunk_size_bytes = parent->chunk_size_bytes();
    } else if (options.chunk_size_bytes != parent->chunk_size_bytes()) {
      return UsageError(spec, absl::StrFormat("--chunk-size %s: a child has its parent's chunk "
                                              "size (%s)",
                                              args.Value("chunk-size"),
                                              FormatBytes(parent->chunk_size_bytes())));
    }
    if (absl::Status safe = RefuseOverwritingChain(output, *parent, 0); !safe.ok()) {
      return UsageError(spec, std::string(safe.message()));
    }
    options.parent = parent.get();
    options.parent_name = RelativeParentName(output, parent_path);
    // Asking for a dictionary of a size or sample means training one for this image.
    options.reuse_parent_dictionary =
        !args.Has("dictionary-size") && !args.Has("dictionary-sample");
  }
  std::unique_ptr<ImageSource> source;
  std::string image;
  if (from_process) {
    auto pid = ParseInt(args.Value("pid"), 1, INT32_MAX);
    if (!pid.ok()) return UsageError(spec, absl::StrFormat("--pid: %s", pid.status().message()));
    if (absl::Status problem = CheckOutputPath(output, ""); !problem.ok()) {
      return Fail(spec.name, problem, json);
    }
    ProcessCaptureOptions capture;
    capture.freeze = args.Has("freeze");
    capture.include_readonly = args.Has("include-readonly");
    auto process = ProcessImageSource::Open(static_cast<pid_t>(*pid), capture);
    if (!process.ok()) return Fail(spec.name, process.status(), json);
    image = (*process)->name();
    source = std::move(*process);
  } else {
    image = args.positional()[0];
    if (absl::Status problem = CheckOutputPath(output, image == "-" ? "" : image);
        !problem.ok()) {
      return Fail(spec.name, problem, json);
    }
    auto file = FileImageSource::Open(image, regions);
    if (!file.ok()) return Fail(spec.name, file.status(), json);
    source = std::move(*file);
  }

  Progress progress("create", Progress::StderrIsTerminal());
  options.progress = [&progress](const WriteProgress& p) { progress.Update(p.bytes_done, p.bytes_total); };
  auto summary = WriteSnapshot(*source, output, options);
  progress.Finish();
  source.reset();  // a frozen process resumes as soon as its memory has been read
  if (!summary.ok()) {
    return Fail(spec.name,
                absl::Status(summary.status().code(),
                             absl::StrFormat("%s -> %s: %s", image, output,
                                             summary.status().message())),
                json);
  }
  PrintWritten(args, output, *summary);
  return kExitOk;
}

const CommandSpec kInspectSpec = {
    .name = "inspect",
    .synopsis = "SNAP [--estimate [--sample SIZE] [--level N]] [--json]",
    .summary = "show a snapshot's header, regions, chunk kinds, sizes and ratio",
    .description =
        "Reads the header, tables and the whole index (every index segment is checked),\n"
        "but no chunk data: use 'lazysnap verify' to check the chunks themselves.\n"
        "\n"
        "With --estimate, also decodes a sample of the chunks (spread over the image) and\n"
        "compresses them again with and without the snapshot's dictionary, to show what\n"
        "the dictionary saves. For a snapshot without one, a dictionary is trained on the\n"
        "sample as create would, and measured on chunks it was not trained on. The level\n"
        "is not recorded in a snapshot: the sample is compressed at --level.\n"
        "\n"
        "An incremental snapshot is shown with its chain: every snapshot it depends on,\n"
        "and how many of its chunks each one serves.",
    .min_positional = 1,
    .max_positional = 1,
    .flags = {{"estimate", "", "estimate the size with and without a dictionary"},
              {"sample", "SIZE", "with --estimate: chunk bytes to sample (default 16M)"},
              {"level", "N", "with --estimate: zstd level to compress at (default 3)"},
              {"ancestor", "FILE", kAncestorFlagHelp, true},
              {"json", "", "print as JSON on stdout"}}};

int RunInspect(const ParsedArgs& args) {
  const CommandSpec& spec = kInspectSpec;
  if (!args.Has("estimate") && (args.Has("sample") || args.Has("level"))) {
    return UsageError(spec, "--sample and --level only apply to --estimate");
  }
  uint64_t sample_bytes = kDefaultDictionarySampleBytes;
  if (args.Has("sample")) {
    auto size = ParseSize(args.Value("sample"));
    if (!size.ok() || *size == 0 || *size > (1ull << 30)) {
      return UsageError(spec, absl::StrFormat("--sample %s: must be from 1 byte to 1G",
                                              args.Value("sample")));
    }
    sample_bytes = *size;
  }
  int level = kDefaultCompressionLevel;
  if (args.Has("level")) {
    auto [min_level, max_level] = CompressionLevelRange();
    auto parsed = ParseInt(args.Value("level"), min_level, max_level);
    if (!parsed.ok() || *parsed == 0) {
      return UsageError(spec, absl::StrFormat("--level %s: must be a zstd level in [%d, %d], not 0",
                                              args.Value("level"), min_level, max_level));
    }
    level = static_cast<int>(*parsed);
  }
  const bool json = args.Has("json");
  auto reader = OpenForCommand(args.positional()[0], args.Values("ancestor"));
  if (!reader.ok()) return Fail(spec.name, reader.status(), json);
  std::optional<DictionaryEstimate> estimate;
  if (args.Has("estimate")) {
    auto estimated =
        EstimateDictionary(**reader, level, sample_bytes, kDefaultDictionarySizeBytes);
    if (!estimated.ok()) return Fail(spec.name, estimated.status(), json);
    estimate = *estimated;
  }
  if (args.Has("json")) {
    JsonWriter json;
    WriteSnapshotJson(json, **reader, estimate ? &*estimate : nullptr);
    std::printf("%s\n", json.text().c_str());
  } else {
    PrintSnapshot(stdout, **reader);
    if (estimate) PrintDictionaryEstimate(stdout, *estimate);
  }
  return kExitOk;
}

const CommandSpec kVerifySpec = {
    .name = "verify",
    .synopsis = "SNAP [--threads N] [--json]",
    .summary = "decode every chunk and check every checksum",
    .description =
        "Exit status 0 when the snapshot is sound; 1 with the first bad chunk named\n"
        "(by number, image offset and file offset) when it is not. An incremental\n"
        "snapshot is checked with its chain: every ancestor's index, and every chunk it\n"
        "serves from whichever file holds it.",
    .min_positional = 1,
    .max_positional = 1,
    .flags = {{"threads", "N", "decoding threads (default: one per CPU; 16 for a URL)"},
              {"ancestor", "FILE", kAncestorFlagHelp, true},
              {"json", "", "print the result as JSON on stdout"}}};

// PrintVerifyJson prints verify's JSON result: the summary when sound, else the error
// (also when the snapshot could not be opened: a program reading it finds a document).
void PrintVerifyJson(const std::string& path, const SnapshotReader* reader,
                     const absl::StatusOr<DecodeImageSummary>& summary) {
  JsonWriter json;
  json.BeginObject().Member("snapshot", path);
  if (reader != nullptr) json.Member("chain_length", reader->chain_length());
  json.Member("sound", summary.ok());
  if (summary.ok()) {
    json.Member("chunks", summary->chunks)
        .Member("image_bytes", summary->image_bytes)
        .Member("stored_bytes_decoded", summary->stored_bytes)
        .Member("seconds", summary->seconds);
  } else {
    json.Member("error", std::string(summary.status().message()))
        .Member("code", absl::StatusCodeToString(summary.status().code()));
  }
  json.EndObject();
  std::printf("%s\n", json.text().c_str());
}

int RunVerify(const ParsedArgs& args) {
  const std::string path = args.positional()[0];
  auto threads = ThreadsFlag(args);
  if (!threads.ok()) return UsageError(kVerifySpec, std::string(threads.status().message()));
  const int decoding_threads = DecodingThreads(*threads, path);
  absl::StatusOr<DecodeImageSummary> summary = absl::UnknownError("not verified");
  std::shared_ptr<const SnapshotReader> reader;
  if (auto opened = OpenForCommand(path, args.Values("ancestor")); !opened.ok()) {
    summary = opened.status();
  } else if (absl::Status memory = CheckDecodeMemory(**opened, decoding_threads);
             !memory.ok()) {
    summary = memory;
  } else {
    reader = std::move(*opened);
  }
  if (reader != nullptr) {
    Progress progress("verify", Progress::StderrIsTerminal());
    DecodeImageOptions options;
    options.threads = decoding_threads;
    options.progress = [&progress](uint64_t done, uint64_t total) { progress.Update(done, total); };
    summary = DecodeImage(*reader, options,
                          [](const ChunkLocation&, std::span<const uint8_t>) {
                            return absl::OkStatus();
                          });
    progress.Finish();
  }
  if (args.Has("json")) {
    PrintVerifyJson(path, reader.get(), summary);
    if (!summary.ok()) {
      std::fprintf(stderr, "lazysnap verify: %s\n", std::string(summary.status().message()).c_str());
    }
    return summary.ok() ? kExitOk : kExitFailure;
  }
  if (!summary.ok()) return Fail(kVerifySpec.name, summary.status());
  const uint32_t chain = reader->chain_length();
  std::printf("%s: sound: %d chunks, %s of memory verified in %s (%s)%s\n", path.c_str(),
              summary->chunks, FormatBytes(summary->image_bytes).c_str(),
              FormatDuration(summary->seconds).c_str(),
              FormatRate(summary->image_bytes / std::max(summary->seconds, 1e-9)).c_str(),
              chain > 1 ? absl::StrFormat(", through a chain of %d snapshots", chain).c_str()
                        : "");
  return kExitOk;
}

const CommandSpec kExtractSpec = {
    .name = "extract",
    .synopsis = "SNAP -o IMAGE [--threads N]",
    .summary = "restore a snapshot eagerly into a raw image file",
    .description =
        "Decodes every chunk (checking every checksum) and writes the flat image: zero\n"
        "chunks and holes between regions are left as sparse holes. IMAGE is written\n"
        "under a temporary name and renamed when complete.",
    .min_positional = 1,
    .max_positional = 1,
    .flags = {{"output", "IMAGE", "raw image file to write (required)", false, 'o'},
              {"threads", "N", "decoding threads (default: one per CPU; 16 for a URL)"},
              {"ancestor", "FILE", kAncestorFlagHelp, true}}};

int RunExtract(const ParsedArgs& args) {
  if (!args.Has("output")) return UsageError(kExtractSpec, "missing -o IMAGE");
  auto threads = ThreadsFlag(args);
  if (!threads.ok()) return UsageError(kExtractSpec, std::string(threads.status().message()));
  const std::string path = args.positional()[0];
  const std::string output = args.Value("output");
  if (output.empty()) return UsageError(kExtractSpec, "-o: the output path is empty");
  // The snapshot first (LocalFile refuses a FIFO without blocking), then -o, both before
  // any chunk is decoded.
  auto reader = OpenForCommand(path, args.Values("ancestor"));
  if (!reader.ok()) return Fail(kExtractSpec.name, reader.status());
  if (absl::Status problem = CheckOutputPath(output, path); !problem.ok()) {
    return Fail(kExtractSpec.name, problem);
  }
  const int decoding_threads = DecodingThreads(*threads, path);
  if (absl::Status memory = CheckDecodeMemory(**reader, decoding_threads); !memory.ok()) {
    return Fail(kExtractSpec.name, memory);
  }
  Progress progress("extract", Progress::StderrIsTerminal());
  DecodeImageOptions options;
  options.threads = decoding_threads;
  options.progress = [&progress](uint64_t done, uint64_t total) { progress.Update(done, total); };
  auto summary = ExtractImage(**reader, output, options);
  progress.Finish();
  if (!summary.ok()) return Fail(kExtractSpec.name, summary.status());
  std::printf("%s -> %s: %s image (%s of memory) in %s (%s)\n", path.c_str(),
              output.c_str(), FormatBytes((*reader)->image_size_bytes()).c_str(),
              FormatBytes(summary->image_bytes).c_str(), FormatDuration(summary->seconds).c_str(),
              FormatRate(summary->image_bytes / std::max(summary->seconds, 1e-9)).c_str());
  return kExitOk;
}

const CommandSpec kFlattenSpec = {
    .name = "flatten",
    .synopsis = "SNAP -o OUT [--chunk-size SIZE] [--level N] [--threads N] [--ancestor FILE]... "
                "[--json]",
    .summary = "write a standalone snapshot of an incremental snapshot and its chain",
    .description =
        "Reads SNAP through its whole chain (verifying every chunk it decodes) and writes\n"
        "OUT, a snapshot that needs no other file, as create would from the image: a new\n"
        "dictionary is trained unless --no-dictionary. OUT may be SNAP itself (it is\n"
        "replaced when complete), but not one of SNAP's ancestors, which other children\n"
        "may rely on. Use it when a chain nears its limit of 32 snapshots, or to stop\n"
        "depending on the ancestors.",
    .min_positional = 1,
    .max_positional = 1,
    .flags = {
        {"output", "OUT", "snapshot file to write (required)", false, 'o'},
        {"chunk-size", "SIZE", "chunk size of OUT (default: SNAP's)"},
        {"level", "N", "zstd level, negative levels are faster (default 3)"},
        {"threads", "N", "compression threads (default: one per CPU)"},
        {"dictionary-size", "SIZE", "largest zstd dictionary to train (default 64K; 0: none)"},
        {"dictionary-sample", "SIZE", "image bytes sampled to train the dictionary on (default 8M)"},
        {"no-dictionary", "", "compress every chunk on its own"},
        {"dictionary-always", "", "use the trained dictionary even where it does not pay"},
        {"ancestor", "FILE", kAncestorFlagHelp, true},
        {"json", "", "print the summary as JSON on stdout"},
    }};

int RunFlatten(const ParsedArgs& args) {
  const CommandSpec& spec = kFlattenSpec;
  if (!args.Has("output")) return UsageError(spec, "missing -o OUT");
  WriterOptions options;
  if (absl::Status parsed = ParseWriterOptions(args, options); !parsed.ok()) {
    return UsageError(spec, std::string(parsed.message()));
  }
  const std::string path = args.positional()[0];
  const std::string output = args.Value("output");
  if (output.empty()) return UsageError(spec, "-o: the output path is empty");
  const bool json = args.Has("json");
  auto reader = OpenForCommand(path, args.Values("ancestor"));
  if (!reader.ok()) return Fail(spec.name, reader.status(), json);
  // OUT may be SNAP itself (flatten in place), so only what -o names is checked.
  if (absl::Status problem = CheckOutputPath(output, ""); !problem.ok()) {
    return Fail(spec.name, problem, json);
  }
  if (absl::Status safe = RefuseOverwritingChain(output, **reader, 1); !safe.ok()) {
    return UsageError(spec, std::string(safe.message()));
  }
  if (!args.Has("chunk-size")) options.chunk_size_bytes = (*reader)->chunk_size_bytes();
  options.page_size_bytes = (*reader)->header().page_size_bytes;
  auto source = SnapshotImageSource::Create(**reader);
  if (!source.ok()) return Fail(spec.name, source.status(), json);
  Progress progress("flatten", Progress::StderrIsTerminal());
  options.progress = [&progress](const WriteProgress& p) { progress.Update(p.bytes_done, p.bytes_total); };
  auto summary = WriteSnapshot(**source, output, options);
  progress.Finish();
  if (!summary.ok()) {
    return Fail(spec.name,
                absl::Status(summary.status().code(),
                             absl::StrFormat("%s -> %s: %s", path, output,
                                             summary.status().message())),
                json);
  }
  PrintWritten(args, output, *summary);
  return kExitOk;
}

}  // namespace

absl::StatusOr<uint32_t> ParseChunkSize(std::string_view text) {
  auto size = ParseSize(text);
  if (!size.ok() || !format::IsPowerOfTwo(*size) || *size < format::kMinChunkSizeBytes ||
      *size > format::kMaxChunkSizeBytes) {
    return absl::InvalidArgumentError(
        absl::StrFormat("--chunk-size %s: must be a power of two from 4K to 4M", text));
  }
  return static_cast<uint32_t>(*size);
}

const Command& FlattenCommand() {
  static const Command command{kFlattenSpec, RunFlatten};
  return command;
}

const Command& CreateCommand() {
  static const Command command{kCreateSpec, RunCreate};
  return command;
}
const Command& InspectCommand() {
  static const Command command{kInspectSpec, RunInspect};
  return command;
}
const Command& VerifyCommand() {
  static const Command command{kVerifySpec, RunVerify};
  return command;
}
const Command& ExtractCommand() {
  static const Command command{kExtractSpec, RunExtract};
  return command;
}

}  // namespace lazysnap::cli
