// ParseHandshakeMessage: JSON through simdjson's DOM API (error codes only, no
// exceptions), then every check a region must pass before its address is trusted.
#include "firecracker/handshake_message.h"

#include <simdjson.h>

#include <algorithm>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_format.h"

namespace lazysnap::firecracker {
namespace {

std::string_view TypeName(simdjson::dom::element_type type) {
  switch (type) {
    case simdjson::dom::element_type::ARRAY: return "an array";
    case simdjson::dom::element_type::OBJECT: return "an object";
    case simdjson::dom::element_type::INT64:
    case simdjson::dom::element_type::UINT64: return "an integer";
    case simdjson::dom::element_type::DOUBLE: return "a fractional number";
    case simdjson::dom::element_type::STRING: return "a string";
    case simdjson::dom::element_type::BOOL: return "a boolean";
    case simdjson::dom::element_type::NULL_VALUE: return "null";
  }
  return "unknown";
}

// Keys: the keys this parser knows, as indices into RegionFields::values.
enum Key { kBase, kSize, kOffset, kPageSize, kPageSizeKib, kKeyCount };
constexpr std::string_view kKeyNames[kKeyCount] = {"base_host_virt_addr", "size", "offset",
                                                   "page_size", "page_size_kib"};

struct RegionFields {
  std::optional<uint64_t> values[kKeyCount];
};

absl::Status RegionError(size_t index, std::string_view what) {
  return absl::InvalidArgumentError(absl::StrFormat("region %d: %s", index, what));
}

absl::StatusOr<RegionFields> ReadFields(size_t index, simdjson::dom::element element) {
  simdjson::dom::object object;
  if (element.get_object().get(object) != simdjson::SUCCESS) {
    return RegionError(index, absl::StrFormat("expected an object, got %s",
                                              TypeName(element.type())));
  }
  RegionFields fields;
  for (simdjson::dom::key_value_pair field : object) {
    if (field.key == "is_guest_memfd") {
      bool guest_memfd = false;
      if (field.value.get_bool().get(guest_memfd) != simdjson::SUCCESS) {
        return RegionError(index, absl::StrFormat("\"is_guest_memfd\" is %s, not a boolean",
                                                  TypeName(field.value.type())));
      }
      if (guest_memfd) {
        return absl::UnimplementedError(absl::StrFormat(
            "region %d: guest_memfd memory (\"is_guest_memfd\": true) is not supported; "
            "restore this VM with anonymous guest memory",
            index));
      }
      continue;
    }
    const auto* known = std::find(std::begin(kKeyNames), std::end(kKeyNames), field.key);
    if (known == std::end(kKeyNames)) continue;  // unknown keys are ignored (gpa_start...)
    std::optional<uint64_t>& slot = fields.values[known - std::begin(kKeyNames)];
    if (slot.has_value()) {
      return RegionError(index, absl::StrFormat("\"%s\" appears twice", field.key));
    }
    uint64_t value = 0;
    if (field.value.get_uint64().get(value) != simdjson::SUCCESS) {
      return RegionError(
          index, absl::StrFormat("\"%s\" is %s, not an integer in [0, 2^64)", field.key,
                                 field.value.type() == simdjson::dom::element_type::INT64
                                     ? "negative"
                                     : TypeName(field.value.type())));
    }
    slot = value;
  }
  for (Key required : {kBase, kSize, kOffset}) {
    if (!fields.values[required].has_value()) {
      return RegionError(index, absl::StrFormat("no \"%s\"", kKeyNames[required]));
    }
  }
  return fields;
}

MessageShape ShapeOf(const RegionFields& fields) {
  const bool page_size = fields.values[kPageSize].has_value();
  const bool page_size_kib = fields.values[kPageSizeKib].has_value();
  if (page_size && page_size_kib) return MessageShape::kBothPageSizes;
  if (page_size) return MessageShape::kPageSize;
  if (page_size_kib) return MessageShape::kPageSizeKib;
  return MessageShape::kNoPageSize;
}

absl::StatusOr<GuestRegionMapping> CheckRegion(size_t index, const RegionFields& fields) {
  GuestRegionMapping region;
  region.base_host_virt_addr = *fields.values[kBase];
  region.size_bytes = *fields.values[kSize];
  region.offset_bytes = *fields.values[kOffset];
  const std::optional<uint64_t>& page_size = fields.values[kPageSize];
  const std::optional<uint64_t>& page_size_kib = fields.values[kPageSizeKib];
  if (page_size.has_value() && page_size_kib.has_value() && *page_size != *page_size_kib) {
    return RegionError(index, absl::StrFormat("\"page_size\" %d and \"page_size_kib\" %d differ "
                                              "(both hold bytes)",
                                              *page_size, *page_size_kib));
  }
  if (page_size.has_value()) {
    region.page_size_bytes = *page_size;
  } else if (page_size_kib.has_value()) {
    region.page_size_bytes = *page_size_kib;
  }
  const uint64_t page = region.page_size_bytes;
  if (page < 4096 || page > (1ull << 30) || (page & (page - 1)) != 0) {
    return RegionError(index, absl::StrFormat("page size %d is not a power of two from 4 KiB "
                                              "to 1 GiB",
                                              page));
  }
  if (region.size_bytes == 0) return RegionError(index, "size is 0");
  if (region.base_host_virt_addr % page != 0 || region.size_bytes % page != 0 ||
      region.offset_bytes % page != 0) {
    return RegionError(index, absl::StrFormat("address 0x%x, size %d and offset %d must be "
                                              "multiples of the page size %d",
                                              region.base_host_virt_addr, region.size_bytes,
                                              region.offset_bytes, page));
  }
  if (region.base_host_virt_addr + region.size_bytes < region.base_host_virt_addr ||
      region.offset_bytes + region.size_bytes < region.offset_bytes) {
    return RegionError(index, absl::StrFormat("address 0x%x or offset %d plus size %d "
                                              "overflows",
                                              region.base_host_virt_addr, region.offset_bytes,
                                              region.size_bytes));
  }
  return region;
}

// CheckDisjoint refuses regions that overlap in `key` (host addresses, or file offsets).
absl::Status CheckDisjoint(const std::vector<GuestRegionMapping>& regions,
                           uint64_t GuestRegionMapping::*key, std::string_view what) {
  std::vector<std::pair<uint64_t, size_t>> starts;
  for (size_t i = 0; i < regions.size(); ++i) starts.push_back({regions[i].*key, i});
  std::sort(starts.begin(), starts.end());
  for (size_t i = 1; i < starts.size(); ++i) {
    const GuestRegionMapping& previous = regions[starts[i - 1].second];
    if (starts[i].first < previous.*key + previous.size_bytes) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "regions %d and %d overlap in %s", starts[i - 1].second, starts[i].second, what));
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::string_view MessageShapeName(MessageShape shape) {
  switch (shape) {
    case MessageShape::kNoPageSize: return "no page size (Firecracker v1.1-v1.6)";
    case MessageShape::kPageSizeKib: return "page_size_kib (Firecracker v1.7-v1.11)";
    case MessageShape::kPageSize: return "page_size";
    case MessageShape::kBothPageSizes: return "page_size and page_size_kib (Firecracker v1.12+)";
  }
  return "unknown";
}

absl::StatusOr<HandshakeMessage> ParseHandshakeMessage(std::string_view bytes,
                                                       bool* incomplete_json) {
  if (incomplete_json != nullptr) *incomplete_json = false;
  if (bytes.size() > kMaxHandshakeBytes) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "the message is %d bytes, more than the %d a handshake may take", bytes.size(),
        kMaxHandshakeBytes));
  }
  simdjson::dom::parser parser(kMaxHandshakeBytes);
  simdjson::dom::element root;
  const simdjson::error_code parsed = parser.parse(bytes.data(), bytes.size()).get(root);
  if (parsed != simdjson::SUCCESS) {
    if (incomplete_json != nullptr) *incomplete_json = true;
    return absl::InvalidArgumentError(absl::StrFormat(
        "the message is not a complete JSON document (%d bytes): %s", bytes.size(),
        simdjson::error_message(parsed)));
  }
  simdjson::dom::array array;
  if (root.get_array().get(array) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "expected a JSON array of guest memory regions, got %s", TypeName(root.type())));
  }
  HandshakeMessage message;
  size_t index = 0;
  for (simdjson::dom::element element : array) {
    if (index == kMaxGuestRegions) {
      return absl::ResourceExhaustedError(
          absl::StrFormat("more than %d guest memory regions", kMaxGuestRegions));
    }
    absl::StatusOr<RegionFields> fields = ReadFields(index, element);
    if (!fields.ok()) return fields.status();
    const MessageShape shape = ShapeOf(*fields);
    if (index == 0) {
      message.shape = shape;
    } else if (shape != message.shape) {
      return RegionError(index, absl::StrFormat("names its page size as %s, region 0 as %s",
                                                MessageShapeName(shape),
                                                MessageShapeName(message.shape)));
    }
    absl::StatusOr<GuestRegionMapping> region = CheckRegion(index, *fields);
    if (!region.ok()) return region.status();
    if (index > 0 && region->page_size_bytes != message.regions[0].page_size_bytes) {
      return RegionError(index, absl::StrFormat("page size %d differs from region 0's %d",
                                                region->page_size_bytes,
                                                message.regions[0].page_size_bytes));
    }
    if (message.total_bytes + region->size_bytes < message.total_bytes) {
      return RegionError(index, "the regions' sizes add up past 2^64");
    }
    message.total_bytes += region->size_bytes;
    message.regions.push_back(*region);
    ++index;
  }
  if (message.regions.empty()) {
    return absl::InvalidArgumentError("the message lists no guest memory regions");
  }
  message.page_size_bytes = message.regions[0].page_size_bytes;
  absl::Status disjoint = CheckDisjoint(message.regions,
                                        &GuestRegionMapping::base_host_virt_addr,
                                        "host addresses");
  if (!disjoint.ok()) return disjoint;
  disjoint = CheckDisjoint(message.regions, &GuestRegionMapping::offset_bytes,
                           "guest memory file offsets");
  if (!disjoint.ok()) return disjoint;
  return message;
}

}  // namespace lazysnap::firecracker
