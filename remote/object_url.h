// Object URLs: which snapshot locations are remote, and how an `s3://bucket/key` or
// `http(s)://` URL becomes an HTTP endpoint to send range requests to, with AWS
// Signature Version 4 credentials where the object lives in S3-compatible storage.
//
// S3 settings come from where the AWS CLI and SDKs look, in their order: the environment
// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION /
// AWS_DEFAULT_REGION, AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL, AWS_PROFILE), then the
// shared credentials file (AWS_SHARED_CREDENTIALS_FILE, default ~/.aws/credentials) and
// the config file (AWS_CONFIG_FILE, default ~/.aws/config) for the profile. Without
// credentials requests go unsigned (public buckets). A configured endpoint (MinIO, Ceph,
// a local test server) is addressed path-style (`ENDPOINT/bucket/key`); AWS itself
// virtual-hosted style (`https://bucket.s3.REGION.amazonaws.com/key`) unless the bucket
// name needs path-style or the profile's `s3 = addressing_style = path` asks for it.
#ifndef LAZYSNAP_REMOTE_OBJECT_URL_H_
#define LAZYSNAP_REMOTE_OBJECT_URL_H_

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace lazysnap::remote {

// IsRemoteUrl is true for `http://`, `https://` and `s3://` locations (anything else is
// a local path).
bool IsRemoteUrl(std::string_view location);

// AwsEnvironment: what resolving S3 settings reads. Tests pass their own; Process()
// reads the process's environment and files.
struct AwsEnvironment {
  // getenv returns a variable's value, or nullopt when unset.
  std::function<std::optional<std::string>(std::string_view name)> getenv;
  // read_file returns a file's content; NotFound when it does not exist.
  std::function<absl::StatusOr<std::string>(std::string_view path)> read_file;

  static AwsEnvironment Process();
};

// AwsSettings: the resolved S3 settings of one profile.
struct AwsSettings {
  std::string profile = "default";
  std::string region = "us-east-1";
  std::string endpoint_url;  // empty: AWS's own endpoint for the region
  bool path_style = false;   // addressing_style = path in the profile's s3 settings
  std::string access_key_id;  // empty: anonymous (unsigned requests)
  std::string secret_access_key;
  std::string session_token;
  std::string credentials_from;  // "environment", "/root/.aws/credentials [default]", ...
};

// ResolveAwsSettings reads `env` as the AWS CLI does. InvalidArgument for a malformed
// file or half-given credentials (a key id without a secret); a missing file is not an
// error.
absl::StatusOr<AwsSettings> ResolveAwsSettings(const AwsEnvironment& env);

// ObjectEndpoint: where and how to send requests for one object.
struct ObjectEndpoint {
  std::string url;           // http(s) URL of the object, path percent-encoded
  std::string display_name;  // the location as the user gave it, for messages
  std::string sigv4;         // CURLOPT_AWS_SIGV4 provider string; empty: unsigned
  std::string user_password;  // "ACCESS_KEY_ID:SECRET" for signing
  std::string session_token;  // sent as x-amz-security-token when set
  bool is_s3 = false;
};

// ResolveObjectUrl turns `location` (http://, https:// or s3://bucket/key) into an
// endpoint; S3 settings come from `env`. InvalidArgument for a malformed URL (no host,
// no bucket or key, an unknown scheme).
absl::StatusOr<ObjectEndpoint> ResolveObjectUrl(std::string_view location,
                                                const AwsEnvironment& env);

// PercentEncodePath encodes every byte of an S3 key except unreserved characters
// (A-Z a-z 0-9 - . _ ~) and '/', as SigV4's canonical URI for S3 expects.
std::string PercentEncodePath(std::string_view key);

}  // namespace lazysnap::remote

#endif  // LAZYSNAP_REMOTE_OBJECT_URL_H_
