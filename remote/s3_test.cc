// S3 through moto's server with signature checking on: uploads (one PUT and multipart),
// signed range reads, credentials from the environment and from files, refused
// credentials, and version pinning of a replaced object.
#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"
#include "remote/object_upload.h"
#include "remote/snapshot_location.h"
#include "remote/testing/test_servers.h"
#include "remote/testing/test_snapshot.h"
#include "snapshot_format/image_decoder.h"
#include "snapshot_format/test_util.h"

namespace lazysnap::remote {
namespace {

using lazysnap::testing::TempPath;

class S3Test : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!testing::MotoAvailable()) return;
    auto moto = testing::StartMoto(TempPath("moto"));
    ASSERT_TRUE(moto.ok()) << moto.status();
    moto_ = new testing::MotoServer(std::move(*moto));
  }
  static void TearDownTestSuite() {
    delete moto_;
    moto_ = nullptr;
  }
  void SetUp() override {
    if (moto_ == nullptr) GTEST_SKIP() << "python3 cannot import moto and boto3";
  }

  static SnapshotLocationOptions Options(AwsEnvironment env) {
    SnapshotLocationOptions options;
    options.cache_directory.clear();
    options.aws = std::move(env);
    options.file.fetch.max_attempts = 2;
    options.file.fetch.backoff_initial_ms = 1;
    return options;
  }

  // ExpectDecodesTo decodes every chunk of `reader` and compares with `image`.
  static void ExpectDecodesTo(const SnapshotReader& reader, const std::vector<uint8_t>& image) {
    std::vector<uint8_t> decoded(image.size());
    auto summary = DecodeImage(reader, {.threads = 4, .include_zero_chunks = true},
                               [&](const ChunkLocation& at, std::span<const uint8_t> bytes) {
                                 std::memcpy(decoded.data() + at.image_offset_bytes, bytes.data(),
                                             bytes.size());
                                 return absl::OkStatus();
                               });
    ASSERT_TRUE(summary.ok()) << summary.status();
    EXPECT_TRUE(decoded == image);
  }

  // ExpectImage opens the snapshot at `url` and checks that it decodes to `image`.
  static void ExpectImage(const std::string& url, const std::vector<uint8_t>& image,
                          AwsEnvironment env) {
    SnapshotLocationOptions options = Options(std::move(env));
    options.open.validate_index = true;
    auto opened = OpenSnapshot(url, options);
    ASSERT_TRUE(opened.ok()) << opened.status();
    ExpectDecodesTo(*opened->reader, image);
  }

  static testing::MotoServer* moto_;
};
testing::MotoServer* S3Test::moto_ = nullptr;

TEST_F(S3Test, PushThenRestoreBytesThroughSignedRangeRequests) {
  auto snapshot = testing::MakeTestSnapshot(TempPath("a.lzs"), 4 << 20);
  ASSERT_TRUE(snapshot.ok());
  auto pushed = UploadFile(snapshot->path, "s3://snaps/vm/a.lzs", {}, moto_->environment());
  ASSERT_TRUE(pushed.ok()) << pushed.status();
  EXPECT_EQ(pushed->parts, 0u);
  ExpectImage("s3://snaps/vm/a.lzs", snapshot->image, moto_->environment());
  // And through the engine's chunk reader, group fetches and all.
  SnapshotLocationOptions options = Options(moto_->environment());
  options.cache_directory = TempPath("s3cache");
  auto opened = OpenSnapshot("s3://snaps/vm/a.lzs", options);
  ASSERT_TRUE(opened.ok()) << opened.status();
  const auto chunks = testing::StoredChunksOf(*opened->reader);
  auto results = testing::ReadChunksThrough(*opened->chunk_source, *opened->reader, chunks, 8);
  ASSERT_TRUE(results.ok()) << results.status();
  for (size_t i = 0; i < chunks.size(); ++i) {
    auto location = opened->reader->Locate(chunks[i]);
    ASSERT_EQ(results->at(i).result, location->stored.stored_length_bytes) << results->at(i).detail;
  }
}

TEST_F(S3Test, MultipartPushOfALargerSnapshot) {
  auto snapshot = testing::MakeTestSnapshot(TempPath("big.lzs"), 24 << 20, 32 << 10, 9);
  ASSERT_TRUE(snapshot.ok());
  ASSERT_GT(std::filesystem::file_size(snapshot->path), 5u << 20) << "needs two parts at least";
  UploadOptions upload;
  upload.single_put_max_bytes = 1 << 20;
  upload.part_size_bytes = 5 << 20;
  auto pushed = UploadFile(snapshot->path, "s3://snaps/big.lzs", upload, moto_->environment());
  ASSERT_TRUE(pushed.ok()) << pushed.status();
  EXPECT_GE(pushed->parts, 2u);
  ExpectImage("s3://snaps/big.lzs", snapshot->image, moto_->environment());
}

TEST_F(S3Test, CredentialsFromTheSharedCredentialsFile) {
  auto snapshot = testing::MakeTestSnapshot(TempPath("c.lzs"), 1 << 20);
  ASSERT_TRUE(UploadFile(snapshot->path, "s3://snaps/c.lzs", {}, moto_->environment()).ok());
  const std::string home = TempPath("home");
  std::filesystem::create_directories(home + "/.aws");
  std::ofstream(home + "/.aws/credentials")
      << "[lab]\naws_access_key_id = " << moto_->access_key_id
      << "\naws_secret_access_key = " << moto_->secret_access_key << "\n";
  std::ofstream(home + "/.aws/config")
      << "[profile lab]\nregion = us-east-1\nendpoint_url = " << moto_->server.base_url() << "\n";
  AwsEnvironment env = AwsEnvironment::Process();
  env.getenv = [home](std::string_view name) -> std::optional<std::string> {
    if (name == "HOME") return home;
    if (name == "AWS_PROFILE") return std::string("lab");
    return std::nullopt;
  };
  ExpectImage("s3://snaps/c.lzs", snapshot->image, env);
}

TEST_F(S3Test, WrongSecretAndUnauthorisedUserAreRefused) {
  auto snapshot = testing::MakeTestSnapshot(TempPath("d.lzs"), 1 << 20);
  ASSERT_TRUE(UploadFile(snapshot->path, "s3://snaps/d.lzs", {}, moto_->environment()).ok());
  struct Case {
    std::string key, secret, expected;
  };
  for (const Case& c : {Case{moto_->access_key_id, "wrong-secret", "SignatureDoesNotMatch"},
                        Case{moto_->denied_access_key_id, moto_->denied_secret_access_key,
                             "AccessDenied"}}) {
    AwsEnvironment env = moto_->environment();
    auto base = env.getenv;
    env.getenv = [base, c](std::string_view name) -> std::optional<std::string> {
      if (name == "AWS_ACCESS_KEY_ID") return c.key;
      if (name == "AWS_SECRET_ACCESS_KEY") return c.secret;
      return base(name);
    };
    auto opened = OpenSnapshot("s3://snaps/d.lzs", Options(env));
    ASSERT_TRUE(absl::IsPermissionDenied(opened.status())) << opened.status();
    EXPECT_NE(opened.status().message().find(c.expected), std::string::npos) << opened.status();
    EXPECT_NE(opened.status().message().find("s3://snaps/d.lzs"), std::string::npos);
  }
  auto missing = OpenSnapshot("s3://snaps/no-such.lzs", Options(moto_->environment()));
  EXPECT_TRUE(absl::IsNotFound(missing.status())) << missing.status();
}

TEST_F(S3Test, VersionedObjectReplacedMidRestoreKeepsServingThePinnedVersion) {
  auto first = testing::MakeTestSnapshot(TempPath("v1.lzs"), 2 << 20, 32 << 10, 1);
  auto second = testing::MakeTestSnapshot(TempPath("v2.lzs"), 2 << 20, 32 << 10, 2);
  ASSERT_TRUE(first.ok() && second.ok());
  ASSERT_TRUE(UploadFile(first->path, "s3://versioned/vm.lzs", {}, moto_->environment()).ok());
  auto opened = OpenSnapshot("s3://versioned/vm.lzs", Options(moto_->environment()));
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_NE(opened->remote_file->identity().find("version"), std::string::npos)
      << opened->remote_file->identity();
  ASSERT_TRUE(UploadFile(second->path, "s3://versioned/vm.lzs", {}, moto_->environment()).ok());
  // Every chunk still comes from the version opened.
  ExpectDecodesTo(*opened->reader, first->image);
}

TEST_F(S3Test, UnversionedObjectReplacedMidRestoreIsDetected) {
  auto first = testing::MakeTestSnapshot(TempPath("u1.lzs"), 2 << 20, 32 << 10, 1);
  auto second = testing::MakeTestSnapshot(TempPath("u2.lzs"), 2 << 20, 32 << 10, 2);
  ASSERT_TRUE(UploadFile(first->path, "s3://snaps/u.lzs", {}, moto_->environment()).ok());
  auto opened = OpenSnapshot("s3://snaps/u.lzs", Options(moto_->environment()));
  ASSERT_TRUE(opened.ok()) << opened.status();
  ASSERT_TRUE(UploadFile(second->path, "s3://snaps/u.lzs", {}, moto_->environment()).ok());
  const auto chunks = testing::StoredChunksOf(*opened->reader);
  auto results = testing::ReadChunksThrough(*opened->chunk_source, *opened->reader,
                                            {chunks[1]}, 1);
  ASSERT_TRUE(results.ok());
  EXPECT_EQ(results->at(0).result, -ESTALE) << results->at(0).detail;
  EXPECT_NE(results->at(0).detail.find("s3://snaps/u.lzs"), std::string::npos);
}

}  // namespace
}  // namespace lazysnap::remote
