// The /proc/PID/maps parser on real-looking lines, and the capture policy per kind of
// mapping.
#include "snapshot_format/internal/proc_maps.h"

#include <gtest/gtest.h>

namespace lazysnap::internal {
namespace {

// A maps file as a 6.x kernel prints it (x86-64), one line of each kind that matters.
constexpr std::string_view kMaps =
    "55f1c0a00000-55f1c0a02000 r--p 00000000 fe:01 1311235                    /usr/bin/cat\n"
    "55f1c0a02000-55f1c0a07000 r-xp 00002000 fe:01 1311235                    /usr/bin/cat\n"
    "55f1c0a0b000-55f1c0a0c000 rw-p 0000a000 fe:01 1311235                    /usr/bin/cat\n"
    "55f1c1b3e000-55f1c1b5f000 rw-p 00000000 00:00 0                          [heap]\n"
    "7f0d2c000000-7f0d2c021000 rw-p 00000000 00:00 0 \n"
    "7f0d2c021000-7f0d30000000 ---p 00000000 00:00 0 \n"
    "7f0d31000000-7f0d31400000 rw-s 00000000 00:01 4242                       /dev/zero (deleted)\n"
    "7f0d31400000-7f0d31401000 rw-p 00000000 00:00 0                          [anon:my arena]\n"
    "7f0d31401000-7f0d31402000 rw-p 00001000 00:19 77                         /tmp/a file with spaces (deleted)\n"
    "7f0d31402000-7f0d31403000 r--s 00000000 00:19 78                         /memfd:shm (deleted)\n"
    "7ffd5a1e0000-7ffd5a201000 rw-p 00000000 00:00 0                          [stack]\n"
    "7ffd5a3c2000-7ffd5a3c6000 r--p 00000000 00:00 0                          [vvar]\n"
    "7ffd5a3c6000-7ffd5a3c8000 r-xp 00000000 00:00 0                          [vdso]\n"
    "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]\n";

TEST(ProcMaps, ParsesEveryField) {
  auto mappings = ParseProcMaps(kMaps);
  ASSERT_TRUE(mappings.ok()) << mappings.status();
  ASSERT_EQ(mappings->size(), 14u);

  const ProcMapping& data = (*mappings)[2];
  EXPECT_EQ(data.start_address, 0x55f1c0a0b000u);
  EXPECT_EQ(data.end_address, 0x55f1c0a0c000u);
  EXPECT_EQ(data.length_bytes(), 0x1000u);
  EXPECT_TRUE(data.readable);
  EXPECT_TRUE(data.writable);
  EXPECT_FALSE(data.executable);
  EXPECT_FALSE(data.shared);
  EXPECT_EQ(data.file_offset_bytes, 0xa000u);
  EXPECT_EQ(data.inode, 1311235u);
  EXPECT_EQ(data.path, "/usr/bin/cat");
  EXPECT_FALSE(data.anonymous());

  const ProcMapping& anonymous = (*mappings)[4];
  EXPECT_EQ(anonymous.path, "");
  EXPECT_TRUE(anonymous.anonymous());
  EXPECT_EQ((*mappings)[3].path, "[heap]");
  EXPECT_TRUE((*mappings)[3].anonymous());
  EXPECT_TRUE((*mappings)[6].shared);
  EXPECT_EQ((*mappings)[6].path, "/dev/zero (deleted)");
  EXPECT_EQ((*mappings)[7].path, "[anon:my arena]");
  EXPECT_EQ((*mappings)[8].path, "/tmp/a file with spaces (deleted)");
  EXPECT_EQ((*mappings)[13].start_address, 0xffffffffff600000u);
  EXPECT_TRUE((*mappings)[13].executable);
  EXPECT_FALSE((*mappings)[13].readable);
}

TEST(ProcMaps, EmptyTextHasNoMappings) {
  auto mappings = ParseProcMaps("");
  ASSERT_TRUE(mappings.ok());
  EXPECT_TRUE(mappings->empty());
}

TEST(ProcMaps, RejectsMalformedLinesNamingThem) {
  for (std::string_view line : {
           "55f1c0a00000 r--p 00000000 fe:01 1311235 /usr/bin/cat",       // no dash
           "55f1c0a02000-55f1c0a00000 r--p 00000000 fe:01 1311235 /x",    // reversed
           "55f1c0a00000-55f1c0a00000 r--p 00000000 fe:01 1311235 /x",    // empty
           "55f1c0a00000-55f1c0a02000 r--q 00000000 fe:01 1311235 /x",    // bad sharing
           "55f1c0a00000-55f1c0a02000 rw 00000000 fe:01 1311235 /x",      // short perms
           "55f1c0a00000-55f1c0a02000 r--p 0000zz00 fe:01 1311235 /x",    // offset
           "55f1c0a00000-55f1c0a02000 r--p 00000000 fe01 1311235 /x",     // device
           "55f1c0a00000-55f1c0a02000 r--p 00000000 fe:01 13x1235 /x",    // inode
           "55f1c0a00000-55f1c0a02000 r--p 00000000 fe:01",               // missing inode
           "zz-55f1c0a02000 r--p 00000000 fe:01 1 /x",                    // hex
       }) {
    std::string text = "7f0d2c000000-7f0d2c021000 rw-p 00000000 00:00 0 \n" + std::string(line);
    auto mappings = ParseProcMaps(text);
    ASSERT_FALSE(mappings.ok()) << line;
    EXPECT_EQ(mappings.status().code(), absl::StatusCode::kInvalidArgument) << line;
    EXPECT_NE(mappings.status().message().find("line 2"), absl::string_view::npos)
        << mappings.status();
  }
}

TEST(ProcMaps, DefaultPolicyCapturesPrivateWritableOnly) {
  auto mappings = ParseProcMaps(kMaps).value();
  const MappingSelection expected[] = {
      MappingSelection::kNotWritable,    // cat's rodata
      MappingSelection::kNotWritable,    // cat's code
      MappingSelection::kCapture,        // cat's .data
      MappingSelection::kCapture,        // [heap]
      MappingSelection::kCapture,        // anonymous
      MappingSelection::kNotWritable,    // PROT_NONE reservation
      MappingSelection::kShared,         // MAP_SHARED anonymous
      MappingSelection::kCapture,        // named anonymous
      MappingSelection::kCapture,        // private writable view of a deleted file
      MappingSelection::kShared,         // shared memfd
      MappingSelection::kCapture,        // [stack]
      MappingSelection::kKernelSpecial,  // [vvar]
      MappingSelection::kKernelSpecial,  // [vdso]
      MappingSelection::kKernelSpecial,  // [vsyscall]
  };
  ASSERT_EQ(mappings.size(), std::size(expected));
  for (size_t i = 0; i < mappings.size(); ++i) {
    EXPECT_EQ(SelectMapping(mappings[i], false), expected[i]) << "line " << i + 1;
  }
}

TEST(ProcMaps, IncludeReadonlyCapturesEveryReadableMapping) {
  auto mappings = ParseProcMaps(kMaps).value();
  const MappingSelection expected[] = {
      MappingSelection::kCapture,        MappingSelection::kCapture,
      MappingSelection::kCapture,        MappingSelection::kCapture,
      MappingSelection::kCapture,        MappingSelection::kNotReadable,
      MappingSelection::kCapture,        MappingSelection::kCapture,
      MappingSelection::kCapture,        MappingSelection::kCapture,
      MappingSelection::kCapture,        MappingSelection::kKernelSpecial,
      MappingSelection::kKernelSpecial,  MappingSelection::kKernelSpecial,
  };
  ASSERT_EQ(mappings.size(), std::size(expected));
  for (size_t i = 0; i < mappings.size(); ++i) {
    EXPECT_EQ(SelectMapping(mappings[i], true), expected[i]) << "line " << i + 1;
  }
}

TEST(ProcMaps, NewerKernelsVvarVariantsAreKernelSpecial) {
  auto mappings =
      ParseProcMaps("7ffd5a3c2000-7ffd5a3c6000 r--p 00000000 00:00 0  [vvar_vclock]\n").value();
  ASSERT_EQ(mappings.size(), 1u);
  EXPECT_EQ(SelectMapping(mappings[0], true), MappingSelection::kKernelSpecial);
}

TEST(ProcMaps, MappingsAbove2To63AreUnaddressable) {
  // Not a real user address on x86-64 or arm64 today, but pread could not reach it.
  auto mappings =
      ParseProcMaps("8000000000000000-8000000000001000 rw-p 00000000 00:00 0\n").value();
  ASSERT_EQ(mappings.size(), 1u);
  EXPECT_EQ(SelectMapping(mappings[0], false), MappingSelection::kUnaddressable);
}

}  // namespace
}  // namespace lazysnap::internal
