#include "remote/object_url.h"

#include <map>

#include "gtest/gtest.h"

namespace lazysnap::remote {
namespace {

// FakeEnvironment: variables and files from maps.
AwsEnvironment FakeEnvironment(std::map<std::string, std::string> vars,
                               std::map<std::string, std::string> files = {}) {
  AwsEnvironment env;
  env.getenv = [vars](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
  env.read_file = [files](std::string_view path) -> absl::StatusOr<std::string> {
    auto it = files.find(std::string(path));
    if (it == files.end()) return absl::NotFoundError(std::string(path));
    return it->second;
  };
  return env;
}

TEST(ObjectUrl, RecognisesRemoteSchemes) {
  EXPECT_TRUE(IsRemoteUrl("http://host/a"));
  EXPECT_TRUE(IsRemoteUrl("HTTPS://host/a"));
  EXPECT_TRUE(IsRemoteUrl("s3://bucket/key"));
  EXPECT_FALSE(IsRemoteUrl("/tmp/s3://x"));
  EXPECT_FALSE(IsRemoteUrl("snap.lzs"));
}

TEST(ObjectUrl, HttpUrlIsUsedAsGivenAndUnsigned) {
  auto endpoint = ResolveObjectUrl("http://127.0.0.1:8080/dir/a%20b.lzs", FakeEnvironment({}));
  ASSERT_TRUE(endpoint.ok()) << endpoint.status();
  EXPECT_EQ(endpoint->url, "http://127.0.0.1:8080/dir/a%20b.lzs");
  EXPECT_TRUE(endpoint->sigv4.empty());
  EXPECT_FALSE(endpoint->is_s3);
}

TEST(ObjectUrl, RefusesUrlsWithoutHostOrObject) {
  EXPECT_TRUE(absl::IsInvalidArgument(ResolveObjectUrl("http:///x", FakeEnvironment({})).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(ResolveObjectUrl("http://host", FakeEnvironment({})).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(ResolveObjectUrl("s3://bucket", FakeEnvironment({})).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(ResolveObjectUrl("s3:///key", FakeEnvironment({})).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(ResolveObjectUrl("ftp://h/x", FakeEnvironment({})).status()));
}

TEST(ObjectUrl, S3OnAwsIsVirtualHostedAndSignedFromEnvironment) {
  auto endpoint = ResolveObjectUrl(
      "s3://snaps/vm 1/mem.lzs",
      FakeEnvironment({{"AWS_ACCESS_KEY_ID", "AKID"}, {"AWS_SECRET_ACCESS_KEY", "SECRET"},
                       {"AWS_SESSION_TOKEN", "TOKEN"}, {"AWS_REGION", "eu-west-1"}}));
  ASSERT_TRUE(endpoint.ok()) << endpoint.status();
  EXPECT_EQ(endpoint->url, "https://snaps.s3.eu-west-1.amazonaws.com/vm%201/mem.lzs");
  EXPECT_EQ(endpoint->sigv4, "aws:amz:eu-west-1:s3");
  EXPECT_EQ(endpoint->user_password, "AKID:SECRET");
  EXPECT_EQ(endpoint->session_token, "TOKEN");
  EXPECT_EQ(endpoint->display_name, "s3://snaps/vm 1/mem.lzs");
}

TEST(ObjectUrl, S3BucketWithDotsIsPathStyle) {
  auto endpoint = ResolveObjectUrl("s3://my.bucket/k", FakeEnvironment({}));
  ASSERT_TRUE(endpoint.ok());
  EXPECT_EQ(endpoint->url, "https://s3.us-east-1.amazonaws.com/my.bucket/k");
  EXPECT_TRUE(endpoint->sigv4.empty()) << "no credentials: unsigned";
}

TEST(ObjectUrl, ConfiguredEndpointIsPathStyle) {
  auto endpoint = ResolveObjectUrl(
      "s3://snaps/a.lzs", FakeEnvironment({{"AWS_ENDPOINT_URL", "http://127.0.0.1:9000/"},
                                          {"AWS_ACCESS_KEY_ID", "k"},
                                          {"AWS_SECRET_ACCESS_KEY", "s"}}));
  ASSERT_TRUE(endpoint.ok());
  EXPECT_EQ(endpoint->url, "http://127.0.0.1:9000/snaps/a.lzs");
  EXPECT_EQ(endpoint->sigv4, "aws:amz:us-east-1:s3");
}

TEST(ObjectUrl, S3SpecificEndpointWinsOverTheGeneralOne) {
  auto settings = ResolveAwsSettings(FakeEnvironment(
      {{"AWS_ENDPOINT_URL", "http://general"}, {"AWS_ENDPOINT_URL_S3", "http://s3only"}}));
  ASSERT_TRUE(settings.ok());
  EXPECT_EQ(settings->endpoint_url, "http://s3only");
}

TEST(ObjectUrl, ProfileFromCredentialsAndConfigFiles) {
  const std::string config =
      "[default]\nregion = us-west-2\n"
      "[profile lab]\nregion = eu-central-1\ns3 =\n  endpoint_url = http://minio:9000\n"
      "  addressing_style = path\n";
  const std::string credentials =
      "# comment\n[default]\naws_access_key_id = DEF\naws_secret_access_key = DEFSECRET\n"
      "[lab]\naws_access_key_id = LAB\naws_secret_access_key = LABSECRET\n"
      "aws_session_token = LABTOKEN\n";
  auto env = FakeEnvironment({{"HOME", "/home/u"}, {"AWS_PROFILE", "lab"}},
                             {{"/home/u/.aws/config", config},
                              {"/home/u/.aws/credentials", credentials}});
  auto settings = ResolveAwsSettings(env);
  ASSERT_TRUE(settings.ok()) << settings.status();
  EXPECT_EQ(settings->region, "eu-central-1");
  EXPECT_EQ(settings->endpoint_url, "http://minio:9000");
  EXPECT_TRUE(settings->path_style);
  EXPECT_EQ(settings->access_key_id, "LAB");
  EXPECT_EQ(settings->secret_access_key, "LABSECRET");
  EXPECT_EQ(settings->session_token, "LABTOKEN");
  EXPECT_EQ(settings->credentials_from, "/home/u/.aws/credentials [lab]");

  auto defaults = ResolveAwsSettings(FakeEnvironment(
      {{"HOME", "/home/u"}},
      {{"/home/u/.aws/config", config}, {"/home/u/.aws/credentials", credentials}}));
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->region, "us-west-2");
  EXPECT_EQ(defaults->access_key_id, "DEF");
  EXPECT_TRUE(defaults->endpoint_url.empty());
}

TEST(ObjectUrl, EnvironmentWinsOverFiles) {
  auto settings = ResolveAwsSettings(FakeEnvironment(
      {{"HOME", "/h"}, {"AWS_ACCESS_KEY_ID", "ENV"}, {"AWS_SECRET_ACCESS_KEY", "ENVS"},
       {"AWS_DEFAULT_REGION", "ap-south-1"}},
      {{"/h/.aws/credentials", "[default]\naws_access_key_id=F\naws_secret_access_key=FS\n"},
       {"/h/.aws/config", "[default]\nregion=us-west-1\n"}}));
  ASSERT_TRUE(settings.ok());
  EXPECT_EQ(settings->access_key_id, "ENV");
  EXPECT_EQ(settings->region, "ap-south-1");
  EXPECT_EQ(settings->credentials_from, "environment");
}

TEST(ObjectUrl, CredentialsInTheConfigFileAndFilesNamedByVariables) {
  auto settings = ResolveAwsSettings(FakeEnvironment(
      {{"AWS_CONFIG_FILE", "/etc/aws.conf"}, {"AWS_SHARED_CREDENTIALS_FILE", "/etc/none"}},
      {{"/etc/aws.conf", "[default]\naws_access_key_id = C\naws_secret_access_key = CS\n"}}));
  ASSERT_TRUE(settings.ok());
  EXPECT_EQ(settings->access_key_id, "C");
  EXPECT_EQ(settings->credentials_from, "/etc/aws.conf [default]");
}

TEST(ObjectUrl, HalfGivenCredentialsAndBadFilesAreRefused) {
  EXPECT_TRUE(absl::IsInvalidArgument(
      ResolveAwsSettings(FakeEnvironment({{"AWS_ACCESS_KEY_ID", "only"}})).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(
      ResolveAwsSettings(FakeEnvironment({{"HOME", "/h"}},
                                         {{"/h/.aws/credentials", "[default]\naws_access_key_id=x\n"}}))
          .status()));
  auto bad = ResolveAwsSettings(
      FakeEnvironment({{"HOME", "/h"}}, {{"/h/.aws/config", "region = nowhere\n"}}));
  EXPECT_TRUE(absl::IsInvalidArgument(bad.status()));
  EXPECT_NE(bad.status().message().find("/h/.aws/config:1"), std::string::npos) << bad.status();
}

TEST(ObjectUrl, IgnoreConfiguredEndpoints) {
  auto settings = ResolveAwsSettings(FakeEnvironment(
      {{"AWS_ENDPOINT_URL", "http://x"}, {"AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"}}));
  ASSERT_TRUE(settings.ok());
  EXPECT_TRUE(settings->endpoint_url.empty());
}

TEST(ObjectUrl, PercentEncodesKeysForSigV4) {
  EXPECT_EQ(PercentEncodePath("a/b c+d~e_f.g-h"), "a/b%20c%2Bd~e_f.g-h");
  EXPECT_EQ(PercentEncodePath("\xc3\xa9"), "%C3%A9");
}

}  // namespace
}  // namespace lazysnap::remote
