#include "snapshot_format/dictionary_trainer.h"

#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/str_format.h"
#include "snapshot_format/test_util.h"

namespace lazysnap {
namespace {

constexpr uint32_t kChunk = 4096;

// RecordImage: `chunks` chunks of heap-like records (a binary header, then lines of
// key=value text drawn from small vocabularies): every chunk differs, but they share
// their words, which is what a dictionary captures.
std::vector<uint8_t> RecordImage(size_t chunks, uint64_t seed = 1) {
  static const char* kWords[] = {"customer", "invoice", "pending", "shipped", "Berlin",
                                 "Osaka",    "balance", "account", "payment", "request",
                                 "timeout",  "record",  "status",  "address", "quantity"};
  std::vector<uint8_t> image(chunks * kChunk);
  uint64_t state = seed;
  auto next = [&state] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  for (size_t c = 0; c < chunks; ++c) {
    uint8_t* p = image.data() + c * kChunk;
    std::string text;
    while (text.size() < kChunk) {
      text += absl::StrFormat("{id:%d,%s:%s,%s:%d.%02d,tag:%s}\n", next() % 100000,
                              kWords[next() % 15], kWords[next() % 15], kWords[next() % 15],
                              next() % 5000, next() % 100, kWords[next() % 15]);
    }
    std::memcpy(p, text.data(), kChunk);
    for (int i = 0; i < 16; ++i) p[i] = static_cast<uint8_t>(next());
  }
  return image;
}

std::vector<uint8_t> RandomImage(size_t chunks) {
  std::vector<uint8_t> image(chunks * kChunk);
  uint64_t state = 99;
  for (uint8_t& b : image) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    b = static_cast<uint8_t>(state >> 56);
  }
  return image;
}

// StreamSource is a MemoryImageSource that says it cannot be read out of order.
class StreamSource : public testing::MemoryImageSource {
 public:
  using MemoryImageSource::MemoryImageSource;
  bool random_access() const override { return false; }
};

DictionaryTrainingOptions SmallOptions() {
  DictionaryTrainingOptions options;
  options.dictionary_size_bytes = 16 << 10;
  options.sample_bytes = 1 << 20;
  options.threads = 2;
  return options;
}

TEST(DictionaryTrainer, TrainsADictionaryThatShrinksRecordChunks) {
  std::vector<uint8_t> image = RecordImage(512);
  testing::MemoryImageSource source(image, {{0, image.size(), 0}});
  auto trained = TrainDictionary(source, kChunk, 3, SmallOptions());
  ASSERT_TRUE(trained.ok()) << trained.status();
  ASSERT_NE(trained->dictionary, nullptr) << trained->note;
  EXPECT_LE(trained->dictionary->bytes().size(), 16u << 10);
  EXPECT_NE(trained->dictionary->id(), 0u);
  EXPECT_EQ(trained->sample_bytes, 1u << 20);
  EXPECT_EQ(trained->sample_chunks, 256u);
  EXPECT_GT(trained->evaluation_bytes, 0u);
  EXPECT_LT(trained->evaluation_stored_with, trained->evaluation_stored_without);
  EXPECT_GT(trained->projected_saving_bytes, trained->dictionary->bytes().size());
  EXPECT_NE(trained->note.find("dictionary sizes tried"), std::string::npos) << trained->note;
}

TEST(DictionaryTrainer, SizeZeroMeansNoDictionary) {
  std::vector<uint8_t> image = RecordImage(64);
  testing::MemoryImageSource source(image, {{0, image.size(), 0}});
  DictionaryTrainingOptions options = SmallOptions();
  options.dictionary_size_bytes = 0;
  auto trained = TrainDictionary(source, kChunk, 3, options);
  ASSERT_TRUE(trained.ok()) << trained.status();
  EXPECT_EQ(trained->dictionary, nullptr);
  EXPECT_EQ(trained->sample_chunks, 0u);
}

TEST(DictionaryTrainer, StreamsGetNoDictionaryAndAreNotRead) {
  std::vector<uint8_t> image = RecordImage(512);
  StreamSource source(image, {{0, image.size(), 0}});
  source.FailAfter(0);  // any read fails the test
  auto trained = TrainDictionary(source, kChunk, 3, SmallOptions());
  ASSERT_TRUE(trained.ok()) << trained.status();
  EXPECT_EQ(trained->dictionary, nullptr);
  EXPECT_NE(trained->note.find("stream"), std::string::npos) << trained->note;
  EXPECT_TRUE(absl::IsFailedPrecondition(SampleChunks(source, kChunk, 1 << 20).status()));
}

TEST(DictionaryTrainer, AllZeroImageGetsNoDictionary) {
  testing::MemoryImageSource source(std::vector<uint8_t>(1 << 20), {{0, 1 << 20, 0}});
  auto trained = TrainDictionary(source, kChunk, 3, SmallOptions());
  ASSERT_TRUE(trained.ok()) << trained.status();
  EXPECT_EQ(trained->dictionary, nullptr);
  EXPECT_EQ(trained->sample_chunks, 0u);
  EXPECT_NE(trained->note.find("too little"), std::string::npos) << trained->note;
}

TEST(DictionaryTrainer, IncompressibleImageGetsNoDictionary) {
  std::vector<uint8_t> image = RandomImage(512);
  testing::MemoryImageSource source(image, {{0, image.size(), 0}});
  auto trained = TrainDictionary(source, kChunk, 3, SmallOptions());
  ASSERT_TRUE(trained.ok()) << trained.status();
  EXPECT_EQ(trained->dictionary, nullptr);
  EXPECT_FALSE(trained->note.empty());
}

TEST(DictionaryTrainer, AlwaysKeepsADictionaryThatDoesNotPay) {
  std::vector<uint8_t> image = RandomImage(512);
  testing::MemoryImageSource source(image, {{0, image.size(), 0}});
  DictionaryTrainingOptions options = SmallOptions();
  options.only_if_it_pays = false;
  auto trained = TrainDictionary(source, kChunk, 3, options);
  ASSERT_TRUE(trained.ok()) << trained.status();
  ASSERT_NE(trained->dictionary, nullptr) << trained->note;
  EXPECT_LE(trained->projected_saving_bytes, trained->dictionary->bytes().size());
}

TEST(DictionaryTrainer, SmallestAllowedDictionaryIsTrained) {
  std::vector<uint8_t> image = RecordImage(512);
  testing::MemoryImageSource source(image, {{0, image.size(), 0}});
  DictionaryTrainingOptions options = SmallOptions();
  for (size_t size : {kMinDictionarySizeBytes, size_t{1000}, size_t{1024}}) {
    options.dictionary_size_bytes = size;
    options.only_if_it_pays = false;
    options.required = true;
    auto trained = TrainDictionary(source, kChunk, 3, options);
    ASSERT_TRUE(trained.ok()) << size << ": " << trained.status();
    ASSERT_NE(trained->dictionary, nullptr) << size;
    EXPECT_LE(trained->dictionary->bytes().size(), size);
  }
}

TEST(DictionaryTrainer, RequiredDictionaryThatCannotBeTrainedIsAnError) {
  std::vector<uint8_t> image = RecordImage(512);
  StreamSource stream(image, {{0, image.size(), 0}});
  testing::MemoryImageSource zeros(std::vector<uint8_t>(1 << 20), {{0, 1 << 20, 0}});
  DictionaryTrainingOptions options = SmallOptions();
  options.only_if_it_pays = false;
  options.required = true;
  for (ImageSource* source : std::vector<ImageSource*>{&stream, &zeros}) {
    auto trained = TrainDictionary(*source, kChunk, 3, options);
    EXPECT_TRUE(absl::IsFailedPrecondition(trained.status())) << trained.status();
    EXPECT_NE(trained.status().message().find("no dictionary: "), absl::string_view::npos);
  }
}

TEST(DictionaryTrainer, BadOptionsAreInvalidArgument) {
  std::vector<uint8_t> image = RecordImage(64);
  testing::MemoryImageSource source(image, {{0, image.size(), 0}});
  DictionaryTrainingOptions options = SmallOptions();
  options.dictionary_size_bytes = 100;
  EXPECT_TRUE(absl::IsInvalidArgument(TrainDictionary(source, kChunk, 3, options).status()));
  options.dictionary_size_bytes = 32 << 20;
  EXPECT_TRUE(absl::IsInvalidArgument(TrainDictionary(source, kChunk, 3, options).status()));
  options = SmallOptions();
  options.sample_bytes = 0;
  EXPECT_TRUE(absl::IsInvalidArgument(TrainDictionary(source, kChunk, 3, options).status()));
}

TEST(DictionaryTrainer, SampleIsSpreadOverEveryRegionAndSkipsZeroAndRepeatedChunks) {
  // Four regions of 256 chunks; every chunk is stamped with its number, except that
  // every 4th is zero and every 4th (offset by one) repeats chunk 1's bytes.
  constexpr size_t kChunks = 1024;
  std::vector<uint8_t> image = RecordImage(kChunks, 5);
  for (size_t c = 0; c < kChunks; ++c) {
    uint8_t* p = image.data() + c * kChunk;
    if (c % 4 == 0) {
      std::memset(p, 0, kChunk);
    } else if (c % 4 == 1) {
      std::memcpy(p, image.data() + kChunk, kChunk);
    } else {
      std::memcpy(p, &c, sizeof(c));
    }
  }
  std::vector<format::Region> regions;
  for (uint64_t r = 0; r < 4; ++r) regions.push_back({r * 256 * kChunk, 256 * kChunk, 0});
  testing::MemoryImageSource source(image, regions);
  auto sample = SampleChunks(source, kChunk, 128 * kChunk);
  ASSERT_TRUE(sample.ok()) << sample.status();
  EXPECT_EQ(sample->image_chunks, kChunks);
  EXPECT_EQ(sample->image_bytes, image.size());
  ASSERT_GE(sample->count(), 100u);
  EXPECT_LE(sample->bytes.size(), 128u * kChunk);
  std::vector<int> per_region(4);
  int repeats_of_chunk_1 = 0;
  for (size_t i = 0; i < sample->count(); ++i) {
    std::span<const uint8_t> chunk = sample->ChunkAt(i);
    ASSERT_EQ(chunk.size(), kChunk);
    EXPECT_FALSE(IsAllZero(chunk));
    if (std::memcmp(chunk.data(), image.data() + kChunk, kChunk) == 0) {
      ++repeats_of_chunk_1;
      continue;
    }
    size_t number;
    std::memcpy(&number, chunk.data(), sizeof(number));
    ASSERT_LT(number, kChunks);
    EXPECT_GE(number % 4, 2u);
    ++per_region[number / 256];
  }
  EXPECT_LE(repeats_of_chunk_1, 1);
  for (int n : per_region) EXPECT_GE(n, 20) << "the sample misses part of the image";

  auto again = SampleChunks(source, kChunk, 128 * kChunk);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->bytes, sample->bytes) << "sampling is not deterministic";
}

TEST(DictionaryTrainer, EstimateMatchesTheWriterRuleForIncompressibleChunks) {
  std::vector<uint8_t> image = RandomImage(8);
  testing::MemoryImageSource source(image, {{0, image.size(), 0}});
  auto sample = SampleChunks(source, kChunk, image.size());
  ASSERT_TRUE(sample.ok());
  ASSERT_EQ(sample->count(), 8u);
  auto stored = EstimateStoredBytes(*sample, 3, nullptr);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(*stored, image.size());  // every chunk would be stored raw
}

}  // namespace
}  // namespace lazysnap

namespace lazysnap {
namespace {

// FarRepeatImage: `chunks` chunks, each four of `templates` pseudo-random text blocks of
// 1 KiB, chosen at random: content repeats, but farther apart than a small dictionary
// holds (templates x 1 KiB of distinct content).
std::vector<uint8_t> FarRepeatImage(size_t chunks, size_t templates) {
  uint64_t state = 7;
  auto next = [&state] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return state >> 33;
  };
  std::vector<std::string> blocks(templates);
  for (std::string& block : blocks) {
    while (block.size() < 1024) block += static_cast<char>('a' + next() % 26);
  }
  std::vector<uint8_t> image(chunks * kChunk);
  for (size_t at = 0; at < image.size(); at += 1024) {
    const std::string& block = blocks[next() % templates];
    std::memcpy(image.data() + at, block.data(), 1024);
  }
  return image;
}

// LargeOptions: up to 512 KiB dictionaries, trained on `sample_bytes`.
DictionaryTrainingOptions LargeOptions(uint64_t sample_bytes) {
  DictionaryTrainingOptions options;
  options.dictionary_size_bytes = 512 << 10;
  options.sample_bytes = sample_bytes;
  options.threads = 2;
  return options;
}

TEST(DictionaryTrainer, FarRepeatsGetALargerDictionaryThanTheSmallest) {
  std::vector<uint8_t> image = FarRepeatImage(2048, 256);  // 8 MiB, 256 KiB of templates
  testing::MemoryImageSource source(image, {{0, image.size(), 0}});
  auto trained = TrainDictionary(source, kChunk, 3, LargeOptions(4 << 20));
  ASSERT_TRUE(trained.ok()) << trained.status();
  ASSERT_NE(trained->dictionary, nullptr) << trained->note;
  // The probe saw the far repeats, so larger sizes were tried, and one of them won.
  EXPECT_GT(trained->probe_projected_gain_bytes, 512u << 10) << trained->note;
  ASSERT_GE(trained->candidates.size(), 2u) << trained->note;
  EXPECT_EQ(trained->candidates[0].dictionary_bytes, kMinCandidateDictionarySizeBytes);
  EXPECT_GT(trained->dictionary->bytes().size(), kMinCandidateDictionarySizeBytes)
      << trained->note;
  EXPECT_LT(trained->evaluation_stored_with, trained->candidates[0].evaluation_stored_with);
}

TEST(DictionaryTrainer, NoFarRepeatsTrainOnlyTheSmallest) {
  std::vector<uint8_t> image = RecordImage(1024);
  testing::MemoryImageSource source(image, {{0, image.size(), 0}});
  auto trained = TrainDictionary(source, kChunk, 3, LargeOptions(2 << 20));
  ASSERT_TRUE(trained.ok()) << trained.status();
  EXPECT_GT(trained->probe_stored_with, 0u);
  EXPECT_LE(trained->probe_projected_gain_bytes, 512u << 10) << trained->note;
  EXPECT_EQ(trained->candidates.size(), 1u) << trained->note;
}

TEST(DictionaryTrainer, ShrinkKeepsTheTailAndMakesAUsableDictionary) {
  std::vector<uint8_t> image = RecordImage(512);
  testing::MemoryImageSource source(image, {{0, image.size(), 0}});
  auto sample = SampleChunks(source, kChunk, 1 << 20);
  ASSERT_TRUE(sample.ok()) << sample.status();
  auto large = BuildDictionary(*sample, 32 << 10, 3, 2);
  ASSERT_TRUE(large.ok()) << large.status();
  auto small = ShrinkDictionary(**large, 4 << 10, *sample, 3);
  ASSERT_TRUE(small.ok()) << small.status();
  std::span<const uint8_t> big = (*large)->bytes();
  std::span<const uint8_t> tail = (*small)->bytes();
  ASSERT_GT(tail.size(), 4u << 10);
  EXPECT_LT(tail.size(), big.size());
  // Its content is the last 4 KiB of the large dictionary's content.
  EXPECT_EQ(0, std::memcmp(tail.data() + tail.size() - (4 << 10),
                           big.data() + big.size() - (4 << 10), 4 << 10));
  EXPECT_NE((*small)->id(), 0u);
  auto with = EstimateStoredBytes(*sample, 3, small->get());
  auto without = EstimateStoredBytes(*sample, 3, nullptr);
  ASSERT_TRUE(with.ok() && without.ok());
  EXPECT_LT(*with, *without);
}

}  // namespace
}  // namespace lazysnap
