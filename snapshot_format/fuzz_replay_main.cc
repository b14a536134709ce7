// A main for fuzz targets built without libFuzzer: runs LLVMFuzzerTestOneInput once on
// each file named on the command line, or on each file of a named directory, so that a
// crash found by the fuzzer can be replayed and debugged with the normal toolchain:
//
//   tools/bazel run //snapshot_format:reader_fuzzer -- $PWD/snapshot_format/testdata/fuzz_corpus
//
// (Only without --config=fuzz: there the same target is libFuzzer, which would start
// fuzzing and add its findings to the directory.)
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "base/file_io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

// InputsOf lists `path` itself, or the regular files of the directory `path` in name
// order. Errors are reported and yield no inputs.
std::vector<std::string> InputsOf(const std::string& path) {
  std::error_code error;
  if (!std::filesystem::is_directory(path, error)) return {path};
  std::vector<std::string> files;
  for (std::filesystem::directory_iterator it(path, error), end; !error && it != end;
       it.increment(error)) {
    if (it->is_regular_file(error)) files.push_back(it->path().string());
  }
  if (error) std::fprintf(stderr, "%s: %s\n", path.c_str(), error.message().c_str());
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s FILE_OR_DIRECTORY...\n", argv[0]);
    return 2;
  }
  int replayed = 0;
  for (int i = 1; i < argc; ++i) {
    for (const std::string& input : InputsOf(argv[i])) {
      auto bytes = lazysnap::ReadFileToString(input);
      if (!bytes.ok()) {
        std::fprintf(stderr, "%s\n", std::string(bytes.status().ToString()).c_str());
        return 1;
      }
      std::fprintf(stderr, "running %s (%zu bytes)\n", input.c_str(), bytes->size());
      LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes->data()), bytes->size());
      ++replayed;
    }
  }
  std::fprintf(stderr, "replayed %d inputs\n", replayed);
  return replayed > 0 ? 0 : 1;
}
