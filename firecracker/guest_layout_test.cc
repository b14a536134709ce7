#include "firecracker/guest_layout.h"

#include <gtest/gtest.h>

namespace lazysnap::firecracker {
namespace {

HandshakeMessage Message(std::vector<GuestRegionMapping> regions) {
  HandshakeMessage message;
  for (const GuestRegionMapping& region : regions) message.total_bytes += region.size_bytes;
  message.regions = std::move(regions);
  return message;
}

format::Region Region(uint64_t offset, uint64_t length) {
  format::Region region;
  region.image_offset_bytes = offset;
  region.length_bytes = length;
  return region;
}

TEST(PlaceSnapshotRegions, OneFileOneRegion) {
  auto addresses = PlaceSnapshotRegions(Message({{0x7f0000000000, 1 << 30, 0, 4096}}),
                                        std::vector{Region(0, 1 << 30)});
  ASSERT_TRUE(addresses.ok()) << addresses.status();
  EXPECT_EQ(*addresses, std::vector<uint64_t>{0x7f0000000000});
}

TEST(PlaceSnapshotRegions, SnapshotRegionsPerGuestRegionAndInside) {
  // Two guest regions (file bytes [0, 3 GiB) and [3 GiB, 4 GiB)); the snapshot has one
  // region per guest region, and the second one starts 1 MiB in (a hole before it).
  const uint64_t gib = 1ull << 30;
  auto addresses = PlaceSnapshotRegions(
      Message({{0x7f0000000000, 3 * gib, 0, 4096}, {0x7e0000000000, gib, 3 * gib, 4096}}),
      std::vector{Region(0, 3 * gib), Region(3 * gib + (1 << 20), gib - (1 << 20))});
  ASSERT_TRUE(addresses.ok()) << addresses.status();
  EXPECT_EQ(*addresses, (std::vector<uint64_t>{0x7f0000000000, 0x7e0000000000 + (1 << 20)}));
}

TEST(PlaceSnapshotRegions, ASnapshotRegionAcrossTwoGuestRegionsIsRefused) {
  const uint64_t gib = 1ull << 30;
  auto addresses = PlaceSnapshotRegions(
      Message({{0x7f0000000000, 3 * gib, 0, 4096}, {0x7e0000000000, gib, 3 * gib, 4096}}),
      std::vector{Region(0, 4 * gib)});
  EXPECT_TRUE(absl::IsInvalidArgument(addresses.status()));
  // The message gives the flags that would make a snapshot that fits.
  EXPECT_NE(addresses.status().message().find("--region 0:3221225472 --region 3221225472:1073741824"),
            std::string::npos)
      << addresses.status();
}

TEST(PlaceSnapshotRegions, AGuestBiggerThanTheSnapshotIsRefused) {
  auto addresses = PlaceSnapshotRegions(Message({{0x7f0000000000, 2 << 20, 0, 4096}}),
                                        std::vector{Region(0, 1 << 20)});
  EXPECT_TRUE(absl::IsInvalidArgument(addresses.status()));
  EXPECT_NE(addresses.status().message().find("past the end"), std::string::npos);
}

TEST(PlaceSnapshotRegions, AnImageEndingInsideAPageStillFits) {
  auto addresses = PlaceSnapshotRegions(Message({{0x7f0000000000, 8192, 0, 4096}}),
                                        std::vector{Region(0, 5000)});
  EXPECT_TRUE(addresses.ok()) << addresses.status();
}

}  // namespace
}  // namespace lazysnap::firecracker
