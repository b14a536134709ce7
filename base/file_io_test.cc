#include "base/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace lazysnap {
namespace {

std::string TempDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir != nullptr ? dir : "/tmp";
}

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

TEST(FileIo, WriteThenPreadRoundTrips) {
  std::string path = TempDir() + "/roundtrip";
  auto fd = OpenFile(path, O_RDWR | O_CREAT | O_TRUNC);
  ASSERT_TRUE(fd.ok()) << fd.status();
  ASSERT_TRUE(WriteFull(fd->get(), Bytes("hello world"), path).ok());
  ASSERT_TRUE(PwriteFull(fd->get(), Bytes("W"), 6, path).ok());
  std::vector<uint8_t> buffer(5);
  ASSERT_TRUE(PreadFull(fd->get(), buffer, 6, path).ok());
  EXPECT_EQ(std::string(buffer.begin(), buffer.end()), "World");
  EXPECT_EQ(*FileSizeBytes(fd->get(), path), 11u);
}

TEST(FileIo, PreadPastEndIsOutOfRangeAndNamesTheFile) {
  std::string path = TempDir() + "/short";
  auto fd = OpenFile(path, O_RDWR | O_CREAT | O_TRUNC);
  ASSERT_TRUE(fd.ok());
  ASSERT_TRUE(WriteFull(fd->get(), Bytes("abc"), path).ok());
  std::vector<uint8_t> buffer(8);
  absl::Status status = PreadFull(fd->get(), buffer, 0, path);
  EXPECT_TRUE(absl::IsOutOfRange(status)) << status;
  EXPECT_NE(status.message().find(path), absl::string_view::npos);
}

TEST(FileIo, OpenMissingFileIsNotFound) {
  auto fd = OpenFile("/nonexistent/lazysnap", O_RDONLY);
  EXPECT_TRUE(absl::IsNotFound(fd.status())) << fd.status();
}

TEST(FileIo, OpenedDescriptorsAreCloseOnExec) {
  auto fd = OpenFile("/dev/null", O_RDONLY);
  ASSERT_TRUE(fd.ok());
  EXPECT_TRUE(::fcntl(fd->get(), F_GETFD) & FD_CLOEXEC);
}

TEST(FileIo, ReadFileToStringReadsProcFiles) {
  auto maps = ReadFileToString("/proc/self/maps");
  ASSERT_TRUE(maps.ok()) << maps.status();
  EXPECT_NE(maps->find("["), std::string::npos);
}

}  // namespace
}  // namespace lazysnap
