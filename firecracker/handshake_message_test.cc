#include "firecracker/handshake_message.h"

#include <gtest/gtest.h>

#include <string>

#include "absl/strings/str_format.h"

namespace lazysnap::firecracker {
namespace {

TEST(HandshakeMessage, EveryFirecrackerVersionsShapeParses) {
  struct Case {
    std::string json;
    MessageShape shape;
    uint64_t page_size;
  } cases[] = {
      // v1.1-v1.6: three keys.
      {R"([{"base_host_virt_addr":140737488289792,"size":1073741824,"offset":0}])",
       MessageShape::kNoPageSize, 4096},
      // v1.7-v1.11: page_size_kib, holding bytes.
      {R"([{"base_host_virt_addr":140737488289792,"size":1073741824,"offset":0,"page_size_kib":4096}])",
       MessageShape::kPageSizeKib, 4096},
      // v1.12+: both.
      {R"([{"base_host_virt_addr":140737488289792,"size":1073741824,"offset":0,"page_size":4096,"page_size_kib":4096}])",
       MessageShape::kBothPageSizes, 4096},
      {R"([{"base_host_virt_addr":2097152,"size":4194304,"offset":0,"page_size":2097152}])",
       MessageShape::kPageSize, 2097152},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.json);
    absl::StatusOr<HandshakeMessage> message = ParseHandshakeMessage(c.json);
    ASSERT_TRUE(message.ok()) << message.status();
    EXPECT_EQ(message->shape, c.shape);
    EXPECT_EQ(message->page_size_bytes, c.page_size);
    ASSERT_EQ(message->regions.size(), 1u);
    EXPECT_EQ(message->regions[0].page_size_bytes, c.page_size);
    EXPECT_EQ(message->total_bytes, message->regions[0].size_bytes);
  }
}

TEST(HandshakeMessage, SeveralRegionsInOrderUnknownKeysIgnored) {
  const std::string json = R"([
    {"base_host_virt_addr": 139637976727552, "size": 3221225472, "offset": 0,
     "page_size": 4096, "page_size_kib": 4096, "gpa_start": 0, "is_guest_memfd": false},
    {"base_host_virt_addr": 139650861629440, "size": 1073741824, "offset": 3221225472,
     "page_size": 4096, "page_size_kib": 4096, "gpa_start": 4294967296, "future": {"x": [1]}}
  ])";
  absl::StatusOr<HandshakeMessage> message = ParseHandshakeMessage(json);
  ASSERT_TRUE(message.ok()) << message.status();
  ASSERT_EQ(message->regions.size(), 2u);
  EXPECT_EQ(message->regions[0],
            (GuestRegionMapping{139637976727552ull, 3221225472ull, 0, 4096}));
  EXPECT_EQ(message->regions[1],
            (GuestRegionMapping{139650861629440ull, 1073741824ull, 3221225472ull, 4096}));
  EXPECT_EQ(message->total_bytes, 4294967296ull);
}

TEST(HandshakeMessage, LargestAddressesParse) {
  // u64 values past INT64_MAX must parse (simdjson keeps them as unsigned).
  const uint64_t base = 0xFFFFFFFFFFE00000ull - 0x200000;
  absl::StatusOr<HandshakeMessage> message = ParseHandshakeMessage(absl::StrFormat(
      R"([{"base_host_virt_addr":%d,"size":2097152,"offset":0}])", base));
  ASSERT_TRUE(message.ok()) << message.status();
  EXPECT_EQ(message->regions[0].base_host_virt_addr, base);
}

TEST(HandshakeMessage, MalformedMessagesAreRefusedWithAReason) {
  struct Case {
    std::string json;
    absl::StatusCode code;
    std::string reason;  // a part of the message
    bool incomplete;
  } cases[] = {
      {"", absl::StatusCode::kInvalidArgument, "not a complete JSON", true},
      {R"([{"base_host_virt_addr":4096,"size":4096,)", absl::StatusCode::kInvalidArgument,
       "not a complete JSON", true},
      {R"({"base_host_virt_addr":4096,"size":4096,"offset":0})",
       absl::StatusCode::kInvalidArgument, "expected a JSON array", false},
      {"[]", absl::StatusCode::kInvalidArgument, "no guest memory regions", false},
      {"[1]", absl::StatusCode::kInvalidArgument, "region 0: expected an object", false},
      {R"([{"size":4096,"offset":0}])", absl::StatusCode::kInvalidArgument,
       "no \"base_host_virt_addr\"", false},
      {R"([{"base_host_virt_addr":4096,"size":"4096","offset":0}])",
       absl::StatusCode::kInvalidArgument, "\"size\" is a string", false},
      {R"([{"base_host_virt_addr":4096,"size":-4096,"offset":0}])",
       absl::StatusCode::kInvalidArgument, "negative", false},
      {R"([{"base_host_virt_addr":4096,"size":4096.0,"offset":0}])",
       absl::StatusCode::kInvalidArgument, "fractional", false},
      {R"([{"base_host_virt_addr":4096,"size":4096,"size":8192,"offset":0}])",
       absl::StatusCode::kInvalidArgument, "appears twice", false},
      {R"([{"base_host_virt_addr":4096,"size":0,"offset":0}])",
       absl::StatusCode::kInvalidArgument, "size is 0", false},
      {R"([{"base_host_virt_addr":4097,"size":4096,"offset":0}])",
       absl::StatusCode::kInvalidArgument, "multiples of the page size", false},
      {R"([{"base_host_virt_addr":4096,"size":4096,"offset":0,"page_size":3000}])",
       absl::StatusCode::kInvalidArgument, "not a power of two", false},
      {R"([{"base_host_virt_addr":4096,"size":4096,"offset":0,"page_size":4096,"page_size_kib":4}])",
       absl::StatusCode::kInvalidArgument, "differ", false},
      {R"([{"base_host_virt_addr":18446744073709547520,"size":8192,"offset":0}])",
       absl::StatusCode::kInvalidArgument, "overflows", false},
      {R"([{"base_host_virt_addr":4096,"size":8192,"offset":0},{"base_host_virt_addr":8192,"size":4096,"offset":8192}])",
       absl::StatusCode::kInvalidArgument, "overlap in host addresses", false},
      {R"([{"base_host_virt_addr":4096,"size":8192,"offset":0},{"base_host_virt_addr":65536,"size":4096,"offset":4096}])",
       absl::StatusCode::kInvalidArgument, "overlap in guest memory file offsets", false},
      {R"([{"base_host_virt_addr":4096,"size":4096,"offset":0,"page_size":4096},{"base_host_virt_addr":65536,"size":4096,"offset":4096}])",
       absl::StatusCode::kInvalidArgument, "names its page size", false},
      {R"([{"base_host_virt_addr":4096,"size":4096,"offset":0,"is_guest_memfd":true}])",
       absl::StatusCode::kUnimplemented, "guest_memfd", false},
      {R"([{"base_host_virt_addr":4096,"size":4096,"offset":0,"is_guest_memfd":1}])",
       absl::StatusCode::kInvalidArgument, "not a boolean", false},
      {R"([{"base_host_virt_addr":4096,"size":4096,"offset":0}] trailing)",
       absl::StatusCode::kInvalidArgument, "not a complete JSON", true},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.json);
    bool incomplete = !c.incomplete;
    absl::StatusOr<HandshakeMessage> message = ParseHandshakeMessage(c.json, &incomplete);
    ASSERT_FALSE(message.ok());
    EXPECT_EQ(message.status().code(), c.code) << message.status();
    EXPECT_NE(message.status().message().find(c.reason), std::string::npos) << message.status();
    EXPECT_EQ(incomplete, c.incomplete);
  }
}

TEST(HandshakeMessage, OversizedAndTooManyRegionsAreResourceExhausted) {
  std::string big = "[" + std::string(kMaxHandshakeBytes, ' ') + "]";
  EXPECT_TRUE(absl::IsResourceExhausted(ParseHandshakeMessage(big).status()));
  std::string many = "[";
  for (size_t i = 0; i <= kMaxGuestRegions; ++i) {
    many += absl::StrFormat(R"(%s{"base_host_virt_addr":%d,"size":4096,"offset":%d})",
                            i ? "," : "", (i + 1) * 8192, i * 4096);
  }
  many += "]";
  ASSERT_LE(many.size(), kMaxHandshakeBytes);
  absl::Status status = ParseHandshakeMessage(many).status();
  EXPECT_TRUE(absl::IsResourceExhausted(status)) << status;
}

TEST(HandshakeMessage, DeepNestingIsRefusedNotACrash) {
  std::string deep = std::string(20000, '[') + std::string(20000, ']');
  EXPECT_FALSE(ParseHandshakeMessage(deep).ok());
}

}  // namespace
}  // namespace lazysnap::firecracker
