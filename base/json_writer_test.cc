#include "base/json_writer.h"

#include <gtest/gtest.h>

namespace lazysnap {
namespace {

TEST(JsonWriter, NestedValuesAndEscaping) {
  JsonWriter json;
  json.BeginObject()
      .Member("name", "a\"b\\c\n")
      .Member("n", uint64_t{7})
      .Key("list")
      .BeginArray()
      .Int(-1)
      .Bool(true)
      .Null()
      .BeginObject()
      .EndObject()
      .EndArray()
      .Member("x", 0.5)
      .EndObject();
  EXPECT_EQ(json.text(), R"({"name":"a\"b\\c\n","n":7,"list":[-1,true,null,{}],"x":0.5})");
}

}  // namespace
}  // namespace lazysnap
