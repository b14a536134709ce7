//! The raw C API of include/lazysnap/lazysnap.h, declared by hand (no bindgen: the crate
//! depends on nothing). Every struct is `#[repr(C)]` with the header's field order; the
//! safe wrapper in lib.rs is the only user.
#![allow(non_camel_case_types)]

use std::os::raw::{c_char, c_int, c_void};

pub const LAZYSNAP_VERSION_MAJOR: c_int = 0;
pub const LAZYSNAP_VERSION_MINOR: c_int = 1;

pub const LAZYSNAP_OPEN_VALIDATE_INDEX: u32 = 1 << 0;
pub const LAZYSNAP_PROBE_REQUIRE_KERNEL_FAULTS: u32 = 1 << 0;

#[repr(C)]
pub struct lazysnap_snapshot_t {
    _private: [u8; 0],
}
#[repr(C)]
pub struct lazysnap_write_options_t {
    _private: [u8; 0],
}
#[repr(C)]
pub struct lazysnap_restore_options_t {
    _private: [u8; 0],
}
#[repr(C)]
pub struct lazysnap_session_t {
    _private: [u8; 0],
}
#[repr(C)]
pub struct lazysnap_host_features_t {
    _private: [u8; 0],
}

pub type lazysnap_read_fn =
    extern "C" fn(context: *mut c_void, offset_bytes: u64, buffer: *mut c_void, length: usize) -> c_int;
pub type lazysnap_release_fn = extern "C" fn(context: *mut c_void);
pub type lazysnap_error_fn = extern "C" fn(context: *mut c_void, code: c_int, message: *const c_char);

#[repr(C)]
#[derive(Clone, Copy)]
pub struct lazysnap_snapshot_info {
    pub name: *const c_char,
    pub chunk_count: u64,
    pub image_size_bytes: u64,
    pub memory_size_bytes: u64,
    pub file_size_bytes: u64,
    pub chunk_size_bytes: u32,
    pub page_size_bytes: u32,
    pub region_count: u32,
    pub format_major_version: u16,
    pub format_minor_version: u16,
}

/// Region: one contiguous range of the snapshot's memory.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Region {
    /// Where the region's bytes lie in the flat image.
    pub image_offset_bytes: u64,
    pub length_bytes: u64,
    /// Where the memory was when captured (0: unknown).
    pub guest_address: u64,
}

/// WriteSummary: what writing a snapshot produced.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteSummary {
    pub image_bytes: u64,
    pub file_bytes: u64,
    pub chunk_count: u64,
    pub zero_chunks: u64,
    pub compressed_chunks: u64,
    pub raw_chunks: u64,
    pub duplicate_chunks: u64,
    pub dictionary_bytes: u64,
    pub elapsed_ns: u64,
}

/// Stats: what a session has done (lazysnap_stats; each counter exact, not all read at
/// one instant).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub faults: u64,
    pub faults_write: u64,
    pub faults_zero: u64,
    pub faults_fetched: u64,
    pub faults_joined: u64,
    pub faults_after_remove: u64,
    pub faults_stale: u64,
    pub faults_outside: u64,
    pub chunks_installed: u64,
    pub chunks_readahead: u64,
    pub chunks_background: u64,
    pub chunks_failed: u64,
    pub bytes_read: u64,
    pub bytes_decompressed: u64,
    pub bytes_installed: u64,
    pub bytes_zero_installed: u64,
    pub copy_eexist: u64,
    pub copy_eagain: u64,
    pub events_remove: u64,
    pub events_unmap: u64,
    pub latency_p50_ns: u64,
    pub latency_p90_ns: u64,
    pub latency_p99_ns: u64,
    pub latency_max_ns: u64,
    pub time_to_ready_ns: u64,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct lazysnap_session_features {
    pub userfaultfd: *const c_char,
    pub enabled_features: u64,
    pub serves_kernel_faults: i32,
    pub handler_threads: i32,
    pub reader: *const c_char,
    pub install: *const c_char,
    pub poison: i32,
    pub reserved: i32,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct lazysnap_host_features_info {
    pub kernel_release: *const c_char,
    pub can_restore: i32,
    pub serves_kernel_faults: i32,
    pub open_code: i32,
    pub handshake_code: i32,
    pub open_path: *const c_char,
    pub open_message: *const c_char,
    pub handshake_message: *const c_char,
    pub reported_features: u64,
    pub enabled_features: u64,
    pub known_features: u64,
    pub io_uring_available: i32,
    pub open_attempt_count: u32,
    pub io_uring_detail: *const c_char,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct lazysnap_feature_info {
    pub name: *const c_char,
    pub since: *const c_char,
    pub purpose: *const c_char,
    pub fallback: *const c_char,
    pub supported: i32,
    pub state: i32,
}

// The functions return a lazysnap_code (an int-sized enum) as c_int.
extern "C" {
    pub fn lazysnap_code_name(code: c_int) -> *const c_char;
    pub fn lazysnap_free(pointer: *mut c_void);
    pub fn lazysnap_version_major() -> c_int;
    pub fn lazysnap_version_minor() -> c_int;
    pub fn lazysnap_version_check(major: c_int, minor: c_int) -> c_int;

    pub fn lazysnap_snapshot_open(
        path: *const c_char,
        flags: u32,
        snapshot: *mut *mut lazysnap_snapshot_t,
        error: *mut *mut c_char,
    ) -> c_int;
    pub fn lazysnap_snapshot_open_reader(
        name: *const c_char,
        size_bytes: u64,
        read: Option<lazysnap_read_fn>,
        release: Option<lazysnap_release_fn>,
        context: *mut c_void,
        flags: u32,
        snapshot: *mut *mut lazysnap_snapshot_t,
        error: *mut *mut c_char,
    ) -> c_int;
    pub fn lazysnap_snapshot_free(snapshot: *mut lazysnap_snapshot_t);
    pub fn lazysnap_snapshot_get_info(
        snapshot: *const lazysnap_snapshot_t,
        info: *mut lazysnap_snapshot_info,
        info_size: usize,
        error: *mut *mut c_char,
    ) -> c_int;
    pub fn lazysnap_snapshot_get_region(
        snapshot: *const lazysnap_snapshot_t,
        index: u32,
        region: *mut Region,
        region_size: usize,
        error: *mut *mut c_char,
    ) -> c_int;
    pub fn lazysnap_snapshot_read(
        snapshot: *const lazysnap_snapshot_t,
        region: u32,
        offset_bytes: u64,
        buffer: *mut c_void,
        length_bytes: usize,
        error: *mut *mut c_char,
    ) -> c_int;

    pub fn lazysnap_write_options_create() -> *mut lazysnap_write_options_t;
    pub fn lazysnap_write_options_free(options: *mut lazysnap_write_options_t);
    pub fn lazysnap_write_options_set_chunk_size_bytes(
        options: *mut lazysnap_write_options_t,
        chunk_size_bytes: u32,
        error: *mut *mut c_char,
    ) -> c_int;
    pub fn lazysnap_write_options_set_compression_level(
        options: *mut lazysnap_write_options_t,
        level: i32,
        error: *mut *mut c_char,
    ) -> c_int;
    pub fn lazysnap_write_options_set_threads(
        options: *mut lazysnap_write_options_t,
        threads: i32,
        error: *mut *mut c_char,
    ) -> c_int;
    pub fn lazysnap_write_options_set_dictionary_size_bytes(
        options: *mut lazysnap_write_options_t,
        dictionary_size_bytes: u64,
        error: *mut *mut c_char,
    ) -> c_int;
    pub fn lazysnap_snapshot_write(
        image_path: *const c_char,
        snapshot_path: *const c_char,
        options: *const lazysnap_write_options_t,
        summary: *mut WriteSummary,
        summary_size: usize,
        error: *mut *mut c_char,
    ) -> c_int;

    pub fn lazysnap_restore_options_create() -> *mut lazysnap_restore_options_t;
    pub fn lazysnap_restore_options_free(options: *mut lazysnap_restore_options_t);
    pub fn lazysnap_restore_options_set_serving_mode(
        options: *mut lazysnap_restore_options_t,
        mode: c_int,
        error: *mut *mut c_char,
    ) -> c_int;
    pub fn lazysnap_restore_options_set_handler_threads(
        options: *mut lazysnap_restore_options_t,
        threads: i32,
        error: *mut *mut c_char,
    ) -> c_int;
    pub fn lazysnap_restore_options_set_pin_handler_threads(
        options: *mut lazysnap_restore_options_t,
        pin: c_int,
        error: *mut *mut c_char,
    ) -> c_int;
    pub fn lazysnap_restore_options_set_handler_nice(
        options: *mut lazysnap_restore_options_t,
        nice: i32,
        error: *mut *mut c_char,
    ) -> c_int;
    pub fn lazysnap_restore_options_set_spin_before_sleep_us(
        options: *mut lazysnap_restore_options_t,
        microseconds: u32,
        error: *mut *mut c_char,
    ) -> c_int;
    pub fn lazysnap_restore_options_set_reads_in_flight(
        options: *mut lazysnap_restore_options_t,
        reads: u32,
        error: *mut *mut c_char,
    ) -> c_int;
    pub fn lazysnap_restore_options_set_readahead_chunks(
        options: *mut lazysnap_restore_options_t,
        chunks: u32,
        error: *mut *mut c_char,
    ) -> c_int;
    pub fn lazysnap_restore_options_set_background_populate(
        options: *mut lazysnap_restore_options_t,
        populate: c_int,
        error: *mut *mut c_char,
    ) -> c_int;
    pub fn lazysnap_restore_options_set_use_io_uring(
        options: *mut lazysnap_restore_options_t,
        use_io_uring: c_int,
        error: *mut *mut c_char,
    ) -> c_int;
    pub fn lazysnap_restore_options_set_require_kernel_faults(
        options: *mut lazysnap_restore_options_t,
        require: c_int,
        error: *mut *mut c_char,
    ) -> c_int;
    pub fn lazysnap_restore_options_set_use_poison(
        options: *mut lazysnap_restore_options_t,
        use_poison: c_int,
        error: *mut *mut c_char,
    ) -> c_int;
    pub fn lazysnap_restore_options_set_close_mode(
        options: *mut lazysnap_restore_options_t,
        mode: c_int,
        error: *mut *mut c_char,
    ) -> c_int;
    pub fn lazysnap_restore_options_set_error_callback(
        options: *mut lazysnap_restore_options_t,
        callback: Option<lazysnap_error_fn>,
        context: *mut c_void,
        error: *mut *mut c_char,
    ) -> c_int;

    pub fn lazysnap_session_start(
        snapshot: *const lazysnap_snapshot_t,
        options: *const lazysnap_restore_options_t,
        session: *mut *mut lazysnap_session_t,
        error: *mut *mut c_char,
    ) -> c_int;
    pub fn lazysnap_session_start_into(
        snapshot: *const lazysnap_snapshot_t,
        region_addresses: *const u64,
        region_count: usize,
        options: *const lazysnap_restore_options_t,
        session: *mut *mut lazysnap_session_t,
        error: *mut *mut c_char,
    ) -> c_int;
    pub fn lazysnap_session_start_with_userfaultfd(
        snapshot: *const lazysnap_snapshot_t,
        region_addresses: *const u64,
        region_count: usize,
        userfaultfd: c_int,
        options: *const lazysnap_restore_options_t,
        session: *mut *mut lazysnap_session_t,
        error: *mut *mut c_char,
    ) -> c_int;
    pub fn lazysnap_session_free(session: *mut lazysnap_session_t);
    pub fn lazysnap_session_region_memory(
        session: *const lazysnap_session_t,
        region: u32,
        data: *mut *mut c_void,
        length_bytes: *mut u64,
        error: *mut *mut c_char,
    ) -> c_int;
    pub fn lazysnap_session_get_stats(
        session: *const lazysnap_session_t,
        stats: *mut Stats,
        stats_size: usize,
        error: *mut *mut c_char,
    ) -> c_int;
    pub fn lazysnap_session_get_features(
        session: *const lazysnap_session_t,
        features: *mut lazysnap_session_features,
        features_size: usize,
        error: *mut *mut c_char,
    ) -> c_int;
    pub fn lazysnap_session_status(session: *const lazysnap_session_t, error: *mut *mut c_char)
        -> c_int;
    pub fn lazysnap_session_close(
        session: *mut lazysnap_session_t,
        mode: c_int,
        error: *mut *mut c_char,
    ) -> c_int;

    pub fn lazysnap_host_features_probe(
        flags: u32,
        features: *mut *mut lazysnap_host_features_t,
        error: *mut *mut c_char,
    ) -> c_int;
    pub fn lazysnap_host_features_free(features: *mut lazysnap_host_features_t);
    pub fn lazysnap_host_features_get(
        features: *const lazysnap_host_features_t,
        info: *mut lazysnap_host_features_info,
        info_size: usize,
        error: *mut *mut c_char,
    ) -> c_int;
    pub fn lazysnap_host_features_open_attempt(
        features: *const lazysnap_host_features_t,
        index: u32,
    ) -> *const c_char;
    pub fn lazysnap_host_features_feature(
        features: *const lazysnap_host_features_t,
        feature: u64,
        info: *mut lazysnap_feature_info,
        info_size: usize,
        error: *mut *mut c_char,
    ) -> c_int;
}
