// compression_lab: tries ways of compressing independent chunks of a real process image
// and reports what each stores, against whole-file zstd, with the decode time of a chunk.
// It is the measurement behind the writer's dictionary choice (bench/results/corpus.md):
// every candidate keeps random access (a chunk decodes from its own frame plus immutable
// per-snapshot dictionaries), and this program shows what each candidate buys.
//
// The image is cut like the writer cuts it (chunks of --chunk_kib on the region grid of
// IMAGE.regions when that file exists, else one region); zero chunks and repeats of an
// earlier chunk store nothing, like the writer's; every other chunk is one zstd frame at
// --level, stored raw when zstd saves less than 1/16.
//
// Strategies (--strategies, comma-separated):
//   none                  no dictionary
//   fastcover:SIZE[:SAMPLE[:K]]  one fastCover dictionary (the writer's trainer: k=1024,
//                         d=8) of SIZE trained on SAMPLE bytes of uniformly spread chunks
//   cover:SIZE[:SAMPLE]   one COVER dictionary (slower, exact segment scoring), k=1024 d=8
//   sampled:SIZE          dictionary content = SIZE bytes of uniformly spread chunks
//                         (raw content), entropy tables from ZDICT_finalizeDictionary
//   parts:N:SIZE[:SAMPLE] N fastCover dictionaries, each trained on and used for one of N
//                         contiguous parts of the image
//   bigtables:SIZE[:SAMPLE] fastcover:SIZE with the CDict's hash tables sized for the
//                         dictionary instead of level 3's default
// SIZE and SAMPLE take K and M suffixes (binary).
//
// Output: one markdown row per strategy: stored chunk bytes, dictionary bytes (as stored,
// and what zstd -19 would make of them), file estimate (chunks + dictionaries + index +
// header/trailer), ratio to --zstd3 / --zstd19 when given, training and compression CPU
// seconds, and single-thread decode time per chunk (p50, p99, mean over all non-zero
// chunks, best of --repeat passes per chunk) through lazysnap's ChunkDecoder.
//
//   bazel-bin/bench/corpus/compression_lab --image X.raw --zstd3 BYTES --strategies none,fastcover:64K
#define ZDICT_STATIC_LINKING_ONLY
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zdict.h>
#include <zstd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "base/checksum.h"
#include "snapshot_format/chunk_codec.h"
#include "tools/cli.h"

namespace lazysnap {
namespace {

double CpuSeconds() {
  rusage usage = {};
  ::getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_utime.tv_usec * 1e-6 + usage.ru_stime.tv_sec +
         usage.ru_stime.tv_usec * 1e-6;
}

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct Chunk {
  const uint8_t* data;
  uint32_t length;
  uint64_t number;  // in image order
};

struct Image {
  const uint8_t* base = nullptr;
  uint64_t size = 0;
  uint64_t chunk_count = 0;
  std::vector<Chunk> unique;  // non-zero, first occurrences, in image order
  uint64_t zero_chunks = 0, duplicate_chunks = 0;
};

absl::StatusOr<Image> LoadImage(const std::string& path, uint32_t chunk_bytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::NotFoundError("cannot open " + path);
  struct stat st = {};
  ::fstat(fd, &st);
  Image image;
  image.size = static_cast<uint64_t>(st.st_size);
  void* p = ::mmap(nullptr, image.size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED) return absl::InternalError("mmap " + path);
  image.base = static_cast<const uint8_t*>(p);
  std::vector<std::pair<uint64_t, uint64_t>> regions;
  std::ifstream sidecar(path + ".regions");
  std::string line;
  while (std::getline(sidecar, line)) {
    std::vector<std::string> parts = absl::StrSplit(line, absl::ByAnyChar(":@"));
    uint64_t offset = 0, length = 0;
    if (parts.size() < 2 || !absl::SimpleAtoi(parts[0], &offset) ||
        !absl::SimpleAtoi(parts[1], &length)) {
      return absl::InvalidArgumentError("bad line in " + path + ".regions: " + line);
    }
    regions.push_back({offset, length});
  }
  if (regions.empty()) regions.push_back({0, image.size});
  absl::flat_hash_set<ContentHash128> seen;
  for (auto [offset, length] : regions) {
    for (uint64_t at = 0; at < length; at += chunk_bytes) {
      const uint32_t n = static_cast<uint32_t>(std::min<uint64_t>(chunk_bytes, length - at));
      const uint8_t* data = image.base + offset + at;
      const uint64_t number = image.chunk_count++;
      if (IsAllZero({data, n})) {
        ++image.zero_chunks;
      } else if (!seen.insert(HashContent128({data, n})).second) {
        ++image.duplicate_chunks;
      } else {
        image.unique.push_back({data, n, number});
      }
    }
  }
  return image;
}

// Sample: up to `bytes` of whole chunks spread uniformly over [first, last) of `chunks`.
struct Sample {
  std::vector<uint8_t> bytes;
  std::vector<size_t> sizes;
};

Sample SampleChunks(const std::vector<Chunk>& chunks, size_t first, size_t last, uint64_t bytes) {
  Sample sample;
  const size_t n = last - first;
  if (n == 0) return sample;
  const uint32_t chunk = chunks[first].length;
  const size_t want = std::min<size_t>(n, std::max<uint64_t>(1, bytes / chunk));
  for (size_t s = 0; s < want; ++s) {
    const Chunk& c = chunks[first + (s * n + n / 2) / want];
    sample.bytes.insert(sample.bytes.end(), c.data, c.data + c.length);
    sample.sizes.push_back(c.length);
  }
  return sample;
}

struct Dictionary {
  std::vector<uint8_t> bytes;
  ZSTD_CDict* cdict = nullptr;
  std::unique_ptr<const DecompressionDictionary> ddict;
};

absl::StatusOr<std::vector<uint8_t>> TrainFastCover(const Sample& sample, size_t size, int level,
                                                    unsigned k, bool exact_cover) {
  std::vector<uint8_t> dictionary(size);
  size_t n;
  if (exact_cover) {
    ZDICT_cover_params_t params = {};
    params.k = k;
    params.d = 8;
    params.nbThreads = 2;
    params.zParams.compressionLevel = level;
    n = ZDICT_trainFromBuffer_cover(dictionary.data(), size, sample.bytes.data(),
                                    sample.sizes.data(), static_cast<unsigned>(sample.sizes.size()),
                                    params);
  } else {
    ZDICT_fastCover_params_t params = {};
    params.k = k;
    params.d = 8;
    params.f = 20;
    params.accel = 1;
    params.nbThreads = 2;
    params.zParams.compressionLevel = level;
    n = ZDICT_trainFromBuffer_fastCover(dictionary.data(), size, sample.bytes.data(),
                                        sample.sizes.data(),
                                        static_cast<unsigned>(sample.sizes.size()), params);
  }
  if (ZDICT_isError(n)) {
    return absl::FailedPreconditionError(absl::StrFormat("training: %s", ZDICT_getErrorName(n)));
  }
  dictionary.resize(n);
  return dictionary;
}

absl::StatusOr<std::vector<uint8_t>> SampledContent(const Sample& content, const Sample& tables,
                                                    size_t size, int level) {
  std::vector<uint8_t> dictionary(size + 4096);
  ZDICT_params_t params = {};
  params.compressionLevel = level;
  params.dictID = 0;
  const size_t content_bytes = std::min(content.bytes.size(), size);
  size_t n = ZDICT_finalizeDictionary(
      dictionary.data(), dictionary.size(),
      content.bytes.data() + content.bytes.size() - content_bytes, content_bytes,
      tables.bytes.data(), tables.sizes.data(), static_cast<unsigned>(tables.sizes.size()), params);
  if (ZDICT_isError(n)) {
    return absl::FailedPreconditionError(absl::StrFormat("finalize: %s", ZDICT_getErrorName(n)));
  }
  dictionary.resize(n);
  return dictionary;
}

absl::Status Prepare(Dictionary& d, int level, bool big_tables) {
  ZSTD_compressionParameters cp = ZSTD_getCParams(level, 0, d.bytes.size());
  if (big_tables) {
    unsigned log = 10;
    while ((size_t{1} << log) < d.bytes.size()) ++log;
    cp.hashLog = std::max(cp.hashLog, std::min(log + 1, 24u));
    cp.chainLog = std::max(cp.chainLog, std::min(log + 1, 24u));
    cp.windowLog = std::max(cp.windowLog, std::min(log + 1, 27u));
  }
  d.cdict = ZSTD_createCDict_advanced(d.bytes.data(), d.bytes.size(), ZSTD_dlm_byRef,
                                      ZSTD_dct_auto, cp, ZSTD_defaultCMem);
  if (d.cdict == nullptr) return absl::InternalError("ZSTD_createCDict_advanced");
  auto dd = DecompressionDictionary::Create(d.bytes);
  if (!dd.ok()) return dd.status();
  d.ddict = std::move(*dd);
  return absl::OkStatus();
}

struct Frame {
  std::vector<uint8_t> bytes;  // empty: stored raw
  int dictionary = -1;
};

struct Result {
  std::string name;
  uint64_t stored_chunk_bytes = 0;
  uint64_t dictionary_bytes = 0;
  uint64_t dictionary_bytes_zstd19 = 0;
  double train_cpu = 0, compress_cpu = 0, compress_wall = 0;
  double decode_p50 = 0, decode_p99 = 0, decode_mean = 0;
  uint64_t raw_chunks = 0;
};

uint64_t Zstd19(const std::vector<uint8_t>& bytes) {
  std::vector<uint8_t> out(ZSTD_compressBound(bytes.size()));
  size_t n = ZSTD_compress(out.data(), out.size(), bytes.data(), bytes.size(), 19);
  return ZSTD_isError(n) ? bytes.size() : n;
}

uint64_t ParseSize(const std::string& text) {
  auto v = cli::ParseSize(text);
  return v.ok() ? *v : 0;
}

absl::StatusOr<Result> Run(const Image& image, const std::string& strategy, int level,
                           int repeat, int threads) {
  std::vector<std::string> p = absl::StrSplit(strategy, ':');
  Result result;
  result.name = strategy;
  std::vector<Dictionary> dictionaries;
  std::vector<int> assignment(image.unique.size(), -1);
  const double train_start = CpuSeconds();
  const auto& chunks = image.unique;
  auto add = [&](absl::StatusOr<std::vector<uint8_t>> bytes, bool big) -> absl::Status {
    if (!bytes.ok()) return bytes.status();
    dictionaries.emplace_back();
    dictionaries.back().bytes = std::move(*bytes);
    return Prepare(dictionaries.back(), level, big);
  };
  if (p[0] == "none") {
  } else if (p[0] == "fastcover" || p[0] == "cover" || p[0] == "bigtables") {
    const size_t size = ParseSize(p.at(1));
    const uint64_t sample_bytes = p.size() > 2 ? ParseSize(p[2]) : (8 << 20);
    const unsigned k = p.size() > 3 ? static_cast<unsigned>(std::stoul(p[3])) : 1024;
    Sample sample = SampleChunks(chunks, 0, chunks.size(), sample_bytes);
    if (auto s = add(TrainFastCover(sample, size, level, k, p[0] == "cover"), p[0] == "bigtables");
        !s.ok()) {
      return s;
    }
    std::fill(assignment.begin(), assignment.end(), 0);
  } else if (p[0] == "sampled") {
    const size_t size = ParseSize(p.at(1));
    Sample content = SampleChunks(chunks, 0, chunks.size(), size);
    Sample tables = SampleChunks(chunks, 0, chunks.size(), 8 << 20);
    if (auto s = add(SampledContent(content, tables, size, level), true); !s.ok()) return s;
    std::fill(assignment.begin(), assignment.end(), 0);
  } else if (p[0] == "parts") {
    const size_t parts = std::stoul(p.at(1));
    const size_t size = ParseSize(p.at(2));
    const uint64_t sample_bytes = p.size() > 3 ? ParseSize(p[3]) : (8 << 20);
    for (size_t i = 0; i < parts; ++i) {
      const size_t first = i * chunks.size() / parts, last = (i + 1) * chunks.size() / parts;
      Sample sample = SampleChunks(chunks, first, last, sample_bytes / parts);
      if (auto s = add(TrainFastCover(sample, size, level, 1024, false), false); !s.ok()) return s;
      for (size_t c = first; c < last; ++c) assignment[c] = static_cast<int>(i);
    }
  } else {
    return absl::InvalidArgumentError("unknown strategy " + strategy);
  }
  result.train_cpu = CpuSeconds() - train_start;
  for (const Dictionary& d : dictionaries) {
    result.dictionary_bytes += d.bytes.size();
    result.dictionary_bytes_zstd19 += Zstd19(d.bytes);
  }

  // Compress on `threads` threads.
  std::vector<Frame> frames(chunks.size());
  const double cpu0 = CpuSeconds(), wall0 = Now();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      ZSTD_CCtx* cctx = ZSTD_createCCtx();
      ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level);
      ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 0);
      ZSTD_CCtx_setParameter(cctx, ZSTD_c_forceAttachDict, ZSTD_dictForceAttach);
      std::vector<uint8_t> out(ZSTD_compressBound(4 << 20));
      for (size_t i = t; i < chunks.size(); i += threads) {
        const Chunk& c = chunks[i];
        const int d = assignment[i];
        ZSTD_CCtx_refCDict(cctx, d >= 0 ? dictionaries[d].cdict : nullptr);
        size_t n = ZSTD_compress2(cctx, out.data(), out.size(), c.data, c.length);
        if (ZSTD_isError(n) || StoresRaw(n, c.length)) continue;
        frames[i].bytes.assign(out.data(), out.data() + n);
        frames[i].dictionary = d;
      }
      ZSTD_freeCCtx(cctx);
    });
  }
  for (auto& w : workers) w.join();
  result.compress_cpu = CpuSeconds() - cpu0;
  result.compress_wall = Now() - wall0;

  // Decode each chunk `repeat` times on this thread, keep its best time.
  auto decoder = ChunkDecoder::Create();
  if (!decoder.ok()) return decoder.status();
  std::vector<double> best(chunks.size(), 1e30);
  std::vector<uint8_t> out(4 << 20);
  for (int r = 0; r < repeat; ++r) {
    for (size_t i = 0; i < chunks.size(); ++i) {
      const Chunk& c = chunks[i];
      const Frame& f = frames[i];
      StoredChunk s;
      s.chunk_number = c.number;
      s.length_bytes = c.length;
      s.checksum = Checksum64({c.data, c.length});
      std::span<const uint8_t> stored;
      if (f.bytes.empty()) {
        s.kind = format::ChunkKind::kRaw;
        stored = {c.data, c.length};
        s.stored_checksum = s.checksum;
      } else {
        s.kind = format::ChunkKind::kCompressed;
        stored = f.bytes;
        s.stored_checksum = Checksum64(stored);
      }
      s.stored_length_bytes = static_cast<uint32_t>(stored.size());
      const DecompressionDictionary* dd =
          f.dictionary >= 0 ? dictionaries[f.dictionary].ddict.get() : nullptr;
      const double t0 = Now();
      absl::Status status = decoder->Decode(s, stored, {out.data(), c.length}, dd, "lab");
      const double t1 = Now();
      if (!status.ok()) return status;
      best[i] = std::min(best[i], (t1 - t0) * 1e6);
    }
  }
  for (size_t i = 0; i < chunks.size(); ++i) {
    if (frames[i].bytes.empty()) {
      result.stored_chunk_bytes += chunks[i].length;
      ++result.raw_chunks;
    } else {
      result.stored_chunk_bytes += frames[i].bytes.size();
    }
  }
  double sum = 0;
  for (double b : best) sum += b;
  result.decode_mean = best.empty() ? 0 : sum / best.size();
  std::sort(best.begin(), best.end());
  if (!best.empty()) {
    result.decode_p50 = best[best.size() / 2];
    result.decode_p99 = best[std::min(best.size() - 1, static_cast<size_t>(std::ceil(0.99 * best.size())) - 1)];
  }
  for (Dictionary& d : dictionaries) ZSTD_freeCDict(d.cdict);
  return result;
}

constexpr char kUsage[] =
    "usage: compression_lab --image RAW [--chunk_kib 32] [--level 3] [--zstd3 BYTES]\n"
    "                       [--zstd19 BYTES] [--strategies none,fastcover:64K,...]\n"
    "                       [--repeat 3] [--threads 2]";

int Main(int argc, char** argv) {
  cli::CommandSpec spec;
  spec.name = "compression_lab";
  spec.synopsis = "--image RAW [flags]";
  spec.flags = {{"image", "RAW", "raw image (IMAGE.regions beside it: region grid)"},
                {"chunk_kib", "N", "chunk size in KiB (default 32)"},
                {"level", "N", "zstd level (default 3)"},
                {"zstd3", "BYTES", "whole-file zstd -3 size, for the ratio"},
                {"zstd19", "BYTES", "whole-file zstd -19 --long=27 size, for the ratio"},
                {"strategies", "LIST", "comma-separated strategies"},
                {"repeat", "N", "decode passes (best per chunk)"},
                {"threads", "N", "compression threads (default 2)"}};
  if (cli::WantsHelp(argc, argv)) {
    std::puts(kUsage);
    return 0;
  }
  auto args = cli::Parse(spec, argc, argv);
  if (!args.ok() || !args->Has("image")) {
    std::fprintf(stderr, "%s\n%s\n", args.ok() ? "--image is required" : std::string(args.status().message()).c_str(), kUsage);
    return 2;
  }
  auto number = [&](const char* flag, int64_t fallback) {
    auto v = cli::ParseInt(args->Value(flag, std::to_string(fallback)), -100, 1 << 30);
    return v.ok() ? *v : fallback;
  };
  const uint32_t chunk_bytes = static_cast<uint32_t>(number("chunk_kib", 32)) << 10;
  const int level = static_cast<int>(number("level", 3));
  const uint64_t zstd3 = static_cast<uint64_t>(number("zstd3", 0));
  const uint64_t zstd19 = static_cast<uint64_t>(number("zstd19", 0));
  auto image = LoadImage(args->Value("image"), chunk_bytes);
  if (!image.ok()) {
    std::fprintf(stderr, "%s\n", image.status().ToString().c_str());
    return 1;
  }
  std::printf("image %s: %.1f MiB, %lu chunks (%lu zero, %lu repeated, %zu compressed)\n",
              args->Value("image").c_str(), image->size / 1048576.0, image->chunk_count,
              image->zero_chunks, image->duplicate_chunks, image->unique.size());
  std::printf("| strategy | chunks MiB | dict KiB (zstd-19 KiB) | file MiB | /zstd-3 | /zstd-19 | raw chunks | train CPU s | compress CPU s | MB/CPU-s | decode us p50 / p99 / mean |\n");
  std::printf("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n");
  std::fflush(stdout);
  const std::vector<std::string> strategies =
      absl::StrSplit(args->Value("strategies", "none,fastcover:64K"), ',');
  for (const std::string& strategy : strategies) {
    auto r = Run(*image, strategy, level, static_cast<int>(number("repeat", 3)),
                 static_cast<int>(number("threads", 2)));
    if (!r.ok()) {
      std::printf("| %s | %s |\n", strategy.c_str(), r.status().ToString().c_str());
      continue;
    }
    const uint64_t file = r->stored_chunk_bytes + r->dictionary_bytes + 32 * image->chunk_count + 128;
    std::printf("| %s | %.2f | %.0f (%.0f) | %.2f | %.3f | %.3f | %lu | %.2f | %.2f | %.0f | %.1f / %.1f / %.1f |\n",
                r->name.c_str(), r->stored_chunk_bytes / 1048576.0, r->dictionary_bytes / 1024.0,
                r->dictionary_bytes_zstd19 / 1024.0, file / 1048576.0,
                zstd3 ? double(file) / zstd3 : 0.0, zstd19 ? double(file) / zstd19 : 0.0,
                r->raw_chunks, r->train_cpu, r->compress_cpu,
                image->size / 1e6 / (r->compress_cpu + r->train_cpu), r->decode_p50,
                r->decode_p99, r->decode_mean);
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace
}  // namespace lazysnap

int main(int argc, char** argv) { return lazysnap::Main(argc, argv); }
