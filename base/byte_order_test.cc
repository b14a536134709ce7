#include "base/byte_order.h"

#include <string>

#include <gtest/gtest.h>

#include "base/checksum.h"

namespace lazysnap {
namespace {

TEST(ByteOrder, StoresLittleEndian) {
  uint8_t bytes[8];
  StoreLe<uint32_t>(bytes, 0x11223344u);
  EXPECT_EQ(bytes[0], 0x44);
  EXPECT_EQ(bytes[3], 0x11);
  EXPECT_EQ(LoadLe<uint32_t>(bytes), 0x11223344u);
  StoreLe<uint64_t>(bytes, 0x0102030405060708ull);
  EXPECT_EQ(bytes[0], 0x08);
  EXPECT_EQ(bytes[7], 0x01);
  EXPECT_EQ(LoadLe<uint64_t>(bytes), 0x0102030405060708ull);
  StoreLe<uint16_t>(bytes + 1, 0xabcd);
  EXPECT_EQ(LoadLe<uint16_t>(bytes + 1), 0xabcd);
}

TEST(Checksum, MatchesPublishedXxh3Values) {
  // XXH3_64bits of the empty input, from the xxHash reference (seed 0).
  EXPECT_EQ(Checksum64({}), 0x2D06800538D394C2ull);
  std::string a = "lazysnap";
  std::string b = "lazysnaq";
  auto span_a = std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(a.data()), a.size());
  auto span_b = std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(b.data()), b.size());
  EXPECT_NE(Checksum64(span_a), Checksum64(span_b));
  EXPECT_NE(HashContent128(span_a), HashContent128(span_b));
  EXPECT_EQ(HashContent128(span_a), HashContent128(span_a));
}

}  // namespace
}  // namespace lazysnap
