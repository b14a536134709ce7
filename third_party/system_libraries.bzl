"""Library lists shared by third_party/BUILD.bazel and what ships outside Bazel (the
pkg-config files of c_api/), so that the two never disagree."""

# libabsl-dev (20220623): the Abseil libraries lazysnap links, in link order.
ABSL_LIBRARIES = [
    "absl_statusor",
    "absl_status",
    "absl_strerror",
    "absl_str_format_internal",
    "absl_cord",
    "absl_cordz_info",
    "absl_cord_internal",
    "absl_cordz_functions",
    "absl_cordz_handle",
    "absl_hash",
    "absl_city",
    "absl_low_level_hash",
    "absl_raw_hash_set",
    "absl_hashtablez_sampler",
    "absl_exponential_biased",
    "absl_synchronization",
    "absl_time",
    "absl_civil_time",
    "absl_time_zone",
    "absl_strings",
    "absl_strings_internal",
    "absl_base",
    "absl_spinlock_wait",
    "absl_int128",
    "absl_throw_delegate",
    "absl_raw_logging_internal",
    "absl_log_severity",
]
