// Object URLs and S3 settings: the AWS CLI's files (INI with indented sub-sections), its
// order of precedence, and the two S3 addressing styles.
#include "remote/object_url.h"

#include <cctype>
#include <cstdlib>
#include <map>

#include "absl/strings/str_format.h"
#include "base/file_io.h"
#include "remote/internal/text.h"

namespace lazysnap::remote {
namespace {

using internal::StartsWithIgnoreCase;
using internal::ToLower;
using internal::Trim;

// IniFile: section -> key -> value. Keys of an indented sub-section ("s3 =" followed by
// indented "addressing_style = path") are stored as "s3.addressing_style".
using IniFile = std::map<std::string, std::map<std::string, std::string>>;

absl::StatusOr<IniFile> ParseIni(std::string_view text, std::string_view path) {
  IniFile file;
  std::string section;
  std::string parent;  // the key of the open sub-section, when lines are indented
  int line_number = 0;
  while (!text.empty()) {
    const size_t newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text = newline == std::string_view::npos ? std::string_view() : text.substr(newline + 1);
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const bool indented = !line.empty() && (line[0] == ' ' || line[0] == '\t');
    std::string_view stripped = Trim(line);
    if (stripped.empty() || stripped[0] == '#' || stripped[0] == ';') continue;
    if (stripped.front() == '[') {
      if (stripped.back() != ']') {
        return absl::InvalidArgumentError(
            absl::StrFormat("%s:%d: unterminated section header", path, line_number));
      }
      section = std::string(Trim(stripped.substr(1, stripped.size() - 2)));
      file[section];
      parent.clear();
      continue;
    }
    const size_t equals = stripped.find('=');
    if (equals == std::string_view::npos || section.empty()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s:%d: expected 'key = value' inside a [section]", path, line_number));
    }
    std::string key = ToLower(Trim(stripped.substr(0, equals)));
    std::string value(Trim(stripped.substr(equals + 1)));
    if (indented && !parent.empty()) {
      file[section][parent + "." + key] = value;
      continue;
    }
    parent = value.empty() ? key : std::string();
    file[section][key] = value;
  }
  return file;
}

// ReadIni reads and parses `path`; a missing file is an empty one.
absl::StatusOr<IniFile> ReadIni(const AwsEnvironment& env, const std::string& path) {
  auto text = env.read_file(path);
  if (absl::IsNotFound(text.status())) return IniFile();
  if (!text.ok()) return text.status();
  return ParseIni(*text, path);
}

const std::string* Find(const IniFile& file, const std::string& section, const std::string& key) {
  auto s = file.find(section);
  if (s == file.end()) return nullptr;
  auto k = s->second.find(key);
  return k == s->second.end() || k->second.empty() ? nullptr : &k->second;
}

std::optional<std::string> NonEmptyEnv(const AwsEnvironment& env, std::string_view name) {
  std::optional<std::string> value = env.getenv(name);
  if (value && value->empty()) return std::nullopt;
  return value;
}

// S3 bucket names that can be a DNS label of AWS's virtual-hosted endpoint (dots would
// break the TLS certificate's wildcard).
bool VirtualHostable(std::string_view bucket) {
  if (bucket.size() < 3 || bucket.size() > 63) return false;
  for (char c : bucket) {
    if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) ||
          c == '-')) {
      return false;
    }
  }
  return bucket.front() != '-' && bucket.back() != '-';
}

}  // namespace

bool IsRemoteUrl(std::string_view location) {
  return StartsWithIgnoreCase(location, "http://") ||
         StartsWithIgnoreCase(location, "https://") ||
         StartsWithIgnoreCase(location, "s3://");
}

AwsEnvironment AwsEnvironment::Process() {
  AwsEnvironment env;
  env.getenv = [](std::string_view name) -> std::optional<std::string> {
    const char* value = std::getenv(std::string(name).c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
  env.read_file = [](std::string_view path) { return ReadFileToString(path, 1 << 20); };
  return env;
}

absl::StatusOr<AwsSettings> ResolveAwsSettings(const AwsEnvironment& env) {
  AwsSettings settings;
  if (auto profile = NonEmptyEnv(env, "AWS_PROFILE")) {
    settings.profile = *profile;
  } else if (auto legacy = NonEmptyEnv(env, "AWS_DEFAULT_PROFILE")) {
    settings.profile = *legacy;
  }
  const std::string home = env.getenv("HOME").value_or("");
  const std::string config_path =
      NonEmptyEnv(env, "AWS_CONFIG_FILE").value_or(home + "/.aws/config");
  const std::string credentials_path =
      NonEmptyEnv(env, "AWS_SHARED_CREDENTIALS_FILE").value_or(home + "/.aws/credentials");
  auto config = ReadIni(env, config_path);
  if (!config.ok()) return config.status();
  auto credentials = ReadIni(env, credentials_path);
  if (!credentials.ok()) return credentials.status();
  // The config file names profiles "[profile NAME]", except the default one.
  const std::string config_section =
      settings.profile == "default" ? "default" : "profile " + settings.profile;

  if (auto region = NonEmptyEnv(env, "AWS_REGION")) {
    settings.region = *region;
  } else if (auto default_region = NonEmptyEnv(env, "AWS_DEFAULT_REGION")) {
    settings.region = *default_region;
  } else if (const std::string* r = Find(*config, config_section, "region")) {
    settings.region = *r;
  }

  const bool ignore_configured_endpoints =
      ToLower(env.getenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS").value_or("")) == "true";
  if (!ignore_configured_endpoints) {
    if (auto endpoint = NonEmptyEnv(env, "AWS_ENDPOINT_URL_S3")) {
      settings.endpoint_url = *endpoint;
    } else if (auto any = NonEmptyEnv(env, "AWS_ENDPOINT_URL")) {
      settings.endpoint_url = *any;
    } else if (const std::string* s3 = Find(*config, config_section, "s3.endpoint_url")) {
      settings.endpoint_url = *s3;
    } else if (const std::string* e = Find(*config, config_section, "endpoint_url")) {
      settings.endpoint_url = *e;
    }
  }
  if (const std::string* style = Find(*config, config_section, "s3.addressing_style")) {
    settings.path_style = *style == "path";
  }

  auto key_id = NonEmptyEnv(env, "AWS_ACCESS_KEY_ID");
  auto secret = NonEmptyEnv(env, "AWS_SECRET_ACCESS_KEY");
  if (key_id.has_value() != secret.has_value()) {
    return absl::InvalidArgumentError(
        "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together");
  }
  if (key_id) {
    settings.access_key_id = *key_id;
    settings.secret_access_key = *secret;
    settings.session_token = NonEmptyEnv(env, "AWS_SESSION_TOKEN").value_or("");
    settings.credentials_from = "environment";
    return settings;
  }
  // The credentials file first, then the config file, as the AWS CLI looks.
  struct Candidate {
    const IniFile* file;
    std::string section;
    const std::string* path;
  };
  for (const Candidate& c : {Candidate{&*credentials, settings.profile, &credentials_path},
                             Candidate{&*config, config_section, &config_path}}) {
    const std::string* id = Find(*c.file, c.section, "aws_access_key_id");
    const std::string* key = Find(*c.file, c.section, "aws_secret_access_key");
    if (id == nullptr && key == nullptr) continue;
    if (id == nullptr || key == nullptr) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s [%s]: aws_access_key_id and aws_secret_access_key must be set together",
          *c.path, c.section));
    }
    settings.access_key_id = *id;
    settings.secret_access_key = *key;
    if (const std::string* token = Find(*c.file, c.section, "aws_session_token")) {
      settings.session_token = *token;
    }
    settings.credentials_from = absl::StrFormat("%s [%s]", *c.path, c.section);
    return settings;
  }
  settings.credentials_from = "none (unsigned requests)";
  return settings;
}

std::string PercentEncodePath(std::string_view key) {
  std::string out;
  out.reserve(key.size());
  for (unsigned char c : key) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '/') {
      out.push_back(static_cast<char>(c));
    } else {
      out += absl::StrFormat("%%%02X", c);
    }
  }
  return out;
}

absl::StatusOr<ObjectEndpoint> ResolveObjectUrl(std::string_view location,
                                                const AwsEnvironment& env) {
  ObjectEndpoint endpoint;
  endpoint.display_name = std::string(location);
  if (StartsWithIgnoreCase(location, "http://") ||
      StartsWithIgnoreCase(location, "https://")) {
    std::string_view rest = location.substr(location.find("://") + 3);
    const size_t slash = rest.find('/');
    if (rest.empty() || slash == 0) {
      return absl::InvalidArgumentError(absl::StrFormat("%s: no host in the URL", location));
    }
    if (slash == std::string_view::npos || slash + 1 == rest.size()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s: the URL names no object (no path)", location));
    }
    endpoint.url = std::string(location);
    return endpoint;
  }
  if (!StartsWithIgnoreCase(location, "s3://")) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: not an http://, https:// or s3:// URL", location));
  }
  std::string_view rest = location.substr(5);
  const size_t slash = rest.find('/');
  if (slash == 0 || slash == std::string_view::npos || slash + 1 == rest.size()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: expected s3://BUCKET/KEY", location));
  }
  const std::string_view bucket = rest.substr(0, slash);
  const std::string_view key = rest.substr(slash + 1);
  auto settings = ResolveAwsSettings(env);
  if (!settings.ok()) return settings.status();
  endpoint.is_s3 = true;
  const std::string encoded_key = PercentEncodePath(key);
  if (!settings->endpoint_url.empty()) {
    std::string base = settings->endpoint_url;
    while (!base.empty() && base.back() == '/') base.pop_back();
    if (!StartsWithIgnoreCase(base, "http://") && !StartsWithIgnoreCase(base, "https://")) {
      return absl::InvalidArgumentError(
          absl::StrFormat("endpoint %s: expected an http:// or https:// URL", base));
    }
    // Local and third-party endpoints: path-style, which needs no DNS per bucket.
    endpoint.url = absl::StrFormat("%s/%s/%s", base, bucket, encoded_key);
  } else if (settings->path_style || !VirtualHostable(bucket)) {
    endpoint.url = absl::StrFormat("https://s3.%s.amazonaws.com/%s/%s", settings->region,
                                   bucket, encoded_key);
  } else {
    endpoint.url = absl::StrFormat("https://%s.s3.%s.amazonaws.com/%s", bucket,
                                   settings->region, encoded_key);
  }
  if (!settings->access_key_id.empty()) {
    endpoint.sigv4 = absl::StrFormat("aws:amz:%s:s3", settings->region);
    endpoint.user_password = settings->access_key_id + ":" + settings->secret_access_key;
    endpoint.session_token = settings->session_token;
  }
  return endpoint;
}

}  // namespace lazysnap::remote
