#include "snapshot_format/chunk_codec.h"

#include <zdict.h>

#include <cstring>
#include <vector>

#include <gtest/gtest.h>

#include "base/checksum.h"

namespace lazysnap {
namespace {

std::vector<uint8_t> TextChunk(size_t n, int variant = 0) {
  std::vector<uint8_t> bytes(n);
  for (size_t i = 0; i < n; ++i) bytes[i] = "memory snapshot chunk "[(i + variant) % 22];
  return bytes;
}

StoredChunk Describe(const std::vector<uint8_t>& original, size_t stored, format::ChunkKind kind) {
  StoredChunk chunk;
  chunk.chunk_number = 5;
  chunk.kind = kind;
  chunk.stored_length_bytes = static_cast<uint32_t>(stored);
  chunk.length_bytes = static_cast<uint32_t>(original.size());
  chunk.checksum = Checksum64(original);
  return chunk;
}

// WithStored sets the stored checksum for `stored` bytes.
StoredChunk WithStored(StoredChunk chunk, std::span<const uint8_t> stored) {
  chunk.stored_checksum = Checksum64(stored);
  return chunk;
}

TEST(ChunkCodec, CompressedChunkRoundTrips) {
  auto compressor = ChunkCompressor::Create(3);
  ASSERT_TRUE(compressor.ok());
  auto decoder = ChunkDecoder::Create();
  ASSERT_TRUE(decoder.ok());
  std::vector<uint8_t> original = TextChunk(65536);
  std::vector<uint8_t> stored(MaxCompressedSize(original.size()));
  auto n = compressor->Compress(original, stored, nullptr);
  ASSERT_TRUE(n.ok());
  EXPECT_LT(*n, original.size() / 10);
  std::vector<uint8_t> out(original.size());
  absl::Status status = decoder->Decode(WithStored(Describe(original, *n, format::ChunkKind::kCompressed),
                                                   {stored.data(), *n}),
                                        {stored.data(), *n}, out, nullptr, "f");
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(out, original);
}

TEST(ChunkCodec, ChecksumMismatchIsDataLossNamingTheChunk) {
  auto decoder = ChunkDecoder::Create();
  std::vector<uint8_t> original = TextChunk(4096);
  std::vector<uint8_t> stored = original;
  stored[100] ^= 1;
  std::vector<uint8_t> out(original.size());
  absl::Status status = decoder->Decode(Describe(original, stored.size(), format::ChunkKind::kRaw),
                                        stored, out, nullptr, "snap.lzs");
  EXPECT_TRUE(absl::IsDataLoss(status)) << status;
  EXPECT_NE(status.message().find("snap.lzs: chunk 5"), absl::string_view::npos) << status;
  EXPECT_NE(status.message().find("checksum mismatch"), absl::string_view::npos);
}

TEST(ChunkCodec, DamagedStoredBytesAreRefusedBeforeDecompression) {
  auto compressor = ChunkCompressor::Create(3);
  auto decoder = ChunkDecoder::Create();
  std::vector<uint8_t> original = TextChunk(65536);
  std::vector<uint8_t> stored(MaxCompressedSize(original.size()));
  size_t n = *compressor->Compress(original, stored, nullptr);
  StoredChunk chunk =
      WithStored(Describe(original, n, format::ChunkKind::kCompressed), {stored.data(), n});
  // Bit 4 of the frame header descriptor is ignored by zstd: without the stored checksum
  // this damage would decode to the right bytes and go unnoticed.
  stored[4] ^= 0x10;
  std::vector<uint8_t> out(original.size());
  absl::Status status = decoder->Decode(chunk, {stored.data(), n}, out, nullptr, "f");
  EXPECT_TRUE(absl::IsDataLoss(status)) << status;
  EXPECT_NE(status.message().find("stored bytes checksum"), absl::string_view::npos);
}

TEST(ChunkCodec, WrongDecompressedSizeIsDataLoss) {
  auto compressor = ChunkCompressor::Create(1);
  auto decoder = ChunkDecoder::Create();
  std::vector<uint8_t> original = TextChunk(8192);
  std::vector<uint8_t> stored(MaxCompressedSize(original.size()));
  size_t n = *compressor->Compress(original, stored, nullptr);
  // Claim the chunk is shorter than what the frame holds.
  std::vector<uint8_t> shorter(original.begin(), original.begin() + 4096);
  std::vector<uint8_t> out(4096);
  absl::Status status = decoder->Decode(WithStored(Describe(shorter, n, format::ChunkKind::kCompressed),
                                                   {stored.data(), n}),
                                        {stored.data(), n}, out, nullptr, "f");
  EXPECT_TRUE(absl::IsDataLoss(status)) << status;
}

TEST(ChunkCodec, StoredBytesThatAreNotExactlyOneFrameAreDataLoss) {
  auto compressor = ChunkCompressor::Create(3);
  auto decoder = ChunkDecoder::Create();
  std::vector<uint8_t> original = TextChunk(8192);
  std::vector<uint8_t> two_frames;
  for (size_t half : {0, 1}) {
    std::span<const uint8_t> part(original.data() + half * 4096, 4096);
    std::vector<uint8_t> frame(MaxCompressedSize(part.size()));
    size_t n = *compressor->Compress(part, frame, nullptr);
    two_frames.insert(two_frames.end(), frame.begin(), frame.begin() + n);
  }
  // A skippable frame (magic 0x184D2A50, 4 bytes of content) before a whole chunk's frame.
  std::vector<uint8_t> skippable_first = {0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 1, 2, 3, 4};
  std::vector<uint8_t> frame(MaxCompressedSize(original.size()));
  frame.resize(*compressor->Compress(original, frame, nullptr));
  skippable_first.insert(skippable_first.end(), frame.begin(), frame.end());

  for (const std::vector<uint8_t>& stored : {two_frames, skippable_first}) {
    std::vector<uint8_t> out(original.size());
    absl::Status status = decoder->Decode(
        WithStored(Describe(original, stored.size(), format::ChunkKind::kCompressed), stored),
        stored, out, nullptr, "f");
    EXPECT_TRUE(absl::IsDataLoss(status)) << status;
    EXPECT_NE(status.message().find("not exactly one zstd frame"), absl::string_view::npos)
        << status;
  }
}

TEST(ChunkCodec, LevelsOutsideTheRangeAreRejected) {
  EXPECT_TRUE(absl::IsInvalidArgument(ChunkCompressor::Create(0).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(ChunkCompressor::Create(1000).status()));
  EXPECT_TRUE(ChunkCompressor::Create(-5).ok());
}

std::vector<uint8_t> TrainTinyDictionary(int variant) {
  std::vector<uint8_t> samples;
  std::vector<size_t> sizes;
  for (int i = 0; i < 200; ++i) {
    std::vector<uint8_t> s = TextChunk(512, variant + i % 7);
    s[i % 512] = static_cast<uint8_t>(i);
    samples.insert(samples.end(), s.begin(), s.end());
    sizes.push_back(s.size());
  }
  std::vector<uint8_t> dictionary(4096);
  size_t n = ZDICT_trainFromBuffer(dictionary.data(), dictionary.size(), samples.data(),
                                   sizes.data(), static_cast<unsigned>(sizes.size()));
  if (ZDICT_isError(n)) return {};
  dictionary.resize(n);
  return dictionary;
}

TEST(ChunkCodec, DictionaryRoundTripAndMismatchIsRefused) {
  std::vector<uint8_t> dictionary_bytes = TrainTinyDictionary(0);
  ASSERT_FALSE(dictionary_bytes.empty());
  auto cdict = CompressionDictionary::Create(dictionary_bytes, 3);
  ASSERT_TRUE(cdict.ok()) << cdict.status();
  auto ddict = DecompressionDictionary::Create(dictionary_bytes);
  ASSERT_TRUE(ddict.ok()) << ddict.status();
  EXPECT_EQ((*cdict)->id(), (*ddict)->id());

  auto compressor = ChunkCompressor::Create(3);
  auto decoder = ChunkDecoder::Create();
  std::vector<uint8_t> original = TextChunk(4096, 3);
  std::vector<uint8_t> stored(MaxCompressedSize(original.size()));
  size_t n = *compressor->Compress(original, stored, cdict->get());
  std::vector<uint8_t> out(original.size());
  StoredChunk chunk =
      WithStored(Describe(original, n, format::ChunkKind::kCompressed), {stored.data(), n});
  chunk.dictionary_slot = 1;
  ASSERT_TRUE(decoder->Decode(chunk, {stored.data(), n}, out, ddict->get(), "f").ok());
  EXPECT_EQ(out, original);

  // Without the dictionary, or with another one, the chunk is refused before decoding.
  absl::Status without = decoder->Decode(chunk, {stored.data(), n}, out, nullptr, "f");
  EXPECT_TRUE(absl::IsDataLoss(without)) << without;
  EXPECT_NE(without.message().find("dictionary"), absl::string_view::npos);
  std::vector<uint8_t> other_bytes = TrainTinyDictionary(11);
  other_bytes[4] ^= 0x5a;  // force a different dictionary id
  auto other = DecompressionDictionary::Create(other_bytes);
  ASSERT_TRUE(other.ok());
  ASSERT_NE((*other)->id(), (*ddict)->id());
  absl::Status mismatched = decoder->Decode(chunk, {stored.data(), n}, out, other->get(), "f");
  EXPECT_TRUE(absl::IsDataLoss(mismatched)) << mismatched;
}

TEST(ChunkCodec, NotADictionaryIsRejected) {
  std::vector<uint8_t> junk(1000, 7);
  EXPECT_TRUE(absl::IsDataLoss(DecompressionDictionary::Create(junk).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(CompressionDictionary::Create(junk, 3).status()));
}

TEST(IsAllZero, FindsAnyNonZeroByte) {
  std::vector<uint8_t> bytes(65536 + 3, 0);
  EXPECT_TRUE(IsAllZero(bytes));
  for (size_t at : {size_t{0}, size_t{63}, size_t{64}, size_t{40000}, bytes.size() - 1}) {
    bytes[at] = 1;
    EXPECT_FALSE(IsAllZero(bytes)) << at;
    bytes[at] = 0;
  }
}

}  // namespace
}  // namespace lazysnap

namespace lazysnap {
namespace {

TEST(DictionaryPayload, LargeCompressibleDictionariesAreStoredCompressed) {
  // A zstd-format dictionary is needed only for the round trip; the payload choice looks
  // at sizes. 256 KiB of repetitive content behind a real dictionary header.
  std::vector<uint8_t> content;
  while (content.size() < (256 << 10)) {
    const char* line = "{\"id\":1234,\"status\":\"shipped\",\"city\":\"Osaka\"}\n";
    content.insert(content.end(), line, line + std::strlen(line));
  }
  auto compressed = CompressDictionaryPayload(content);
  ASSERT_TRUE(compressed.ok()) << compressed.status();
  EXPECT_LT(compressed->size(), content.size() / 10);
  auto payload = ChooseDictionaryPayload(content);
  ASSERT_TRUE(payload.ok());
  EXPECT_TRUE(payload->compressed);
  EXPECT_EQ(payload->bytes, *compressed);
  // Too small to save 64 KiB: stored as it is, whatever its compressibility.
  std::vector<uint8_t> small(content.begin(), content.begin() + (32 << 10));
  auto small_payload = ChooseDictionaryPayload(small);
  ASSERT_TRUE(small_payload.ok());
  EXPECT_FALSE(small_payload->compressed);
  EXPECT_EQ(small_payload->bytes, small);
  EXPECT_TRUE(ChooseDictionaryPayload(small, /*force_compressed=*/true)->compressed);
}

TEST(DictionaryPayload, CompressedPayloadIsCheckedBeforeAllocating) {
  std::vector<uint8_t> content(8 << 10, 'x');
  auto frame = CompressDictionaryPayload(content);
  ASSERT_TRUE(frame.ok());
  // Over the limit the frame names: refused without decompressing.
  auto too_large = DecompressionDictionary::CreateFromCompressed(*frame, 4 << 10);
  EXPECT_TRUE(absl::IsDataLoss(too_large.status())) << too_large.status();
  EXPECT_NE(too_large.status().message().find("not in [1, 4096]"), absl::string_view::npos);
  // Within the limit but not a zstd dictionary.
  auto not_dictionary = DecompressionDictionary::CreateFromCompressed(*frame, 16 << 20);
  EXPECT_TRUE(absl::IsDataLoss(not_dictionary.status())) << not_dictionary.status();
  // A frame with something after it.
  std::vector<uint8_t> two = *frame;
  two.insert(two.end(), frame->begin(), frame->end());
  auto trailing = DecompressionDictionary::CreateFromCompressed(two, 16 << 20);
  EXPECT_TRUE(absl::IsDataLoss(trailing.status())) << trailing.status();
  EXPECT_NE(trailing.status().message().find("not exactly one zstd frame"),
            absl::string_view::npos);
}

}  // namespace
}  // namespace lazysnap
