#include "base/errno_status.h"

#include <cerrno>

#include <gtest/gtest.h>

namespace lazysnap {
namespace {

TEST(ErrnoToStatus, MapsCodesAndNamesTheCall) {
  absl::Status status = ErrnoToStatus(ENOENT, "open /nonexistent");
  EXPECT_TRUE(absl::IsNotFound(status));
  EXPECT_NE(status.message().find("open /nonexistent"), absl::string_view::npos);
  EXPECT_NE(status.message().find("ENOENT"), absl::string_view::npos);

  EXPECT_TRUE(absl::IsPermissionDenied(ErrnoToStatus(EPERM, "x")));
  EXPECT_TRUE(absl::IsPermissionDenied(ErrnoToStatus(EACCES, "x")));
  EXPECT_TRUE(absl::IsInvalidArgument(ErrnoToStatus(EINVAL, "x")));
  EXPECT_TRUE(absl::IsAlreadyExists(ErrnoToStatus(EEXIST, "x")));
  EXPECT_TRUE(absl::IsUnavailable(ErrnoToStatus(EAGAIN, "x")));
  EXPECT_TRUE(absl::IsUnimplemented(ErrnoToStatus(ENOSYS, "x")));
  EXPECT_TRUE(absl::IsResourceExhausted(ErrnoToStatus(ENOSPC, "x")));
  EXPECT_TRUE(absl::IsInternal(ErrnoToStatus(EIO, "x")));
}

TEST(ErrnoName, KnownAndUnknownValues) {
  EXPECT_EQ(ErrnoName(EINVAL), "EINVAL");
  EXPECT_EQ(ErrnoName(12345), "errno");
}

}  // namespace
}  // namespace lazysnap
