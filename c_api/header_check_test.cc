// The header compiled as C++ (it is also compiled as strict C99 by header_check.c, which
// this test links): extern "C" linkage, no C++-only constructs, the same layout.
#include "lazysnap/lazysnap.h"

#include <cstddef>

extern "C" int lazysnap_header_c99_check(void);

static_assert(sizeof(lazysnap_stats) == 25 * sizeof(uint64_t));
static_assert(offsetof(lazysnap_stats, time_to_ready_ns) == 24 * sizeof(uint64_t));
static_assert(offsetof(lazysnap_snapshot_info, format_minor_version) == 54);
static_assert(offsetof(lazysnap_host_features_info, io_uring_detail) == 80);
static_assert(LAZYSNAP_CHECK_VERSION(LAZYSNAP_VERSION_MAJOR, LAZYSNAP_VERSION_MINOR));
static_assert(!LAZYSNAP_CHECK_VERSION(LAZYSNAP_VERSION_MAJOR + 1, 0));

int main() { return lazysnap_header_c99_check() == 1 ? 0 : 1; }
