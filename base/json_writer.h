// JsonWriter: builds JSON text (the CLI's --json output, the serve daemon's stats file),
// one value at a time, with correct string escaping and commas. Not a general JSON
// library: writing only.
#ifndef LAZYSNAP_BASE_JSON_WRITER_H_
#define LAZYSNAP_BASE_JSON_WRITER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace lazysnap {

class JsonWriter {
 public:
  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  // Key starts a member inside an object; the next call writes its value.
  JsonWriter& Key(std::string_view key);
  JsonWriter& String(std::string_view value);
  JsonWriter& Int(int64_t value);
  JsonWriter& Uint(uint64_t value);
  JsonWriter& Double(double value);
  JsonWriter& Bool(bool value);
  JsonWriter& Null();

  // Member helpers: Key + value.
  JsonWriter& Member(std::string_view key, std::string_view value) { return Key(key).String(value); }
  JsonWriter& Member(std::string_view key, const char* value) { return Key(key).String(value); }
  JsonWriter& Member(std::string_view key, uint64_t value) { return Key(key).Uint(value); }
  JsonWriter& Member(std::string_view key, int64_t value) { return Key(key).Int(value); }
  JsonWriter& Member(std::string_view key, int value) { return Key(key).Int(value); }
  JsonWriter& Member(std::string_view key, uint32_t value) { return Key(key).Uint(value); }
  JsonWriter& Member(std::string_view key, double value) { return Key(key).Double(value); }
  JsonWriter& Member(std::string_view key, bool value) { return Key(key).Bool(value); }

  const std::string& text() const { return text_; }

 private:
  void BeforeValue();
  void WriteEscaped(std::string_view value);
  std::string text_;
  std::vector<bool> first_;  // per open container: nothing written yet
  bool after_key_ = false;
};

}  // namespace lazysnap

#endif  // LAZYSNAP_BASE_JSON_WRITER_H_
