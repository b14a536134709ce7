// File I/O helpers over raw descriptors: whole-buffer reads and writes that retry EINTR
// and short transfers, with errors that name the file and offset.
#ifndef LAZYSNAP_BASE_FILE_IO_H_
#define LAZYSNAP_BASE_FILE_IO_H_

#include <sys/types.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/unique_fd.h"

namespace lazysnap {

// OpenFile opens `path` with `flags` | O_CLOEXEC. Errors name the path (NotFound,
// PermissionDenied, ...).
absl::StatusOr<UniqueFd> OpenFile(std::string_view path, int flags, mode_t mode = 0644);

// PreadFull reads exactly buffer.size() bytes at `offset_bytes`. Reaching end of file first
// returns OutOfRange naming `path`, the offset and how many bytes were read.
absl::Status PreadFull(int fd, std::span<uint8_t> buffer, uint64_t offset_bytes,
                       std::string_view path);

// ReadUpTo reads sequentially until `buffer` is full or end of file, and returns the number
// of bytes read (less than buffer.size() only at end of file). Works on pipes.
absl::StatusOr<size_t> ReadUpTo(int fd, std::span<uint8_t> buffer, std::string_view path);

// WriteFull writes all of `data` at the current file position.
absl::Status WriteFull(int fd, std::span<const uint8_t> data, std::string_view path);

// PwriteFull writes all of `data` at `offset_bytes`.
absl::Status PwriteFull(int fd, std::span<const uint8_t> data, uint64_t offset_bytes,
                        std::string_view path);

// FileKindName names what a file of st_mode `mode` is, for messages: "a directory",
// "a FIFO", "a character device", "a block device", "a socket", "a symbolic link",
// "a regular file".
const char* FileKindName(mode_t mode);

// FileSizeBytes returns the size of the open file (fstat).
absl::StatusOr<uint64_t> FileSizeBytes(int fd, std::string_view path);

// ReadFileToString reads a whole (small) file such as /proc/self/maps. Files larger than
// `max_bytes` give ResourceExhausted.
absl::StatusOr<std::string> ReadFileToString(std::string_view path,
                                             size_t max_bytes = 64 << 20);

}  // namespace lazysnap

#endif  // LAZYSNAP_BASE_FILE_IO_H_
