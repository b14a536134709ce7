//! lazysnap: restore memory snapshots lazily through userfaultfd, from Rust.
//!
//! A safe wrapper over lazysnap's C API (`lazysnap/lazysnap.h`, liblazysnap): every
//! handle is an owner that frees it on drop, every fallible call returns
//! `Result<T, Error>` with the C API's code and message, and callbacks (snapshot readers,
//! the error callback) are Rust closures whose panics never cross into C.
//!
//! ```no_run
//! let snapshot = lazysnap::Snapshot::open("vm.lzs")?;
//! let options = lazysnap::RestoreOptions::new()?.handler_threads(2)?;
//! let session = lazysnap::Session::start(&snapshot, &options)?;
//! let memory: &[u8] = session.region(0)?; // pages arrive as they are touched
//! println!("{} faults", session.stats().faults);
//! # let _ = memory;
//! # Ok::<(), lazysnap::Error>(())
//! ```
//!
//! What the wrapper guarantees (for safe code):
//! - Handles are freed exactly once (Drop), never used after, and a session keeps alive
//!   what it needs (its snapshot, its error callback) however the handles are dropped.
//! - `Snapshot` and `Session` are `Send + Sync`: the C API is thread-safe for them, and
//!   their only calls that must not race (the frees) happen in Drop, which has the handle
//!   alone.
//! - Restored memory is borrowed from its session: `region(&self)` gives `&[u8]`,
//!   `region_mut(&mut self)` gives `&mut [u8]`, and the memory cannot be used after the
//!   session is dropped (which unmaps it). `discard()`, after which untouched memory reads
//!   as zeros, takes `&mut self`, so no borrow sees the memory change under it; `finish()`
//!   (which only installs the snapshot's own bytes) can run while borrows exist.
//! - No panic unwinds into C: callbacks catch it (a reader that panics reports EIO).
//!
//! What it cannot make safe, and says so: `Session::start_into` (the caller vouches for
//! memory it owns) is `unsafe`; a chunk that fails its checksum is never installed, so a
//! thread touching it gets SIGBUS where the kernel has UFFDIO_POISON (or waits until
//! `finish()`, which then makes it inaccessible), as with a truncated `mmap`ped file.
#![deny(unsafe_op_in_unsafe_fn)]

use std::ffi::{CStr, CString};
use std::fmt;
use std::os::fd::{IntoRawFd, OwnedFd};
use std::os::raw::{c_char, c_int, c_void};
use std::os::unix::ffi::OsStrExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::ptr::{self, NonNull};
use std::sync::Arc;

mod sys;

pub use sys::{Region, Stats, WriteSummary};

// ---- Errors -----------------------------------------------------------------------------

/// Code: why a call failed; the values of absl::StatusCode, as the C API returns them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Code {
    Cancelled,
    Unknown,
    InvalidArgument,
    DeadlineExceeded,
    NotFound,
    AlreadyExists,
    PermissionDenied,
    ResourceExhausted,
    FailedPrecondition,
    Aborted,
    OutOfRange,
    Unimplemented,
    Internal,
    Unavailable,
    DataLoss,
    Unauthenticated,
    /// A value this binding does not know (a newer library).
    Other(i32),
}

impl Code {
    fn from_raw(code: c_int) -> Code {
        match code {
            1 => Code::Cancelled,
            2 => Code::Unknown,
            3 => Code::InvalidArgument,
            4 => Code::DeadlineExceeded,
            5 => Code::NotFound,
            6 => Code::AlreadyExists,
            7 => Code::PermissionDenied,
            8 => Code::ResourceExhausted,
            9 => Code::FailedPrecondition,
            10 => Code::Aborted,
            11 => Code::OutOfRange,
            12 => Code::Unimplemented,
            13 => Code::Internal,
            14 => Code::Unavailable,
            15 => Code::DataLoss,
            16 => Code::Unauthenticated,
            other => Code::Other(other),
        }
    }

    fn raw(self) -> c_int {
        match self {
            Code::Cancelled => 1,
            Code::Unknown => 2,
            Code::InvalidArgument => 3,
            Code::DeadlineExceeded => 4,
            Code::NotFound => 5,
            Code::AlreadyExists => 6,
            Code::PermissionDenied => 7,
            Code::ResourceExhausted => 8,
            Code::FailedPrecondition => 9,
            Code::Aborted => 10,
            Code::OutOfRange => 11,
            Code::Unimplemented => 12,
            Code::Internal => 13,
            Code::Unavailable => 14,
            Code::DataLoss => 15,
            Code::Unauthenticated => 16,
            Code::Other(other) => other,
        }
    }

    /// name is the C API's name of the code ("DATA_LOSS").
    pub fn name(self) -> &'static str {
        // SAFETY: lazysnap_code_name returns a static NUL-terminated string.
        let name = unsafe { CStr::from_ptr(sys::lazysnap_code_name(self.raw())) };
        name.to_str().unwrap_or("UNKNOWN_CODE")
    }
}

/// Error: a failed call's code and message (which names file, chunk, address and reason).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    code: Code,
    message: String,
}

impl Error {
    fn new(code: Code, message: impl Into<String>) -> Error {
        Error { code, message: message.into() }
    }
    pub fn code(&self) -> Code {
        self.code
    }
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.name(), self.message)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// call runs a C call that takes `char** error` last and turns its outcome into a Result,
/// freeing the message.
fn call(f: impl FnOnce(*mut *mut c_char) -> c_int) -> Result<()> {
    let mut message: *mut c_char = ptr::null_mut();
    let code = f(&mut message);
    let text = if message.is_null() {
        String::new()
    } else {
        // SAFETY: the C API stores a NUL-terminated malloc'd string (or NULL), ours to free.
        let text = unsafe { CStr::from_ptr(message) }.to_string_lossy().into_owned();
        unsafe { sys::lazysnap_free(message.cast()) };
        text
    };
    if code == 0 {
        Ok(())
    } else {
        Err(Error::new(Code::from_raw(code), text))
    }
}

fn c_path(path: &Path) -> Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| Error::new(Code::InvalidArgument, format!("{}: a path with a NUL byte", path.display())))
}

/// string copies a C string owned by a handle (NULL reads as empty).
fn string(text: *const c_char) -> String {
    if text.is_null() {
        return String::new();
    }
    // SAFETY: the C API's strings are NUL-terminated and live as long as their handle,
    // which the caller holds.
    unsafe { CStr::from_ptr(text) }.to_string_lossy().into_owned()
}

// ---- Versions ---------------------------------------------------------------------------

/// version is the API version (major, minor) of the liblazysnap that is running.
pub fn version() -> (i32, i32) {
    // SAFETY: no arguments.
    unsafe { (sys::lazysnap_version_major(), sys::lazysnap_version_minor()) }
}

/// version_supported: the running library provides the API this binding was written for.
pub fn version_supported() -> bool {
    // SAFETY: no pointers.
    unsafe { sys::lazysnap_version_check(sys::LAZYSNAP_VERSION_MAJOR, sys::LAZYSNAP_VERSION_MINOR) == 1 }
}

// ---- Snapshots --------------------------------------------------------------------------

/// ReadAt: where a snapshot's bytes come from when they are not a local file
/// (Snapshot::from_reader). Called from lazysnap's threads, concurrently.
pub trait ReadAt: Send + Sync + 'static {
    /// read_at fills all of `buffer` from `offset`; an error's raw OS error (or EIO) goes
    /// back to lazysnap.
    fn read_at(&self, offset: u64, buffer: &mut [u8]) -> std::io::Result<()>;
}

impl ReadAt for std::fs::File {
    fn read_at(&self, offset: u64, buffer: &mut [u8]) -> std::io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(self, buffer, offset)
    }
}

impl ReadAt for Vec<u8> {
    fn read_at(&self, offset: u64, buffer: &mut [u8]) -> std::io::Result<()> {
        let start = usize::try_from(offset).map_err(|_| std::io::ErrorKind::InvalidInput)?;
        let bytes = start
            .checked_add(buffer.len())
            .and_then(|end| self.get(start..end))
            .ok_or(std::io::ErrorKind::UnexpectedEof)?;
        buffer.copy_from_slice(bytes);
        Ok(())
    }
}

const EIO: c_int = 5;

extern "C" fn read_trampoline<R: ReadAt>(
    context: *mut c_void,
    offset: u64,
    buffer: *mut c_void,
    length: usize,
) -> c_int {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: `context` is the Box<R> from_reader leaked, alive until release; the C
        // API passes a buffer of `length` bytes that it owns for this call.
        let reader = unsafe { &*(context as *const R) };
        let buffer = unsafe { std::slice::from_raw_parts_mut(buffer as *mut u8, length) };
        reader.read_at(offset, buffer)
    }));
    match outcome {
        Ok(Ok(())) => 0,
        Ok(Err(error)) => error.raw_os_error().filter(|&e| e > 0).unwrap_or(EIO),
        Err(_) => EIO,
    }
}

extern "C" fn release_trampoline<R: ReadAt>(context: *mut c_void) {
    // SAFETY: called once, when nothing uses the reader any more.
    let _ = catch_unwind(AssertUnwindSafe(|| drop(unsafe { Box::from_raw(context as *mut R) })));
}

/// SnapshotInfo: a snapshot's shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotInfo {
    pub name: String,
    pub chunk_count: u64,
    pub image_size_bytes: u64,
    /// Sum of region lengths: what a restore maps.
    pub memory_size_bytes: u64,
    pub file_size_bytes: u64,
    pub chunk_size_bytes: u32,
    pub page_size_bytes: u32,
    pub region_count: u32,
    pub format_version: (u16, u16),
}

/// Snapshot: an open snapshot. Thread-safe; sessions keep what they need, so it may be
/// dropped while they run.
pub struct Snapshot {
    raw: NonNull<sys::lazysnap_snapshot_t>,
}

// SAFETY: every call on a lazysnap_snapshot_t but its free is thread-safe (lazysnap.h).
unsafe impl Send for Snapshot {}
unsafe impl Sync for Snapshot {}

impl Snapshot {
    /// open opens the snapshot file at `path`; its index is validated segment by segment
    /// as a restore first uses it.
    pub fn open(path: impl AsRef<Path>) -> Result<Snapshot> {
        Snapshot::open_with(path, false)
    }

    /// open_validated also validates the whole index now, so index errors surface here.
    pub fn open_validated(path: impl AsRef<Path>) -> Result<Snapshot> {
        Snapshot::open_with(path, true)
    }

    fn open_with(path: impl AsRef<Path>, validate_index: bool) -> Result<Snapshot> {
        let path = c_path(path.as_ref())?;
        let flags = if validate_index { sys::LAZYSNAP_OPEN_VALIDATE_INDEX } else { 0 };
        let mut raw = ptr::null_mut();
        // SAFETY: valid C string and out-pointers.
        call(|error| unsafe { sys::lazysnap_snapshot_open(path.as_ptr(), flags, &mut raw, error) })?;
        Ok(Snapshot { raw: NonNull::new(raw).expect("OK with a snapshot") })
    }

    /// from_reader opens a snapshot of `size_bytes` bytes that `reader` supplies (an object
    /// store, a buffer, a test's fault injector): every byte lazysnap reads comes through
    /// it. `name` names it in messages.
    pub fn from_reader<R: ReadAt>(name: &str, size_bytes: u64, reader: R) -> Result<Snapshot> {
        let name = CString::new(name)
            .map_err(|_| Error::new(Code::InvalidArgument, "a reader name with a NUL byte"))?;
        let context = Box::into_raw(Box::new(reader)) as *mut c_void;
        let mut raw = ptr::null_mut();
        // SAFETY: the C API owns `context` from here on and releases it (also on failure)
        // through release_trampoline::<R>, which matches how it was made.
        call(|error| unsafe {
            sys::lazysnap_snapshot_open_reader(
                name.as_ptr(),
                size_bytes,
                Some(read_trampoline::<R>),
                Some(release_trampoline::<R>),
                context,
                0,
                &mut raw,
                error,
            )
        })?;
        Ok(Snapshot { raw: NonNull::new(raw).expect("OK with a snapshot") })
    }

    /// write compresses the raw memory image at `image` into a snapshot at `snapshot`
    /// (published atomically).
    pub fn write(
        image: impl AsRef<Path>,
        snapshot: impl AsRef<Path>,
        options: &WriteOptions,
    ) -> Result<WriteSummary> {
        let image = c_path(image.as_ref())?;
        let snapshot = c_path(snapshot.as_ref())?;
        let mut summary = WriteSummary::default();
        // SAFETY: valid C strings, options handle and summary struct of the given size.
        call(|error| unsafe {
            sys::lazysnap_snapshot_write(
                image.as_ptr(),
                snapshot.as_ptr(),
                options.raw.as_ptr(),
                &mut summary,
                std::mem::size_of::<WriteSummary>(),
                error,
            )
        })?;
        Ok(summary)
    }

    pub fn info(&self) -> SnapshotInfo {
        let mut info = std::mem::MaybeUninit::<sys::lazysnap_snapshot_info>::zeroed();
        // SAFETY: a live handle and a struct of the given size; cannot fail then.
        call(|error| unsafe {
            sys::lazysnap_snapshot_get_info(
                self.raw.as_ptr(),
                info.as_mut_ptr(),
                std::mem::size_of::<sys::lazysnap_snapshot_info>(),
                error,
            )
        })
        .expect("info of a live snapshot");
        // SAFETY: filled by the call above.
        let info = unsafe { info.assume_init() };
        SnapshotInfo {
            name: string(info.name),
            chunk_count: info.chunk_count,
            image_size_bytes: info.image_size_bytes,
            memory_size_bytes: info.memory_size_bytes,
            file_size_bytes: info.file_size_bytes,
            chunk_size_bytes: info.chunk_size_bytes,
            page_size_bytes: info.page_size_bytes,
            region_count: info.region_count,
            format_version: (info.format_major_version, info.format_minor_version),
        }
    }

    pub fn region(&self, index: u32) -> Result<Region> {
        let mut region = Region::default();
        // SAFETY: a live handle and a struct of the given size.
        call(|error| unsafe {
            sys::lazysnap_snapshot_get_region(
                self.raw.as_ptr(),
                index,
                &mut region,
                std::mem::size_of::<Region>(),
                error,
            )
        })?;
        Ok(region)
    }

    pub fn regions(&self) -> Vec<Region> {
        (0..self.info().region_count).filter_map(|i| self.region(i).ok()).collect()
    }

    /// read copies bytes of region `region`'s memory from `offset_bytes` into `buffer`,
    /// reading, checking and decompressing the chunks they lie in (no userfaultfd).
    pub fn read(&self, region: u32, offset_bytes: u64, buffer: &mut [u8]) -> Result<()> {
        // SAFETY: a live handle and a writable buffer of buffer.len() bytes.
        call(|error| unsafe {
            sys::lazysnap_snapshot_read(
                self.raw.as_ptr(),
                region,
                offset_bytes,
                buffer.as_mut_ptr().cast(),
                buffer.len(),
                error,
            )
        })
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        // SAFETY: our handle, freed once.
        unsafe { sys::lazysnap_snapshot_free(self.raw.as_ptr()) }
    }
}

/// WriteOptions: how Snapshot::write compresses (defaults of `lazysnap create`).
pub struct WriteOptions {
    raw: NonNull<sys::lazysnap_write_options_t>,
}

// SAFETY: the handle is plain data owned by this value; &self methods only read it.
unsafe impl Send for WriteOptions {}
unsafe impl Sync for WriteOptions {}

impl WriteOptions {
    pub fn new() -> Result<WriteOptions> {
        // SAFETY: no arguments; NULL only when out of memory.
        let raw = unsafe { sys::lazysnap_write_options_create() };
        NonNull::new(raw)
            .map(|raw| WriteOptions { raw })
            .ok_or_else(|| Error::new(Code::ResourceExhausted, "no memory for write options"))
    }

    /// chunk_size_bytes: a power of two from 4 KiB to 4 MiB.
    pub fn chunk_size_bytes(self, bytes: u32) -> Result<Self> {
        // SAFETY: our live handle.
        call(|e| unsafe { sys::lazysnap_write_options_set_chunk_size_bytes(self.raw.as_ptr(), bytes, e) })?;
        Ok(self)
    }
    pub fn compression_level(self, level: i32) -> Result<Self> {
        // SAFETY: our live handle.
        call(|e| unsafe { sys::lazysnap_write_options_set_compression_level(self.raw.as_ptr(), level, e) })?;
        Ok(self)
    }
    /// threads: 0 means one per CPU.
    pub fn threads(self, threads: i32) -> Result<Self> {
        // SAFETY: our live handle.
        call(|e| unsafe { sys::lazysnap_write_options_set_threads(self.raw.as_ptr(), threads, e) })?;
        Ok(self)
    }
    /// dictionary_size_bytes: the largest dictionary to train (0: none).
    pub fn dictionary_size_bytes(self, bytes: u64) -> Result<Self> {
        // SAFETY: our live handle.
        call(|e| unsafe { sys::lazysnap_write_options_set_dictionary_size_bytes(self.raw.as_ptr(), bytes, e) })?;
        Ok(self)
    }
}

impl Drop for WriteOptions {
    fn drop(&mut self) {
        // SAFETY: our handle, freed once.
        unsafe { sys::lazysnap_write_options_free(self.raw.as_ptr()) }
    }
}

// ---- Restore options --------------------------------------------------------------------

/// ServingMode: who serves a fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServingMode {
    /// Handler threads; serves every fault, kernel-mode ones (KVM, read(2)) included.
    HandlerThreads,
    /// The faulting thread serves itself from a SIGBUS handler (process-wide): in-process
    /// memory and user-mode faults only.
    Sigbus,
}

/// CloseMode: what closing does with memory not restored yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseMode {
    /// Install every chunk not yet installed: the memory stays correct.
    FinishRestore,
    /// Stop at once: untouched memory reads as zeros.
    Discard,
}

impl CloseMode {
    fn raw(self) -> c_int {
        match self {
            CloseMode::FinishRestore => 0,
            CloseMode::Discard => 1,
        }
    }
}

type ErrorCallback = Box<dyn Fn(Error) + Send + Sync + 'static>;

extern "C" fn error_trampoline(context: *mut c_void, code: c_int, message: *const c_char) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: `context` points at the ErrorCallback a live session holds (an Arc clone
        // in Session), and `message` is valid during this call.
        let callback = unsafe { &*(context as *const ErrorCallback) };
        callback(Error::new(Code::from_raw(code), string(message)));
    }));
}

/// RestoreOptions: how a session serves. Built by chaining setters, each of which checks
/// its value (InvalidArgument). Starting a session copies them.
pub struct RestoreOptions {
    raw: NonNull<sys::lazysnap_restore_options_t>,
    on_error: Option<Arc<ErrorCallback>>,
}

// SAFETY: the handle is plain data owned by this value (setters take self by value);
// the callback is Send + Sync.
unsafe impl Send for RestoreOptions {}
unsafe impl Sync for RestoreOptions {}

macro_rules! restore_setter {
    ($(#[$doc:meta])* $name:ident, $c:ident, $type:ty, $convert:expr) => {
        $(#[$doc])*
        pub fn $name(self, value: $type) -> Result<Self> {
            let convert = $convert;
            // SAFETY: our live handle.
            call(|e| unsafe { sys::$c(self.raw.as_ptr(), convert(value), e) })?;
            Ok(self)
        }
    };
}

impl RestoreOptions {
    /// new: the defaults (handler threads, one per CPU; readahead; io_uring; poison;
    /// finish-restore on drop).
    pub fn new() -> Result<RestoreOptions> {
        // SAFETY: no arguments; NULL only when out of memory.
        let raw = unsafe { sys::lazysnap_restore_options_create() };
        NonNull::new(raw)
            .map(|raw| RestoreOptions { raw, on_error: None })
            .ok_or_else(|| Error::new(Code::ResourceExhausted, "no memory for restore options"))
    }

    restore_setter!(serving_mode, lazysnap_restore_options_set_serving_mode, ServingMode,
        |m: ServingMode| match m { ServingMode::HandlerThreads => 0, ServingMode::Sigbus => 1 });
    restore_setter!(
        /// handler_threads: 0 to 1024; 0 means one per CPU.
        handler_threads, lazysnap_restore_options_set_handler_threads, i32, |v: i32| v);
    restore_setter!(pin_handler_threads, lazysnap_restore_options_set_pin_handler_threads, bool,
        |v: bool| v as c_int);
    restore_setter!(
        /// handler_nice: -20 to 19 (negative values need CAP_SYS_NICE).
        handler_nice, lazysnap_restore_options_set_handler_nice, i32, |v: i32| v);
    restore_setter!(spin_before_sleep_us, lazysnap_restore_options_set_spin_before_sleep_us, u32,
        |v: u32| v);
    restore_setter!(
        /// reads_in_flight per handler thread: 1 to 4096.
        reads_in_flight, lazysnap_restore_options_set_reads_in_flight, u32, |v: u32| v);
    restore_setter!(
        /// readahead_chunks after a sequential run (0: off).
        readahead_chunks, lazysnap_restore_options_set_readahead_chunks, u32, |v: u32| v);
    restore_setter!(
        /// background_populate: an idle-priority thread installs everything not yet touched.
        background_populate, lazysnap_restore_options_set_background_populate, bool,
        |v: bool| v as c_int);
    restore_setter!(use_io_uring, lazysnap_restore_options_set_use_io_uring, bool,
        |v: bool| v as c_int);
    restore_setter!(
        /// require_kernel_faults: refuse a user-mode-only userfaultfd (VM runtimes must).
        require_kernel_faults, lazysnap_restore_options_set_require_kernel_faults, bool,
        |v: bool| v as c_int);
    restore_setter!(use_poison, lazysnap_restore_options_set_use_poison, bool,
        |v: bool| v as c_int);
    restore_setter!(
        /// close_mode: what dropping a session does.
        close_mode, lazysnap_restore_options_set_close_mode, CloseMode, |m: CloseMode| m.raw());

    /// on_error: called once per session, from an engine thread, with the session's first
    /// fatal error (a chunk that cannot be read or fails its checksum). A panic in it is
    /// caught and ignored.
    pub fn on_error(mut self, callback: impl Fn(Error) + Send + Sync + 'static) -> Result<Self> {
        let callback: Arc<ErrorCallback> = Arc::new(Box::new(callback));
        let context = Arc::as_ptr(&callback) as *mut c_void;
        // SAFETY: our live handle; `context` stays valid while any session started from
        // these options holds its Arc clone.
        call(|e| unsafe {
            sys::lazysnap_restore_options_set_error_callback(self.raw.as_ptr(), Some(error_trampoline), context, e)
        })?;
        self.on_error = Some(callback);
        Ok(self)
    }
}

impl Drop for RestoreOptions {
    fn drop(&mut self) {
        // SAFETY: our handle, freed once.
        unsafe { sys::lazysnap_restore_options_free(self.raw.as_ptr()) }
    }
}

// ---- Sessions ---------------------------------------------------------------------------

/// Poison: whether refused chunks are poisoned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Poison {
    Unknown,
    No,
    Yes,
}

/// SessionFeatures: how a session serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionFeatures {
    pub userfaultfd: String,
    pub enabled_features: u64,
    pub serves_kernel_faults: bool,
    pub handler_threads: i32,
    pub reader: String,
    pub install: String,
    pub poison: Poison,
}

/// Session: a lazy restore. Dropping it closes it with its options' close mode and
/// unmaps memory it mapped.
pub struct Session {
    raw: NonNull<sys::lazysnap_session_t>,
    // Dropped after `raw` is freed (Drop::drop runs before fields drop), so the error
    // callback outlives every engine thread that may call it.
    _on_error: Option<Arc<ErrorCallback>>,
}

// SAFETY: every call on a lazysnap_session_t but its free is thread-safe (lazysnap.h);
// the free happens in Drop, with the session alone.
unsafe impl Send for Session {}
unsafe impl Sync for Session {}

impl Session {
    fn started(
        options: &RestoreOptions,
        start: impl FnOnce(*mut *mut sys::lazysnap_session_t, *mut *mut c_char) -> c_int,
    ) -> Result<Session> {
        let mut raw = ptr::null_mut();
        call(|error| start(&mut raw, error))?;
        Ok(Session {
            raw: NonNull::new(raw).expect("OK with a session"),
            _on_error: options.on_error.clone(),
        })
    }

    /// start maps memory for every region of `snapshot` and restores into it lazily.
    /// FailedPrecondition or PermissionDenied when userfaultfd cannot be used here as
    /// asked (the message says how to fix it).
    pub fn start(snapshot: &Snapshot, options: &RestoreOptions) -> Result<Session> {
        Session::started(options, |raw, error| {
            // SAFETY: live handles and out-pointers.
            unsafe { sys::lazysnap_session_start(snapshot.raw.as_ptr(), options.raw.as_ptr(), raw, error) }
        })
    }

    /// start_into restores into memory the caller owns: region i at
    /// `region_addresses[i]`.
    ///
    /// # Safety
    /// Each address must start a page-aligned private anonymous mapping of this process,
    /// at least as long as its region (rounded up to pages), not touched yet, that stays
    /// mapped and is not accessed through other references while the session is alive
    /// (lazysnap writes into it).
    pub unsafe fn start_into(
        snapshot: &Snapshot,
        region_addresses: &[u64],
        options: &RestoreOptions,
    ) -> Result<Session> {
        Session::started(options, |raw, error| {
            // SAFETY: live handles, a slice of addresses, out-pointers; the memory is the
            // caller's promise.
            unsafe {
                sys::lazysnap_session_start_into(
                    snapshot.raw.as_ptr(),
                    region_addresses.as_ptr(),
                    region_addresses.len(),
                    options.raw.as_ptr(),
                    raw,
                    error,
                )
            }
        })
    }

    /// start_with_userfaultfd serves another process's memory through its handed-over
    /// userfaultfd (the external page-fault handler): that process registered region i at
    /// `region_addresses[i]` in its address space. The descriptor is consumed either way.
    pub fn start_with_userfaultfd(
        snapshot: &Snapshot,
        region_addresses: &[u64],
        userfaultfd: OwnedFd,
        options: &RestoreOptions,
    ) -> Result<Session> {
        let fd = userfaultfd.into_raw_fd();
        Session::started(options, |raw, error| {
            // SAFETY: live handles; the C API takes ownership of `fd` in every case.
            unsafe {
                sys::lazysnap_session_start_with_userfaultfd(
                    snapshot.raw.as_ptr(),
                    region_addresses.as_ptr(),
                    region_addresses.len(),
                    fd,
                    options.raw.as_ptr(),
                    raw,
                    error,
                )
            }
        })
    }

    fn region_raw(&self, region: u32) -> Result<(*mut u8, usize)> {
        let mut data: *mut c_void = ptr::null_mut();
        let mut length: u64 = 0;
        // SAFETY: a live handle and out-pointers.
        call(|error| unsafe {
            sys::lazysnap_session_region_memory(self.raw.as_ptr(), region, &mut data, &mut length, error)
        })?;
        let length = usize::try_from(length).expect("a mapping fits the address space");
        Ok((data as *mut u8, length))
    }

    /// region is region `region`'s memory: reading a page the first time fills it from the
    /// snapshot. OutOfRange past the last region; FailedPrecondition for another process's
    /// memory.
    pub fn region(&self, region: u32) -> Result<&[u8]> {
        let (data, length) = self.region_raw(region)?;
        // SAFETY: the mapping stays valid until the session is dropped (the borrow of
        // self), and its content changes only by installs of the snapshot's own bytes into
        // pages nobody has seen yet, or by writers holding &mut self.
        Ok(unsafe { std::slice::from_raw_parts(data, length) })
    }

    /// region_mut is region `region`'s memory, writable.
    pub fn region_mut(&mut self, region: u32) -> Result<&mut [u8]> {
        let (data, length) = self.region_raw(region)?;
        // SAFETY: as region(), and &mut self makes this the only reference.
        Ok(unsafe { std::slice::from_raw_parts_mut(data, length) })
    }

    pub fn stats(&self) -> Stats {
        let mut stats = Stats::default();
        // SAFETY: a live handle and a struct of the given size; cannot fail then.
        call(|error| unsafe {
            sys::lazysnap_session_get_stats(self.raw.as_ptr(), &mut stats, std::mem::size_of::<Stats>(), error)
        })
        .expect("stats of a live session");
        stats
    }

    pub fn features(&self) -> SessionFeatures {
        let mut f = std::mem::MaybeUninit::<sys::lazysnap_session_features>::zeroed();
        // SAFETY: a live handle and a struct of the given size; cannot fail then.
        call(|error| unsafe {
            sys::lazysnap_session_get_features(
                self.raw.as_ptr(),
                f.as_mut_ptr(),
                std::mem::size_of::<sys::lazysnap_session_features>(),
                error,
            )
        })
        .expect("features of a live session");
        // SAFETY: filled by the call above.
        let f = unsafe { f.assume_init() };
        SessionFeatures {
            userfaultfd: string(f.userfaultfd),
            enabled_features: f.enabled_features,
            serves_kernel_faults: f.serves_kernel_faults != 0,
            handler_threads: f.handler_threads,
            reader: string(f.reader),
            install: string(f.install),
            poison: match f.poison {
                1 => Poison::No,
                2 => Poison::Yes,
                _ => Poison::Unknown,
            },
        }
    }

    /// status is Ok, or the session's first fatal error.
    pub fn status(&self) -> Result<()> {
        // SAFETY: a live handle.
        call(|error| unsafe { sys::lazysnap_session_status(self.raw.as_ptr(), error) })
    }

    /// finish installs every chunk not yet installed and stops serving (the memory stays
    /// mapped, and correct, until the session is dropped); returns status(). Safe while
    /// the memory is borrowed: it only installs the bytes a touch would.
    pub fn finish(&self) -> Result<()> {
        // SAFETY: a live handle; close is thread-safe and idempotent.
        call(|error| unsafe { sys::lazysnap_session_close(self.raw.as_ptr(), CloseMode::FinishRestore.raw(), error) })
    }

    /// discard stops serving at once: untouched memory then reads as zeros. Needs the
    /// session alone (no borrow of its memory can see the change).
    pub fn discard(&mut self) -> Result<()> {
        // SAFETY: a live handle.
        call(|error| unsafe { sys::lazysnap_session_close(self.raw.as_ptr(), CloseMode::Discard.raw(), error) })
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // SAFETY: our handle, freed once; no borrow of its memory outlives self.
        unsafe { sys::lazysnap_session_free(self.raw.as_ptr()) }
    }
}

// ---- Host features ----------------------------------------------------------------------

/// FeatureState: what a restore asking for every feature does about one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeatureState {
    Enabled,
    Fallback,
    NotRequested,
}

/// Feature: one userfaultfd feature, what lazysnap uses it for, and this host's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Feature {
    pub bit: u64,
    pub name: String,
    pub since: String,
    pub purpose: String,
    pub fallback: String,
    pub supported: bool,
    pub state: FeatureState,
}

/// HostFeatures: `lazysnap features` as data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostFeatures {
    pub kernel_release: String,
    pub can_restore: bool,
    pub serves_kernel_faults: bool,
    /// The userfaultfd open path that worked, or why none did.
    pub open: std::result::Result<String, Error>,
    pub handshake: Result<()>,
    /// Open paths that failed, each with why.
    pub open_attempts: Vec<String>,
    pub reported_features: u64,
    pub enabled_features: u64,
    pub io_uring_available: bool,
    pub io_uring_detail: String,
    pub features: Vec<Feature>,
}

fn status_of(code: i32, message: *const c_char) -> Result<()> {
    if code == 0 {
        Ok(())
    } else {
        Err(Error::new(Code::from_raw(code), string(message)))
    }
}

/// host_features probes what this host's kernel offers (the handshake a restore would
/// run, on a throwaway userfaultfd); with `require_kernel_faults`, as a VM runtime's
/// restore would.
pub fn host_features(require_kernel_faults: bool) -> Result<HostFeatures> {
    let flags = if require_kernel_faults { sys::LAZYSNAP_PROBE_REQUIRE_KERNEL_FAULTS } else { 0 };
    let mut raw = ptr::null_mut();
    // SAFETY: an out-pointer.
    call(|error| unsafe { sys::lazysnap_host_features_probe(flags, &mut raw, error) })?;
    struct Report(*mut sys::lazysnap_host_features_t);
    impl Drop for Report {
        fn drop(&mut self) {
            // SAFETY: our handle, freed once.
            unsafe { sys::lazysnap_host_features_free(self.0) }
        }
    }
    let report = Report(raw);
    let mut info = std::mem::MaybeUninit::<sys::lazysnap_host_features_info>::zeroed();
    // SAFETY: a live report and a struct of the given size.
    call(|error| unsafe {
        sys::lazysnap_host_features_get(
            report.0,
            info.as_mut_ptr(),
            std::mem::size_of::<sys::lazysnap_host_features_info>(),
            error,
        )
    })?;
    // SAFETY: filled by the call above; its strings live as long as `report`.
    let info = unsafe { info.assume_init() };
    let open_attempts = (0..info.open_attempt_count)
        // SAFETY: a live report; NULL past the end.
        .map(|i| string(unsafe { sys::lazysnap_host_features_open_attempt(report.0, i) }))
        .collect();
    let mut features = Vec::new();
    for bit in (0..64).map(|b| 1u64 << b).filter(|bit| info.known_features & bit != 0) {
        let mut f = std::mem::MaybeUninit::<sys::lazysnap_feature_info>::zeroed();
        // SAFETY: a live report and a struct of the given size.
        call(|error| unsafe {
            sys::lazysnap_host_features_feature(
                report.0,
                bit,
                f.as_mut_ptr(),
                std::mem::size_of::<sys::lazysnap_feature_info>(),
                error,
            )
        })?;
        // SAFETY: filled by the call above.
        let f = unsafe { f.assume_init() };
        features.push(Feature {
            bit,
            name: string(f.name),
            since: string(f.since),
            purpose: string(f.purpose),
            fallback: string(f.fallback),
            supported: f.supported != 0,
            state: match f.state {
                0 => FeatureState::Enabled,
                1 => FeatureState::Fallback,
                _ => FeatureState::NotRequested,
            },
        });
    }
    Ok(HostFeatures {
        kernel_release: string(info.kernel_release),
        can_restore: info.can_restore != 0,
        serves_kernel_faults: info.serves_kernel_faults != 0,
        open: status_of(info.open_code, info.open_message).map(|()| string(info.open_path)),
        handshake: status_of(info.handshake_code, info.handshake_message),
        open_attempts,
        reported_features: info.reported_features,
        enabled_features: info.enabled_features,
        io_uring_available: info.io_uring_available != 0,
        io_uring_detail: string(info.io_uring_detail),
        features,
    })
}
