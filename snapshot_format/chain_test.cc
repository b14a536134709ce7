// Incremental snapshots (format 1.1) through the public API: children written against a
// parent with only their changed chunks, chains read back byte for byte through
// ReadChunk, DecodeImage and extract, the resolvers, and every way a chain can be
// refused before a byte is served (missing, replaced, rewritten parent; cycle; depth).
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/str_format.h"
#include "base/checksum.h"
#include "base/file_io.h"
#include "snapshot_format/image_decoder.h"
#include "snapshot_format/parent_resolver.h"
#include "snapshot_format/snapshot_image_source.h"
#include "snapshot_format/snapshot_reader.h"
#include "snapshot_format/snapshot_writer.h"
#include "snapshot_format/test_util.h"

namespace lazysnap {
namespace {

using testing::Fill;

constexpr uint32_t kChunk = 4096;

// Snapshot: an image and where it was written.
struct Snapshot {
  std::vector<uint8_t> image;
  std::vector<format::Region> regions;
  std::string path;
  WriteSummary summary;
};

// Write writes `image` (one region unless `regions` is given) to a fresh path in `dir`,
// as a child of `parent` when it is not null.
Snapshot Write(const std::string& dir, const std::string& name, std::vector<uint8_t> image,
               const SnapshotReader* parent, WriterOptions options = {},
               std::vector<format::Region> regions = {}) {
  Snapshot s;
  s.regions = regions.empty() ? std::vector<format::Region>{{0, image.size(), 0}} : regions;
  s.image = std::move(image);
  s.path = dir + "/" + name;
  options.chunk_size_bytes = kChunk;
  options.page_size_bytes = 4096;
  options.threads = 2;
  options.parent = parent;
  if (parent != nullptr) options.parent_name = RelativeParentName(s.path, parent->path());
  testing::MemoryImageSource source(s.image, s.regions);
  auto summary = WriteSnapshot(source, s.path, options);
  EXPECT_TRUE(summary.ok()) << summary.status();
  if (summary.ok()) s.summary = *summary;
  return s;
}

std::string FreshDirectory(const std::string& name) {
  const std::string dir = testing::TempPath(name);
  std::filesystem::create_directories(dir);
  return dir;
}

// Decoded returns the flat image `reader` decodes to (holes between regions as zeros).
std::vector<uint8_t> Decoded(const SnapshotReader& reader) {
  auto image = testing::DecodeFlatImage(reader);
  EXPECT_TRUE(image.ok()) << image.status();
  return image.ok() ? *image : std::vector<uint8_t>();
}

std::unique_ptr<SnapshotReader> OpenOrDie(const std::string& path, OpenOptions options = {}) {
  auto reader = SnapshotReader::Open(path, options);
  EXPECT_TRUE(reader.ok()) << reader.status();
  return reader.ok() ? std::move(*reader) : nullptr;
}

// Base: 24 chunks of every kind, written as a root.
std::vector<uint8_t> BaseImage() {
  return testing::MixedImage(24 * kChunk, kChunk,
                             {Fill::kText, Fill::kRecords, Fill::kZero, Fill::kRandom,
                              Fill::kCopyOfFirstText, Fill::kRecords});
}

// Edit writes `byte` at each of `offsets`.
std::vector<uint8_t> Edit(std::vector<uint8_t> image, std::initializer_list<uint64_t> offsets,
                          uint8_t byte = 0x5a) {
  for (uint64_t offset : offsets) image[offset] = byte;
  return image;
}

// BaseAndChild: a root of BaseImage() and its child with chunk 0 changed, written as
// base.lzs and child.lzs in a fresh directory.
struct BaseAndChild {
  std::string dir;
  Snapshot base;
  Snapshot child;
};

BaseAndChild WriteBaseAndChild(const std::string& name) {
  BaseAndChild chain;
  chain.dir = FreshDirectory(name);
  chain.base = Write(chain.dir, "base.lzs", BaseImage(), nullptr);
  chain.child =
      Write(chain.dir, "child.lzs", Edit(chain.base.image, {0}), OpenOrDie(chain.base.path).get());
  return chain;
}

TEST(Chain, ChildStoresOnlyChangedChunksAndReadsBackExactly) {
  const std::string dir = FreshDirectory("child");
  Snapshot base = Write(dir, "base.lzs", BaseImage(), nullptr);
  auto base_reader = OpenOrDie(base.path);
  ASSERT_NE(base_reader, nullptr);
  // One byte in chunk 1 (records), a zero chunk made non-zero (chunk 2), a random chunk
  // zeroed (chunk 3).
  std::vector<uint8_t> image = Edit(base.image, {1 * kChunk + 17, 2 * kChunk + 4095});
  std::memset(image.data() + 3 * kChunk, 0, kChunk);
  Snapshot child = Write(dir, "child.lzs", image, base_reader.get());
  EXPECT_EQ(child.summary.chunk_count, 24u);
  EXPECT_EQ(child.summary.compressed_chunks + child.summary.raw_chunks, 2u);
  // Every non-zero chunk of the base that did not change is stored in the parent.
  uint64_t unchanged_nonzero = 0;
  for (uint64_t c = 0; c < 24; ++c) {
    if (c == 1 || c == 2 || c == 3) continue;
    unchanged_nonzero += base_reader->Locate(c)->stored.kind != format::ChunkKind::kZero;
  }
  EXPECT_EQ(child.summary.parent_chunks, unchanged_nonzero);
  EXPECT_LT(child.summary.file_bytes, base.summary.file_bytes);

  auto reader = OpenOrDie(child.path);
  ASSERT_NE(reader, nullptr);
  EXPECT_EQ(reader->header().minor_version, format::kParentMinorVersion);
  EXPECT_EQ(reader->chain_depth(), 1u);
  ASSERT_EQ(reader->chain_length(), 2u);
  EXPECT_EQ(reader->chain_member(1).path(), base_reader->path());
  ASSERT_NE(reader->parent_reference(), nullptr);
  EXPECT_EQ(reader->parent_reference()->name, "base.lzs");
  EXPECT_EQ(reader->summary().parent_chunks, unchanged_nonzero);
  EXPECT_EQ(Decoded(*reader), image);
  // Where the bytes are: changed chunks in the child, the rest in the base.
  EXPECT_EQ(reader->Locate(1)->stored.file_index, 0u);
  EXPECT_FALSE(reader->Locate(1)->in_parent);
  EXPECT_EQ(reader->Locate(0)->stored.file_index, 1u);
  EXPECT_TRUE(reader->Locate(0)->in_parent);
  EXPECT_EQ(reader->Locate(3)->stored.kind, format::ChunkKind::kZero);
}

TEST(Chain, StandaloneSnapshotsStayFormat10) {
  const std::string dir = FreshDirectory("standalone");
  Snapshot base = Write(dir, "base.lzs", BaseImage(), nullptr);
  auto reader = OpenOrDie(base.path);
  ASSERT_NE(reader, nullptr);
  EXPECT_EQ(reader->header().minor_version, format::kBaseMinorVersion);
  EXPECT_EQ(reader->chain_depth(), 0u);
  EXPECT_EQ(reader->chain_length(), 1u);
  EXPECT_EQ(reader->parent(), nullptr);
}

TEST(Chain, ChainOfThreeExtractsByteForByteFromEveryFile) {
  const std::string dir = FreshDirectory("three");
  Snapshot base = Write(dir, "base.lzs", BaseImage(), nullptr);
  auto base_reader = OpenOrDie(base.path);
  Snapshot child = Write(dir, "child.lzs", Edit(base.image, {5 * kChunk, 9 * kChunk + 1}),
                         base_reader.get());
  auto child_reader = OpenOrDie(child.path);
  // The grandchild changes a chunk the child changed, one the child kept, and one twice
  // in the same chunk.
  Snapshot grandchild =
      Write(dir, "grandchild.lzs",
            Edit(child.image, {5 * kChunk + 100, 11 * kChunk, 11 * kChunk + 2}, 0x33),
            child_reader.get());
  auto reader = OpenOrDie(grandchild.path);
  ASSERT_NE(reader, nullptr);
  ASSERT_EQ(reader->chain_length(), 3u);
  EXPECT_EQ(reader->chain_depth(), 2u);
  EXPECT_EQ(Decoded(*reader), grandchild.image);
  // Chunk 9: changed in the child only; chunk 0: unchanged since the base.
  EXPECT_EQ(reader->Locate(9)->stored.file_index, 1u);
  EXPECT_EQ(reader->Locate(0)->stored.file_index, 2u);
  EXPECT_EQ(reader->Locate(11)->stored.file_index, 0u);

  const std::string extracted = dir + "/grandchild.raw";
  ASSERT_TRUE(ExtractImage(*reader, extracted, {.threads = 2}).ok());
  EXPECT_EQ(testing::ReadFileBytes(extracted), grandchild.image);
  // The ancestors still read as they were.
  EXPECT_EQ(Decoded(*OpenOrDie(child.path)), child.image);
  EXPECT_EQ(Decoded(*OpenOrDie(base.path)), base.image);
}

TEST(Chain, FlattenedChainIsStandaloneAndDecodesTheSame) {
  const std::string dir = FreshDirectory("flatten");
  Snapshot base = Write(dir, "base.lzs", BaseImage(), nullptr, {},
                        {{0, 10 * kChunk, 0}, {12 * kChunk, 12 * kChunk - 100, 0x5000}});
  Snapshot child = Write(dir, "child.lzs", Edit(base.image, {kChunk, 13 * kChunk}),
                         OpenOrDie(base.path).get(), {}, base.regions);
  auto chain = OpenOrDie(child.path);
  ASSERT_NE(chain, nullptr);
  const std::vector<uint8_t> expected = Decoded(*chain);
  for (uint32_t chunk_size : {kChunk, 4 * kChunk}) {
    auto source = SnapshotImageSource::Create(*chain);
    ASSERT_TRUE(source.ok()) << source.status();
    const std::string flat = dir + absl::StrFormat("/flat_%d.lzs", chunk_size);
    auto summary = WriteSnapshot(**source, flat,
                                 {.chunk_size_bytes = chunk_size, .page_size_bytes = 4096});
    ASSERT_TRUE(summary.ok()) << summary.status();
    EXPECT_EQ(summary->parent_chunks, 0u);
    auto reader = OpenOrDie(flat);
    ASSERT_NE(reader, nullptr);
    EXPECT_EQ(reader->chain_length(), 1u);
    EXPECT_EQ(reader->header().minor_version, format::kBaseMinorVersion);
    EXPECT_EQ(std::vector<format::Region>(reader->regions().begin(), reader->regions().end()),
              base.regions);
    EXPECT_EQ(Decoded(*reader), expected) << chunk_size;
  }
  // Zero chunks of the chain are known without decoding.
  auto source = SnapshotImageSource::Create(*chain);
  ASSERT_TRUE(source.ok());
  EXPECT_TRUE((*source)->KnownZero(2 * kChunk, kChunk));
  EXPECT_FALSE((*source)->KnownZero(2 * kChunk, 2 * kChunk));
  EXPECT_FALSE((*source)->KnownZero(10 * kChunk, kChunk));  // between regions
  std::vector<uint8_t> bytes(100);
  EXPECT_TRUE(absl::IsInvalidArgument((*source)->Read(11 * kChunk, bytes).status()));
}

TEST(Chain, LazilyOpenedChainValidatesAncestorSegmentsOnFirstUse) {
  const std::string dir = FreshDirectory("lazy");
  Snapshot base = Write(dir, "base.lzs", BaseImage(), nullptr);
  auto base_reader = OpenOrDie(base.path);
  Snapshot child = Write(dir, "child.lzs", Edit(base.image, {0}), base_reader.get());
  auto reader = OpenOrDie(child.path, {.validate_index = false});
  ASSERT_NE(reader, nullptr);
  auto decoder = ChunkDecoder::Create();
  std::vector<uint8_t> scratch;
  std::vector<uint8_t> out(kChunk);
  for (uint64_t c : {23u, 4u, 0u}) {
    ASSERT_TRUE(reader->ReadChunk(c, *decoder, scratch, out).ok()) << c;
    EXPECT_EQ(0, std::memcmp(out.data(), child.image.data() + c * kChunk, kChunk)) << c;
  }
  EXPECT_TRUE(reader->ValidateIndex().ok());
  EXPECT_TRUE(reader->parent()->summary().compressed_chunks > 0);
}

// WriteRecordsWithDictionary writes base.lzs: 64 chunks of records compressed with a
// trained dictionary.
Snapshot WriteRecordsWithDictionary(const std::string& dir) {
  return Write(dir, "base.lzs", testing::MixedImage(64 * kChunk, kChunk, {Fill::kRecords}),
               nullptr,
               {.train_dictionary = {.dictionary_size_bytes = 4096, .only_if_it_pays = false}});
}

TEST(Chain, EachFileDecodesWithItsOwnDictionary) {
  const std::string dir = FreshDirectory("dictionaries");
  Snapshot base = WriteRecordsWithDictionary(dir);
  const std::vector<uint8_t>& records = base.image;
  auto base_reader = OpenOrDie(base.path);
  ASSERT_NE(base_reader->dictionary(1), nullptr);
  // The child trains its own dictionary on other records, so the two files' dictionaries
  // differ while both are in slot 1.
  std::vector<uint8_t> image = records;
  std::vector<uint8_t> other = testing::MixedImage(8 * kChunk, kChunk, {Fill::kRecords}, 99);
  std::memcpy(image.data() + 8 * kChunk, other.data(), other.size());
  std::vector<uint8_t> sample = testing::MixedImage(64 * kChunk, kChunk, {Fill::kRecords}, 77);
  testing::MemoryImageSource sample_source(sample, {{0, sample.size(), 0}});
  auto trained = TrainDictionary(sample_source, kChunk, kDefaultCompressionLevel,
                                 {.dictionary_size_bytes = 4096, .only_if_it_pays = false});
  ASSERT_TRUE(trained.ok()) << trained.status();
  ASSERT_NE(trained->dictionary, nullptr);
  Snapshot child = Write(dir, "child.lzs", image, base_reader.get(),
                         {.dictionary = trained->dictionary});
  auto reader = OpenOrDie(child.path);
  ASSERT_NE(reader, nullptr);
  ASSERT_NE(reader->dictionary(1)->id(), base_reader->dictionary(1)->id());
  const StoredChunk own = reader->Locate(8)->stored;
  const StoredChunk inherited = reader->Locate(0)->stored;
  EXPECT_EQ(own.dictionary_slot, 1);
  EXPECT_EQ(inherited.file_index, 1u);
  EXPECT_EQ(reader->dictionary(inherited.dictionary_slot)->id(), base_reader->dictionary(1)->id());
  EXPECT_EQ(Decoded(*reader), image);
}

TEST(Chain, ChildReusesItsParentsDictionaryByDefault) {
  const std::string dir = FreshDirectory("reuse");
  Snapshot base = WriteRecordsWithDictionary(dir);
  const std::vector<uint8_t>& records = base.image;
  auto base_reader = OpenOrDie(base.path);
  ASSERT_NE(base_reader->dictionary(1), nullptr);
  Snapshot child = Write(dir, "child.lzs", Edit(records, {3 * kChunk}), base_reader.get());
  EXPECT_EQ(child.summary.dictionary_id, base_reader->dictionary(1)->id());
  EXPECT_EQ(child.summary.dictionary_sample_bytes, 0u);  // nothing trained
  auto reader = OpenOrDie(child.path);
  EXPECT_EQ(Decoded(*reader), child.image);

  // A parent without a dictionary: the child trains none either.
  Snapshot plain = Write(dir, "plain.lzs", records, nullptr,
                         {.train_dictionary = {.dictionary_size_bytes = 0}});
  Snapshot plain_child = Write(dir, "plain_child.lzs", Edit(records, {3 * kChunk}),
                               OpenOrDie(plain.path).get());
  EXPECT_EQ(plain_child.summary.dictionary_bytes, 0u);
  EXPECT_EQ(plain_child.summary.dictionary_sample_bytes, 0u);
  EXPECT_EQ(plain_child.summary.dictionary_note, "the parent has none");
}

TEST(Chain, ChildWithACompressedDictionaryIsFormat12AndReadsBack) {
  // A parent section needs 1.1 and a compressed dictionary section 1.2: the file records
  // the higher of the two, and both readers' checks pass.
  const std::string dir = FreshDirectory("compressed_child");
  Snapshot base = WriteRecordsWithDictionary(dir);
  auto base_reader = OpenOrDie(base.path);
  Snapshot child = Write(dir, "child.lzs", Edit(base.image, {5 * kChunk}), base_reader.get(),
                         {.dictionary_storage = WriterOptions::DictionaryStorage::kCompressed});
  auto reader = OpenOrDie(child.path);
  ASSERT_NE(reader, nullptr);
  EXPECT_EQ(reader->header().minor_version, format::kMinorVersionCompressedDictionary);
  EXPECT_EQ(reader->chain_length(), 2u);
  EXPECT_EQ(Decoded(*reader), child.image);
}

TEST(Chain, ChildMayHaveOtherRegionsThanItsParent) {
  const std::string dir = FreshDirectory("regions");
  Snapshot base = Write(dir, "base.lzs", BaseImage(), nullptr, {},
                        {{0, 8 * kChunk, 0x1000}, {12 * kChunk, 12 * kChunk, 0x9000}});
  auto base_reader = OpenOrDie(base.path);
  // The child drops the second region's first half and adds a region past the end.
  std::vector<uint8_t> image = base.image;
  image.resize(30 * kChunk);
  std::vector<uint8_t> extra = testing::MixedImage(3 * kChunk, kChunk, {Fill::kRandom}, 5);
  std::memcpy(image.data() + 27 * kChunk, extra.data(), extra.size());
  Snapshot child = Write(dir, "child.lzs", image, base_reader.get(), {},
                         {{0, 8 * kChunk, 0x1000}, {18 * kChunk, 6 * kChunk, 0x9000},
                          {27 * kChunk, 3 * kChunk, 0}});
  auto reader = OpenOrDie(child.path);
  ASSERT_NE(reader, nullptr);
  std::vector<uint8_t> expected(image.size(), 0);
  for (const format::Region& r : child.regions) {
    std::memcpy(expected.data() + r.image_offset_bytes, image.data() + r.image_offset_bytes,
                r.length_bytes);
  }
  EXPECT_EQ(Decoded(*reader), expected);
  // Chunk 8 of the child (image offset 18 chunks) is the base's chunk 14.
  auto location = reader->Locate(8);
  ASSERT_TRUE(location.ok());
  EXPECT_TRUE(location->in_parent);
  EXPECT_EQ(location->parent_chunk, 14u);
}

TEST(Chain, MissingParentIsNotFoundNamingBothFiles) {
  auto [dir, base, child] = WriteBaseAndChild("missing");
  std::filesystem::remove(base.path);
  auto reader = SnapshotReader::Open(child.path);
  ASSERT_TRUE(absl::IsNotFound(reader.status())) << reader.status();
  EXPECT_NE(reader.status().message().find(child.path), absl::string_view::npos);
  EXPECT_NE(reader.status().message().find("base.lzs"), absl::string_view::npos);
}

TEST(Chain, ReplacedParentIsRefusedBeforeAnyByteIsServed) {
  auto [dir, base, child] = WriteBaseAndChild("replaced");
  // Another snapshot of the very same image: same chunks, another identity.
  Write(dir, "base.lzs", base.image, nullptr);
  auto reader = SnapshotReader::Open(child.path);
  ASSERT_TRUE(absl::IsFailedPrecondition(reader.status())) << reader.status();
  EXPECT_NE(reader.status().message().find(base.path + " is not the parent of " + child.path),
            absl::string_view::npos)
      << reader.status();
  EXPECT_NE(reader.status().message().find("its snapshot id is"), absl::string_view::npos);
}

TEST(Chain, ParentRewrittenUnderItsOwnIdIsRefused) {
  auto [dir, base, child] = WriteBaseAndChild("rewritten");
  // Same id, a chunk's bytes changed and every checksum resealed: only the identity the
  // child recorded can tell.
  std::vector<uint8_t> bytes = testing::ReadFileBytes(base.path);
  testing::PatchIndexEntry(bytes, 0, [](format::IndexEntry& e) { e.checksum ^= 1; });
  testing::WriteFileBytes(base.path, bytes);
  auto reader = SnapshotReader::Open(child.path);
  ASSERT_TRUE(absl::IsFailedPrecondition(reader.status())) << reader.status();
  EXPECT_NE(reader.status().message().find("same snapshot id"), absl::string_view::npos);
}

TEST(Chain, TwoSnapshotsNamingEachOtherAreACycle) {
  // Valid files cannot form a cycle; crafted ones must still be refused, not followed.
  auto [dir, base, child] = WriteBaseAndChild("cycle");
  // base.lzs (a) becomes a child of child.lzs (b): it gains a parent section naming b.
  auto b = OpenOrDie(child.path);
  ASSERT_NE(b, nullptr);
  format::ParentReference names_b = *b->parent_reference();
  names_b.snapshot_id = b->header().snapshot_id;
  names_b.header_checksum = b->header_checksum();
  names_b.trailer_checksum = b->trailer_checksum();
  names_b.file_size_bytes = b->file_size_bytes();
  names_b.name = "child.lzs";
  names_b.chain_depth = 2;
  b.reset();
  // a gets a parent section naming b: its payload goes at the end of a's data area.
  std::vector<uint8_t> a = testing::ReadFileBytes(base.path);
  std::vector<uint8_t> payload = format::EncodeParentSection(names_b);
  testing::SnapshotLayout layout = testing::LayoutOf(a);
  const uint64_t at = layout.trailer.metadata_offset_bytes;
  a.insert(a.begin() + at, payload.begin(), payload.end());
  format::Trailer trailer = layout.trailer;
  trailer.metadata_offset_bytes += payload.size();
  testing::Reseal(a, &trailer);
  a = testing::WithExtraSection(a, static_cast<uint32_t>(format::SectionType::kParent),
                                format::kSectionFlagRequired);
  const uint32_t section = testing::LayoutOf(a).trailer.section_count - 1;
  testing::PatchSection(a, section, [&](format::Section& s) {
    s.offset_bytes = at;
    s.length_bytes = payload.size();
    s.checksum = Checksum64(payload);
  });
  a[10] = format::kParentMinorVersion;
  testing::Reseal(a);
  testing::WriteFileBytes(base.path, a);
  // Opening b: its parent a no longer matches the identity b recorded. Opening a:
  // a -> b -> a is found when b names a's id, which is below it.
  auto from_b = SnapshotReader::Open(child.path);
  EXPECT_TRUE(absl::IsFailedPrecondition(from_b.status())) << from_b.status();
  auto from_a = SnapshotReader::Open(
      base.path, {.resolve_parent = ParentSearchList(
                      {std::shared_ptr<const RandomAccessFile>(LocalFile::Open(child.path).value()),
                       std::shared_ptr<const RandomAccessFile>(LocalFile::Open(base.path).value())})});
  ASSERT_TRUE(absl::IsFailedPrecondition(from_a.status())) << from_a.status();
  EXPECT_NE(from_a.status().message().find("cycle"), absl::string_view::npos) << from_a.status();
  EXPECT_NE(from_a.status().message().find(base.path), absl::string_view::npos);
}

TEST(Chain, WriterRefusesAParentAtTheDepthLimitAndTheReaderAChainBeyondIt) {
  const std::string dir = FreshDirectory("deep");
  std::vector<uint8_t> image = testing::MixedImage(2 * kChunk, kChunk, {Fill::kText});
  Snapshot previous = Write(dir, "0.lzs", image, nullptr);
  for (uint32_t depth = 1; depth <= format::kMaxChainDepth; ++depth) {
    image[depth] ^= 1;
    auto parent = OpenOrDie(previous.path, {.validate_index = false});
    ASSERT_NE(parent, nullptr) << depth;
    previous = Write(dir, absl::StrFormat("%d.lzs", depth), image, parent.get());
  }
  auto deepest = OpenOrDie(previous.path);
  ASSERT_NE(deepest, nullptr);
  EXPECT_EQ(deepest->chain_length(), format::kMaxChainDepth + 1);
  EXPECT_EQ(Decoded(*deepest), image);
  testing::MemoryImageSource source(image, {{0, image.size(), 0}});
  auto refused = WriteSnapshot(source, dir + "/too_deep.lzs",
                               {.chunk_size_bytes = kChunk, .parent = deepest.get()});
  ASSERT_TRUE(absl::IsInvalidArgument(refused.status())) << refused.status();
  EXPECT_NE(refused.status().message().find("flatten"), absl::string_view::npos);
  EXPECT_FALSE(std::filesystem::exists(dir + "/too_deep.lzs"));
}

TEST(Chain, WriterRefusesAnotherChunkSizeThanTheParents) {
  const std::string dir = FreshDirectory("chunk_size");
  Snapshot base = Write(dir, "base.lzs", BaseImage(), nullptr);
  auto parent = OpenOrDie(base.path);
  testing::MemoryImageSource source(base.image, {{0, base.image.size(), 0}});
  auto refused = WriteSnapshot(source, dir + "/child.lzs",
                               {.chunk_size_bytes = 2 * kChunk, .parent = parent.get()});
  EXPECT_TRUE(absl::IsInvalidArgument(refused.status())) << refused.status();
}

TEST(Chain, OpeningFromAFileNeedsAResolver) {
  auto [dir, base, child] = WriteBaseAndChild("no_resolver");
  auto file = LocalFile::Open(child.path);
  ASSERT_TRUE(file.ok());
  auto reader = SnapshotReader::Open(std::shared_ptr<const RandomAccessFile>(std::move(*file)));
  EXPECT_TRUE(absl::IsFailedPrecondition(reader.status())) << reader.status();
  EXPECT_NE(reader.status().message().find("no parent resolver"), absl::string_view::npos);
}

TEST(Chain, ParentsFoundInACallersListByIdentity) {
  // The chain lives in memory under names that mean nothing: the list finds each parent
  // by its snapshot id.
  auto [dir, base, child] = WriteBaseAndChild("list");
  Snapshot grandchild = Write(dir, "grandchild.lzs", Edit(child.image, {kChunk}),
                              OpenOrDie(child.path).get());
  auto in_memory = [](const std::string& path, const std::string& name) {
    return std::make_shared<testing::MemoryFile>(name, testing::ReadFileBytes(path));
  };
  std::shared_ptr<const RandomAccessFile> unrelated =
      in_memory(Write(dir, "other.lzs", BaseImage(), nullptr).path, "mem:other");
  auto reader = SnapshotReader::Open(
      in_memory(grandchild.path, "mem:grandchild"),
      {.resolve_parent = ParentSearchList({unrelated, in_memory(base.path, "mem:base"),
                                           in_memory(child.path, "mem:child")})});
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_EQ((*reader)->chain_member(1).path(), "mem:child");
  EXPECT_EQ((*reader)->chain_member(2).path(), "mem:base");
  EXPECT_EQ(Decoded(**reader), grandchild.image);

  auto missing = SnapshotReader::Open(in_memory(grandchild.path, "mem:grandchild"),
                                      {.resolve_parent = ParentSearchList({unrelated})});
  ASSERT_TRUE(absl::IsNotFound(missing.status())) << missing.status();
  EXPECT_NE(missing.status().message().find("mem:other"), absl::string_view::npos);
}

TEST(Chain, FirstFoundResolverFallsThroughNotFoundOnly) {
  auto [dir, base, child] = WriteBaseAndChild("first_found");
  auto not_found = [](const RandomAccessFile&, const format::ParentReference&)
      -> absl::StatusOr<std::shared_ptr<const RandomAccessFile>> {
    return absl::NotFoundError("not in the cache");
  };
  auto denied = [](const RandomAccessFile&, const format::ParentReference&)
      -> absl::StatusOr<std::shared_ptr<const RandomAccessFile>> {
    return absl::PermissionDeniedError("no access");
  };
  EXPECT_TRUE(SnapshotReader::Open(child.path, {.resolve_parent = FirstFoundParentResolver(
                                                    {not_found, LocalParentResolver()})})
                  .ok());
  auto refused = SnapshotReader::Open(
      child.path, {.resolve_parent = FirstFoundParentResolver({denied, LocalParentResolver()})});
  EXPECT_TRUE(absl::IsPermissionDenied(refused.status())) << refused.status();
  auto none = SnapshotReader::Open(
      child.path, {.resolve_parent = FirstFoundParentResolver({not_found, not_found})});
  EXPECT_TRUE(absl::IsNotFound(none.status())) << none.status();
}

TEST(Chain, RelativeNamesResolveFromTheChildsDirectory) {
  EXPECT_EQ(RelativeParentName("/a/b/child.lzs", "/a/base.lzs"), "../base.lzs");
  EXPECT_EQ(RelativeParentName("/a/child.lzs", "/a/b/base.lzs"), "b/base.lzs");
  EXPECT_EQ(RelativeParentName("/a/./child.lzs", "/a/base.lzs"), "base.lzs");
  EXPECT_EQ(ResolveRelativeName("/a/b/child.lzs", "../base.lzs"), "/a/b/../base.lzs");
  EXPECT_EQ(ResolveRelativeName("child.lzs", "base.lzs"), "base.lzs");
  EXPECT_EQ(ResolveRelativeName("https://host/x/child.lzs", "base.lzs"),
            "https://host/x/base.lzs");
  EXPECT_EQ(ResolveRelativeName("/a/child.lzs", ""), "");
}

TEST(Chain, ChildInASubdirectoryFindsItsParentAbove) {
  const std::string dir = FreshDirectory("subdir");
  std::filesystem::create_directories(dir + "/children");
  Snapshot base = Write(dir, "base.lzs", BaseImage(), nullptr);
  Snapshot child =
      Write(dir, "children/child.lzs", Edit(base.image, {0}), OpenOrDie(base.path).get());
  auto reader = OpenOrDie(child.path);
  ASSERT_NE(reader, nullptr);
  EXPECT_EQ(reader->parent_reference()->name, "../base.lzs");
  EXPECT_EQ(Decoded(*reader), child.image);
}

}  // namespace
}  // namespace lazysnap
