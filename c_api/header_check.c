/* Compiles include/lazysnap/lazysnap.h alone as strict C99 (-pedantic-errors) and checks
 * at compile time what the ABI relies on: struct layouts without hidden padding and
 * int-sized enums. */
#include "lazysnap/lazysnap.h"

#define STATIC_CHECK(name, condition) typedef char static_check_##name[(condition) ? 1 : -1]

STATIC_CHECK(code_is_int, sizeof(lazysnap_code) == sizeof(int));
STATIC_CHECK(stats_has_no_padding, sizeof(lazysnap_stats) == 25 * sizeof(uint64_t));
STATIC_CHECK(region_has_no_padding, sizeof(lazysnap_region) == 3 * sizeof(uint64_t));
STATIC_CHECK(snapshot_info_size, sizeof(lazysnap_snapshot_info) == 56);
STATIC_CHECK(session_features_size, sizeof(lazysnap_session_features) == 48);
STATIC_CHECK(host_features_info_size, sizeof(lazysnap_host_features_info) == 88);
STATIC_CHECK(feature_info_size, sizeof(lazysnap_feature_info) == 40);
STATIC_CHECK(write_summary_size, sizeof(lazysnap_write_summary) == 9 * sizeof(uint64_t));

int lazysnap_header_c99_check(void) { return LAZYSNAP_CHECK_VERSION(0, 1); }
