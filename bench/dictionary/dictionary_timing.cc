// dictionary_timing: the timing loop behind two codec choices (bench/results/dictionary.md).
//
//   decode   one zstd frame per chunk, decoded four ways: without a dictionary; with a
//            shared prepared DDict passed per frame (ZSTD_decompress_usingDDict, what
//            ChunkDecoder does); with the DDict referenced once per context
//            (ZSTD_DCtx_refDDict); and with the raw dictionary bytes per frame
//            (ZSTD_decompress_usingDict: the per-fault dictionary set-up lazysnap avoids).
//   compress the same chunks at level 3 without a dictionary and with a level-3 CDict in
//            zstd's automatic mode, forced attach (ChunkCompressor's choice) and forced copy.
//
// Workload: a raw image file (e.g. a captured process, `lazysnap extract` of it); a
// 64 KiB dictionary is trained with the trainer's fastCover parameters on 8 MiB of chunks
// spread over the image, and up to 64 MiB of non-zero chunks are timed, best of 5.
//
//   tools/bazel run -c opt //bench/dictionary:dictionary_timing -- IMAGE CHUNK_BYTES
#define ZDICT_STATIC_LINKING_ONLY
#include <zdict.h>
#include <zstd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool AllZero(const char* p, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (p[i] != 0) return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: dictionary_timing IMAGE CHUNK_BYTES\n");
    return 2;
  }
  FILE* file = std::fopen(argv[1], "rb");
  if (file == nullptr) return 1;
  const size_t chunk = std::strtoul(argv[2], nullptr, 10);
  std::fseek(file, 0, SEEK_END);
  const size_t size = std::ftell(file);
  std::fseek(file, 0, SEEK_SET);
  std::vector<char> image(size);
  if (std::fread(image.data(), 1, size, file) != size) return 1;
  const size_t chunks = size / chunk;

  std::vector<char> samples;
  std::vector<size_t> sample_sizes;
  const size_t want = std::min(chunks, (size_t{8} << 20) / chunk);
  for (size_t s = 0; s < want; ++s) {
    const char* p = &image[s * chunks / want * chunk];
    samples.insert(samples.end(), p, p + chunk);
    sample_sizes.push_back(chunk);
  }
  std::vector<char> dictionary(64 << 10);
  ZDICT_fastCover_params_t params = {};
  params.k = 1024;
  params.d = 8;
  params.f = 20;
  params.accel = 1;
  params.nbThreads = 2;
  params.zParams.compressionLevel = 3;
  size_t n = ZDICT_trainFromBuffer_fastCover(dictionary.data(), dictionary.size(),
                                             samples.data(), sample_sizes.data(),
                                             static_cast<unsigned>(sample_sizes.size()), params);
  if (ZDICT_isError(n)) return 1;
  dictionary.resize(n);
  ZSTD_CDict* cdict = ZSTD_createCDict(dictionary.data(), n, 3);
  ZSTD_DDict* ddict = ZSTD_createDDict(dictionary.data(), n);

  std::vector<const char*> inputs;
  for (size_t c = 1; c < chunks && inputs.size() * chunk < (size_t{64} << 20); c += 3) {
    if (!AllZero(&image[c * chunk], chunk)) inputs.push_back(&image[c * chunk]);
  }
  const double bytes = static_cast<double>(inputs.size() * chunk);
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  std::vector<std::vector<char>> with, without;
  std::vector<char> out(ZSTD_compressBound(chunk));
  for (const char* in : inputs) {
    size_t a = ZSTD_compress_usingCDict(cctx, out.data(), out.size(), in, chunk, cdict);
    with.emplace_back(out.begin(), out.begin() + a);
    size_t b = ZSTD_compressCCtx(cctx, out.data(), out.size(), in, chunk, 3);
    without.emplace_back(out.begin(), out.begin() + b);
  }
  std::printf("image %s, chunk %zu, dictionary %zu bytes, %zu chunks timed\n", argv[1], chunk, n,
              inputs.size());

  ZSTD_DCtx* dctx = ZSTD_createDCtx();
  double best[4] = {1e9, 1e9, 1e9, 1e9};
  for (int rep = 0; rep < 5; ++rep) {
    double t0 = Now();
    for (auto& f : without) ZSTD_decompressDCtx(dctx, out.data(), chunk, f.data(), f.size());
    double t1 = Now();
    for (auto& f : with) {
      ZSTD_decompress_usingDDict(dctx, out.data(), chunk, f.data(), f.size(), ddict);
    }
    double t2 = Now();
    ZSTD_DCtx_refDDict(dctx, ddict);
    for (auto& f : with) ZSTD_decompressDCtx(dctx, out.data(), chunk, f.data(), f.size());
    ZSTD_DCtx_refDDict(dctx, nullptr);
    double t3 = Now();
    for (auto& f : with) {
      ZSTD_decompress_usingDict(dctx, out.data(), chunk, f.data(), f.size(), dictionary.data(), n);
    }
    double t4 = Now();
    best[0] = std::min(best[0], t1 - t0);
    best[1] = std::min(best[1], t2 - t1);
    best[2] = std::min(best[2], t3 - t2);
    best[3] = std::min(best[3], t4 - t3);
  }
  std::printf("decode GB/s (best of 5): no dictionary %.2f, usingDDict %.2f, refDDict %.2f, "
              "raw dictionary per frame %.2f\n",
              bytes / best[0] / 1e9, bytes / best[1] / 1e9, bytes / best[2] / 1e9,
              bytes / best[3] / 1e9);

  const char* names[] = {"no dictionary", "CDict auto", "CDict attach", "CDict copy"};
  for (int mode = 0; mode < 4; ++mode) {
    ZSTD_CCtx* c = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, 3);
    if (mode > 0) ZSTD_CCtx_refCDict(c, cdict);
    if (mode == 2) ZSTD_CCtx_setParameter(c, ZSTD_c_forceAttachDict, ZSTD_dictForceAttach);
    if (mode == 3) ZSTD_CCtx_setParameter(c, ZSTD_c_forceAttachDict, ZSTD_dictForceCopy);
    double fastest = 1e9;
    size_t stored = 0;
    for (int rep = 0; rep < 3; ++rep) {
      double t0 = Now();
      stored = 0;
      for (const char* in : inputs) stored += ZSTD_compress2(c, out.data(), out.size(), in, chunk);
      fastest = std::min(fastest, Now() - t0);
    }
    std::printf("compress %-14s %4.0f MB/s (best of 3), %zu bytes\n", names[mode],
                bytes / fastest / 1e6, stored);
    ZSTD_freeCCtx(c);
  }
  return 0;
}
