// Round trips: images mixing every chunk kind, in one or several regions, through the
// writer and back through the reader, the parallel decoder and extract.
#include <fcntl.h>
#include <unistd.h>
#include <zstd.h>

#include <cstring>
#include <thread>

#include <gtest/gtest.h>

#include "base/file_io.h"
#include "snapshot_format/dictionary_trainer.h"
#include "snapshot_format/image_decoder.h"
#include "snapshot_format/image_source.h"
#include "snapshot_format/snapshot_reader.h"
#include "snapshot_format/snapshot_writer.h"
#include "snapshot_format/test_util.h"

namespace lazysnap {
namespace {

using testing::Fill;

const std::vector<Fill> kAllKinds = {Fill::kText, Fill::kZero, Fill::kRandom,
                                     Fill::kCopyOfFirstText, Fill::kText, Fill::kZero};

// ExpectReadsBack checks every chunk of `path` against `image` through ReadChunk, and
// the whole image through DecodeImage.
void ExpectReadsBack(const std::string& path, const std::vector<uint8_t>& image,
                     const std::vector<format::Region>& regions) {
  auto reader = SnapshotReader::Open(path);
  ASSERT_TRUE(reader.ok()) << reader.status();
  ASSERT_EQ((*reader)->regions().size(), regions.size());
  auto decoder = ChunkDecoder::Create();
  std::vector<uint8_t> scratch;
  uint64_t covered = 0;
  for (uint64_t chunk = 0; chunk < (*reader)->chunk_count(); ++chunk) {
    ChunkLocation location = (*reader)->Locate(chunk).value();
    std::vector<uint8_t> out(location.stored.length_bytes);
    absl::Status status = (*reader)->ReadChunk(chunk, *decoder, scratch, out);
    ASSERT_TRUE(status.ok()) << status;
    ASSERT_EQ(0, std::memcmp(out.data(), image.data() + location.image_offset_bytes, out.size()))
        << "chunk " << chunk;
    covered += out.size();
  }
  uint64_t region_bytes = 0;
  for (const format::Region& r : regions) region_bytes += r.length_bytes;
  EXPECT_EQ(covered, region_bytes);

  std::atomic<uint64_t> sunk{0};
  auto summary = DecodeImage(**reader, {.threads = 3, .include_zero_chunks = true},
                             [&](const ChunkLocation& location, std::span<const uint8_t> bytes) {
                               sunk += bytes.size();
                               if (std::memcmp(bytes.data(),
                                               image.data() + location.image_offset_bytes,
                                               bytes.size()) != 0) {
                                 return absl::InternalError("mismatch");
                               }
                               return absl::OkStatus();
                             });
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(sunk.load(), region_bytes);
}

class RoundTrip : public ::testing::TestWithParam<uint32_t> {};

TEST_P(RoundTrip, MixedKindsSingleRegionWithPartialLastChunk) {
  const uint32_t chunk = GetParam();
  const uint64_t length = 13 * uint64_t{chunk} + 4096 * 3 + 123;
  std::vector<uint8_t> image = testing::MixedImage(length, chunk, kAllKinds);
  std::vector<format::Region> regions = {{0, length, 0}};
  testing::MemoryImageSource source(image, regions);
  std::string path = testing::TempPath("single");
  WriterOptions options;
  options.chunk_size_bytes = chunk;
  options.threads = 2;
  auto summary = WriteSnapshot(source, path, options);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->chunk_count, format::ChunkCountForLength(length, chunk));
  EXPECT_GT(summary->zero_chunks, 0u);
  EXPECT_GT(summary->duplicate_chunks, 0u);
  EXPECT_GT(summary->raw_chunks, 0u);
  EXPECT_GT(summary->compressed_chunks, 0u);
  EXPECT_EQ(summary->zero_chunks + summary->duplicate_chunks + summary->raw_chunks +
                summary->compressed_chunks,
            summary->chunk_count);
  ExpectReadsBack(path, image, regions);

  auto reader = SnapshotReader::Open(path);
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ((*reader)->summary().duplicate_chunks, summary->duplicate_chunks);
  EXPECT_EQ((*reader)->file_size_bytes(), summary->file_bytes);
}

INSTANTIATE_TEST_SUITE_P(ChunkSizes, RoundTrip,
                         ::testing::Values(4u << 10, 16u << 10, 64u << 10, 1u << 20));

const std::vector<Fill> kRecordKinds = {Fill::kRecords, Fill::kZero,    Fill::kRecords,
                                        Fill::kRandom,  Fill::kRecords,  Fill::kCopyOfFirstText,
                                        Fill::kText,    Fill::kRecords};

// SmallDictionary: training options small enough for test images.
DictionaryTrainingOptions SmallDictionary() {
  DictionaryTrainingOptions options;
  options.dictionary_size_bytes = 16 << 10;
  options.sample_bytes = 2 << 20;
  return options;
}

class DictionaryRoundTrip : public ::testing::TestWithParam<uint32_t> {};

TEST_P(DictionaryRoundTrip, TrainedDictionaryShrinksTheFileAndEveryChunkReadsBack) {
  const uint32_t chunk = GetParam();
  const uint64_t length = (4u << 20) + 4096 + 77;  // ends in a partial chunk
  std::vector<uint8_t> image = testing::MixedImage(length, chunk, kRecordKinds, 11);
  std::vector<format::Region> regions = {{0, length / 2 & ~uint64_t{4095}, 0x10000},
                                         {length / 2 & ~uint64_t{4095}, 0, 0x900000}};
  regions[1].length_bytes = length - regions[1].image_offset_bytes;
  testing::MemoryImageSource source(image, regions);

  WriterOptions options;
  options.chunk_size_bytes = chunk;
  options.threads = 2;
  options.train_dictionary = SmallDictionary();
  std::string with_path = testing::TempPath("with_dictionary");
  auto with = WriteSnapshot(source, with_path, options);
  ASSERT_TRUE(with.ok()) << with.status();
  ASSERT_GT(with->dictionary_bytes, 0u) << with->dictionary_note;
  EXPECT_LE(with->dictionary_bytes, 16u << 10);
  EXPECT_NE(with->dictionary_id, 0u);
  EXPECT_GT(with->dictionary_sample_bytes, 0u);
  EXPECT_NE(with->dictionary_note.find("dictionary sizes tried"), std::string::npos)
      << with->dictionary_note;
  ExpectReadsBack(with_path, image, regions);

  options.train_dictionary.dictionary_size_bytes = 0;
  std::string without_path = testing::TempPath("without_dictionary");
  auto without = WriteSnapshot(source, without_path, options);
  ASSERT_TRUE(without.ok()) << without.status();
  EXPECT_EQ(without->dictionary_bytes, 0u);
  ExpectReadsBack(without_path, image, regions);
  EXPECT_LT(with->file_bytes, without->file_bytes);
  EXPECT_EQ(with->compressed_chunks + with->raw_chunks,
            without->compressed_chunks + without->raw_chunks);

  auto reader = SnapshotReader::Open(with_path);
  ASSERT_TRUE(reader.ok()) << reader.status();
  ASSERT_EQ((*reader)->sections().size(), 1u);
  const format::Section& section = (*reader)->sections()[0];
  EXPECT_EQ(section.type, static_cast<uint32_t>(format::SectionType::kDictionary));
  EXPECT_EQ(section.slot, 1);
  EXPECT_NE(section.flags & format::kSectionFlagRequired, 0);
  EXPECT_EQ(section.length_bytes, with->dictionary_bytes);
  ASSERT_NE((*reader)->dictionary(1), nullptr);
  EXPECT_EQ((*reader)->dictionary(1)->id(), with->dictionary_id);
  EXPECT_EQ((*reader)->summary().dictionary_chunks, (*reader)->summary().compressed_chunks);
  EXPECT_GT((*reader)->summary().compressed_chunks, 0u);

  auto plain = SnapshotReader::Open(without_path);
  ASSERT_TRUE(plain.ok());
  EXPECT_TRUE((*plain)->sections().empty());
  EXPECT_EQ((*plain)->summary().dictionary_chunks, 0u);
}

INSTANTIATE_TEST_SUITE_P(ChunkSizes, DictionaryRoundTrip,
                         ::testing::Values(4u << 10, 16u << 10, 64u << 10));

TEST(DictionaryRoundTrip, AChunkDecodesFromItsOwnBytesAndTheDictionaryAlone) {
  // Random access: zstd, given only the dictionary section's payload and one chunk's
  // stored bytes, reproduces the chunk; no other chunk or state is involved.
  const uint32_t chunk = 16 << 10;
  std::vector<uint8_t> image = testing::MixedImage(4 << 20, chunk, kRecordKinds, 12);
  testing::MemoryImageSource source(image, {{0, image.size(), 0}});
  WriterOptions options;
  options.chunk_size_bytes = chunk;
  options.train_dictionary = SmallDictionary();
  std::string path = testing::TempPath("random_access");
  auto summary = WriteSnapshot(source, path, options);
  ASSERT_TRUE(summary.ok()) << summary.status();
  ASSERT_GT(summary->dictionary_bytes, 0u) << summary->dictionary_note;

  std::vector<uint8_t> file = testing::ReadFileBytes(path);
  auto reader = SnapshotReader::Open(path);
  ASSERT_TRUE(reader.ok());
  const format::Section& section = (*reader)->sections()[0];
  std::vector<uint8_t> dictionary(file.begin() + section.offset_bytes,
                                  file.begin() + section.offset_bytes + section.length_bytes);
  int decoded = 0;
  for (uint64_t n = (*reader)->chunk_count(); n-- > 0;) {  // backwards: no warm-up
    ChunkLocation location = (*reader)->Locate(n).value();
    if (location.is_duplicate || location.stored.kind != format::ChunkKind::kCompressed) continue;
    ASSERT_EQ(location.stored.dictionary_slot, 1);
    std::vector<uint8_t> stored(file.begin() + location.stored.file_offset_bytes,
                                file.begin() + location.stored.file_offset_bytes +
                                    location.stored.stored_length_bytes);
    std::vector<uint8_t> out(location.stored.length_bytes);
    ZSTD_DCtx* context = ZSTD_createDCtx();
    size_t got = ZSTD_decompress_usingDict(context, out.data(), out.size(), stored.data(),
                                           stored.size(), dictionary.data(), dictionary.size());
    ZSTD_freeDCtx(context);
    ASSERT_EQ(got, out.size()) << ZSTD_getErrorName(got) << " chunk " << n;
    ASSERT_EQ(0, std::memcmp(out.data(), image.data() + location.image_offset_bytes, out.size()))
        << "chunk " << n;
    ++decoded;
  }
  EXPECT_GT(decoded, 100);
}

TEST(DictionaryRoundTrip, APrebuiltDictionaryIsStoredAndUsedAsGiven) {
  const uint32_t chunk = 4096;
  std::vector<uint8_t> image = testing::MixedImage(2 << 20, chunk, kRecordKinds, 13);
  testing::MemoryImageSource source(image, {{0, image.size(), 0}});
  auto sample = SampleChunks(source, chunk, 1 << 20);
  ASSERT_TRUE(sample.ok());
  auto dictionary = BuildDictionary(*sample, 8 << 10, 3, 2);
  ASSERT_TRUE(dictionary.ok()) << dictionary.status();
  WriterOptions options;
  options.chunk_size_bytes = chunk;
  options.dictionary = *dictionary;
  std::string path = testing::TempPath("prebuilt");
  auto summary = WriteSnapshot(source, path, options);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->dictionary_id, (*dictionary)->id());
  EXPECT_EQ(summary->dictionary_bytes, (*dictionary)->bytes().size());
  EXPECT_EQ(summary->dictionary_sample_bytes, 0u);  // not trained by the writer
  ExpectReadsBack(path, image, {{0, image.size(), 0}});
}

TEST(RoundTrip, SeveralRegionsWithHolesAndOddLengths) {
  const uint32_t chunk = 16 << 10;
  const uint64_t length = 1 << 20;
  std::vector<uint8_t> image = testing::MixedImage(length, chunk, kAllKinds, 99);
  std::vector<format::Region> regions = {
      {0, 3 * chunk + 4096, 0x1000000},         // ends in a partial chunk
      {8 * uint64_t{chunk}, 5000, 0x2000000},   // shorter than one chunk, not page sized
      {12 * uint64_t{chunk}, 20 * uint64_t{chunk} + 1, 0x3000000},
  };
  testing::MemoryImageSource source(image, regions);
  std::string path = testing::TempPath("regions");
  WriterOptions options;
  options.chunk_size_bytes = chunk;
  auto summary = WriteSnapshot(source, path, options);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->region_count, 3u);
  EXPECT_EQ(summary->chunk_count, 4u + 1u + 21u);
  ExpectReadsBack(path, image, regions);

  auto reader = SnapshotReader::Open(path);
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ((*reader)->regions()[1].guest_address, 0x2000000u);
  EXPECT_EQ((*reader)->region_first_chunk(2), 5u);
  ChunkLocation last = (*reader)->Locate(25).value();
  EXPECT_EQ(last.region_index, 2u);
  EXPECT_EQ(last.stored.length_bytes, 1u);
  EXPECT_EQ(last.image_offset_bytes, 32u * chunk);
}

TEST(RoundTrip, ExtractWritesTheFlatImageWithZeroHoles) {
  const uint32_t chunk = 4096;
  std::vector<uint8_t> image = testing::MixedImage(64 * 4096 + 77, chunk, kAllKinds, 3);
  std::vector<format::Region> regions = {{0, 10 * 4096, 0}, {20 * 4096, 44 * 4096 + 77, 0}};
  testing::MemoryImageSource source(image, regions);
  std::string path = testing::TempPath("extract");
  WriterOptions options;
  options.chunk_size_bytes = chunk;
  ASSERT_TRUE(WriteSnapshot(source, path, options).ok());
  auto reader = SnapshotReader::Open(path);
  ASSERT_TRUE(reader.ok());
  std::string out = testing::TempPath("extracted");
  auto summary = ExtractImage(**reader, out, {.threads = 2});
  ASSERT_TRUE(summary.ok()) << summary.status();
  std::vector<uint8_t> extracted = testing::ReadFileBytes(out);
  std::vector<uint8_t> expected = image;
  std::fill(expected.begin() + 10 * 4096, expected.begin() + 20 * 4096, 0);  // the hole
  EXPECT_EQ(extracted, expected);
}

TEST(RoundTrip, StreamFromAPipe) {
  const uint32_t chunk = 8192;
  std::vector<uint8_t> image = testing::MixedImage(40 * 8192 + 5, chunk, kAllKinds, 5);
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  std::thread feeder([&] {
    ASSERT_TRUE(WriteFull(fds[1], image, "pipe").ok());
    ::close(fds[1]);
  });
  std::string pipe_path = "/proc/self/fd/" + std::to_string(fds[0]);
  auto source = FileImageSource::Open(pipe_path);
  ASSERT_TRUE(source.ok()) << source.status();
  EXPECT_FALSE((*source)->random_access());
  std::string path = testing::TempPath("stream");
  WriterOptions options;
  options.chunk_size_bytes = chunk;
  auto summary = WriteSnapshot(**source, path, options);
  feeder.join();
  ::close(fds[0]);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->image_bytes, image.size());
  // A stream is read once, in order: there is nothing to train a dictionary on first.
  EXPECT_EQ(summary->dictionary_bytes, 0u);
  EXPECT_NE(summary->dictionary_note.find("stream"), std::string::npos)
      << summary->dictionary_note;
  ExpectReadsBack(path, image, {{0, image.size(), 0}});
}

TEST(RoundTrip, EmptyImageGivesAnEmptySnapshot) {
  testing::MemoryImageSource source({}, {});
  std::string path = testing::TempPath("empty");
  auto summary = WriteSnapshot(source, path, WriterOptions{});
  ASSERT_TRUE(summary.ok()) << summary.status();
  auto reader = SnapshotReader::Open(path);
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_EQ((*reader)->chunk_count(), 0u);
  EXPECT_EQ((*reader)->image_size_bytes(), 0u);
}

TEST(RoundTrip, ImageFileOnDiskWithRegions) {
  const uint32_t chunk = 4096;
  std::vector<uint8_t> image = testing::MixedImage(100 * 4096, chunk, kAllKinds, 8);
  std::string image_path = testing::TempPath("image.raw");
  testing::WriteFileBytes(image_path, image);
  std::vector<format::Region> regions = {{4096, 50 * 4096, 0}};
  auto source = FileImageSource::Open(image_path, regions);
  ASSERT_TRUE(source.ok());
  std::string path = testing::TempPath("file");
  WriterOptions options;
  options.chunk_size_bytes = chunk;
  options.compression_level = -5;
  ASSERT_TRUE(WriteSnapshot(**source, path, options).ok());
  ExpectReadsBack(path, image, regions);

  // A region past the end of the file is refused when opening the source.
  auto bad = FileImageSource::Open(image_path, {{4096, 200 * 4096, 0}});
  EXPECT_TRUE(absl::IsInvalidArgument(bad.status())) << bad.status();
}

TEST(RoundTrip, SparseFileHolesAreSkippedWithoutReading) {
  // A 1 GiB sparse file with data in three places: holes become zero chunks without
  // being read, data chunks round-trip.
  const uint64_t size = 1ull << 30;
  std::string image_path = testing::TempPath("sparse.raw");
  auto fd = OpenFile(image_path, O_RDWR | O_CREAT | O_TRUNC);
  ASSERT_TRUE(fd.ok());
  ASSERT_EQ(::ftruncate(fd->get(), size), 0);
  std::vector<uint8_t> data = testing::MixedImage(3 * 65536, 65536, {Fill::kText, Fill::kRandom});
  const uint64_t offsets[] = {0, 300 << 20, size - 65536 - 4096};
  for (uint64_t offset : offsets) {
    ASSERT_TRUE(PwriteFull(fd->get(), {data.data(), 65536 + 4096}, offset, image_path).ok());
  }
  auto source = FileImageSource::Open(image_path);
  ASSERT_TRUE(source.ok());
  EXPECT_TRUE((*source)->KnownZero(1 << 20, 64 << 20));
  EXPECT_FALSE((*source)->KnownZero(300 << 20, 4096));
  std::string path = testing::TempPath("sparse.lzs");
  WriterOptions options;
  options.chunk_size_bytes = 65536;
  auto summary = WriteSnapshot(**source, path, options);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_GE(summary->zero_chunks, size / 65536 - 8);
  auto reader = SnapshotReader::Open(path);
  ASSERT_TRUE(reader.ok());
  auto decoder = ChunkDecoder::Create();
  std::vector<uint8_t> scratch;
  for (uint64_t offset : offsets) {
    for (uint64_t at = offset & ~uint64_t{65535}; at < offset + 65536 + 4096; at += 65536) {
      std::vector<uint8_t> out(65536);
      ASSERT_TRUE((*reader)->ReadChunk(at / 65536, *decoder, scratch, out).ok());
      std::vector<uint8_t> expected(65536);
      ASSERT_TRUE(PreadFull(fd->get(), expected, at, image_path).ok());
      EXPECT_EQ(out, expected) << at;
    }
  }
}

TEST(Writer, FailureLeavesNothingUnderTheFinalName) {
  std::vector<uint8_t> image = testing::MixedImage(64 << 20, 64 << 10, kAllKinds);
  testing::MemoryImageSource source(image, {{0, image.size(), 0}});
  source.FailAfter(20 << 20);
  std::string path = testing::TempPath("failed");
  testing::WriteFileBytes(path, std::vector<uint8_t>{'o', 'l', 'd'});
  auto summary = WriteSnapshot(source, path, WriterOptions{});
  EXPECT_TRUE(absl::IsUnavailable(summary.status())) << summary.status();
  // The previous file is untouched and no temporary file is left beside it.
  EXPECT_EQ(testing::ReadFileBytes(path), (std::vector<uint8_t>{'o', 'l', 'd'}));
  for (int i = 0; i < 16; ++i) {
    std::string candidate = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(i);
    EXPECT_NE(::access(candidate.c_str(), F_OK), 0) << candidate;
  }
}

TEST(Writer, RejectsBadOptionsAndRegions) {
  testing::MemoryImageSource source(std::vector<uint8_t>(8192), {{0, 8192, 0}});
  std::string path = testing::TempPath("bad");
  WriterOptions options;
  options.chunk_size_bytes = 3000;
  EXPECT_TRUE(absl::IsInvalidArgument(WriteSnapshot(source, path, options).status()));
  options.chunk_size_bytes = 8 << 20;
  EXPECT_TRUE(absl::IsInvalidArgument(WriteSnapshot(source, path, options).status()));
  options = WriterOptions{};
  options.compression_level = 99;
  EXPECT_TRUE(absl::IsInvalidArgument(WriteSnapshot(source, path, options).status()));

  testing::MemoryImageSource unaligned(std::vector<uint8_t>(8192), {{100, 4096, 0}});
  EXPECT_TRUE(absl::IsInvalidArgument(WriteSnapshot(unaligned, path, WriterOptions{}).status()));
  testing::MemoryImageSource overlapping(std::vector<uint8_t>(16384),
                                         {{0, 8192, 0}, {4096, 4096, 0}});
  EXPECT_TRUE(
      absl::IsInvalidArgument(WriteSnapshot(overlapping, path, WriterOptions{}).status()));
  EXPECT_NE(::access(path.c_str(), F_OK), 0);
}

TEST(Writer, MemoryBoundGrowsWithThreadsLevelAndChunkSize) {
  WriterOptions small;
  const uint64_t two_threads = WriterMemoryBytes(small, 2);
  EXPECT_GT(two_threads, 6 * (4u << 20));  // six batches of 4 MiB of image at least
  EXPECT_LT(two_threads, 256u << 20);
  EXPECT_GT(WriterMemoryBytes(small, 64), 16 * two_threads);
  WriterOptions heavy;
  heavy.chunk_size_bytes = 4 << 20;
  heavy.compression_level = 22;
  EXPECT_GT(WriterMemoryBytes(heavy, 2), two_threads);
  EXPECT_GT(WriterMemoryBytes(heavy, 1024), uint64_t{16} << 30);
}

}  // namespace
}  // namespace lazysnap
