// Small text helpers for URLs, HTTP headers and INI files, over std::string_view (the
// Debian build of Abseil has its own string_view, which std::string_view does not
// convert to).
#ifndef LAZYSNAP_REMOTE_INTERNAL_TEXT_H_
#define LAZYSNAP_REMOTE_INTERNAL_TEXT_H_

#include <cctype>
#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

namespace lazysnap::remote::internal {

inline std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

inline std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

inline bool StartsWithIgnoreCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && ToLower(s.substr(0, prefix.size())) == ToLower(prefix);
}

// ParseU64 parses a whole string of decimal digits.
inline bool ParseU64(std::string_view s, uint64_t* value) {
  if (s.empty()) return false;
  const auto [end, error] = std::from_chars(s.data(), s.data() + s.size(), *value);
  return error == std::errc() && end == s.data() + s.size();
}

}  // namespace lazysnap::remote::internal

#endif  // LAZYSNAP_REMOTE_INTERNAL_TEXT_H_
