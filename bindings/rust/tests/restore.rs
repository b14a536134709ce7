//! End-to-end tests of the binding against liblazysnap: a restore in another thread that
//! checks every byte, memory shared by threads, the error paths (Result codes, the error
//! callback), and snapshots read through a Rust reader. Restores need a real userfaultfd:
//! where the host has none they are skipped, saying why.
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use lazysnap::{Code, RestoreOptions, Session, Snapshot, WriteOptions};

const PAGE: usize = 4096;
const CHUNK: u32 = 16384;

/// image: 2 MiB and 20 KiB (not a whole number of chunks) of text, zero and
/// pseudo-random pages; the first page is text.
fn image() -> Vec<u8> {
    let mut bytes = vec![0u8; 2 * 1024 * 1024 + 5 * PAGE];
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for (page, chunk) in bytes.chunks_mut(PAGE).enumerate() {
        match page % 5 {
            0 | 1 => chunk.iter_mut().enumerate().for_each(|(i, b)| *b = b"rust binding "[i % 13] ^ page as u8),
            2 => {}
            _ => chunk.iter_mut().for_each(|b| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                *b = state as u8;
            }),
        }
    }
    bytes
}

struct Fixture {
    image: Arc<Vec<u8>>,
    snapshot_path: PathBuf,
    plain_path: PathBuf,
}

/// fixture writes the image and two snapshots of it (one without a dictionary, whose
/// first stored chunk follows the 64-byte header) into a directory of its own.
fn fixture(name: &str) -> Fixture {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let image = image();
    let image_path = dir.join("image.raw");
    std::fs::write(&image_path, &image).unwrap();
    let snapshot_path = dir.join("image.lzs");
    let options = WriteOptions::new().unwrap().chunk_size_bytes(CHUNK).unwrap().threads(2).unwrap();
    let summary = Snapshot::write(&image_path, &snapshot_path, &options).unwrap();
    assert_eq!(summary.image_bytes, image.len() as u64);
    let plain_path = dir.join("plain.lzs");
    let options = options.dictionary_size_bytes(0).unwrap();
    Snapshot::write(&image_path, &plain_path, &options).unwrap();
    Fixture { image: Arc::new(image), snapshot_path, plain_path }
}

/// restores_here says whether this host lets lazysnap restore, printing why not.
fn restores_here() -> bool {
    let host = lazysnap::host_features(false).unwrap();
    if !host.can_restore {
        eprintln!("SKIPPED: no userfaultfd here: {:?}", host.open);
    }
    host.can_restore
}

#[test]
fn restore_in_a_thread_verifies_every_byte() {
    let f = fixture("thread");
    if !restores_here() {
        return;
    }
    let snapshot = Arc::new(Snapshot::open(&f.snapshot_path).unwrap());
    let (image, shared) = (Arc::clone(&f.image), Arc::clone(&snapshot));
    let stats = std::thread::spawn(move || {
        let options = RestoreOptions::new().unwrap().handler_threads(2).unwrap();
        let session = Session::start(&shared, &options).unwrap();
        let memory = session.region(0).unwrap();
        assert!(memory.len() >= image.len());
        // Scattered first touches (demand faults), then every byte.
        for page in (0..image.len() / PAGE).step_by(11) {
            assert_eq!(memory[page * PAGE], image[page * PAGE], "page {page}");
        }
        let first_difference = memory[..image.len()].iter().zip(image.iter()).position(|(a, b)| a != b);
        assert_eq!(first_difference, None, "restored memory differs from the image");
        session.status().unwrap();
        session.finish().unwrap();
        session.stats()
    })
    .join()
    .unwrap();
    assert!(stats.faults > 0);
    assert_eq!(stats.chunks_failed, 0);
    assert!(stats.bytes_installed + stats.bytes_zero_installed >= f.image.len() as u64 / 2);
}

#[test]
fn a_session_moves_to_and_is_shared_by_threads() {
    let f = fixture("shared");
    if !restores_here() {
        return;
    }
    let snapshot = Snapshot::open_validated(&f.snapshot_path).unwrap();
    let options = RestoreOptions::new().unwrap().handler_threads(2).unwrap().readahead_chunks(0).unwrap();
    let session = Arc::new(Session::start(&snapshot, &options).unwrap());
    drop(snapshot); // the session keeps what it needs
    drop(options);
    let length = f.image.len();
    let workers: Vec<_> = (0..4)
        .map(|worker| {
            let (session, image) = (Arc::clone(&session), Arc::clone(&f.image));
            std::thread::spawn(move || {
                let memory = session.region(0).unwrap();
                // Interleaved pages: threads fault on neighbouring pages of one chunk.
                for page in (worker..length / PAGE + 1).step_by(4) {
                    let range = page * PAGE..((page + 1) * PAGE).min(length);
                    assert!(memory[range.clone()] == image[range], "page {page}");
                }
            })
        })
        .collect();
    workers.into_iter().for_each(|w| w.join().unwrap());
    let features = session.features();
    assert_eq!(features.handler_threads, 2);
    assert_eq!(features.install, "copy");
    assert!(!features.reader.is_empty());
    let mut session = Arc::try_unwrap(session).ok().expect("the workers are done");
    session.region_mut(0).unwrap()[0] ^= 0xff; // restored memory is the process's own
    assert_eq!(session.region(0).unwrap()[0], f.image[0] ^ 0xff);
    session.discard().unwrap();
}

#[test]
fn errors_come_back_as_codes_with_messages() {
    let f = fixture("errors");
    let missing = Snapshot::open(f.snapshot_path.with_file_name("missing.lzs")).err().unwrap();
    assert_eq!(missing.code(), Code::NotFound);
    assert!(missing.message().contains("missing.lzs"), "{missing}");
    let not_a_snapshot = Snapshot::open(f.snapshot_path.with_file_name("image.raw")).err().unwrap();
    assert_eq!(not_a_snapshot.code(), Code::InvalidArgument, "{not_a_snapshot}");
    assert_eq!(RestoreOptions::new().unwrap().handler_threads(-1).err().unwrap().code(), Code::InvalidArgument);
    assert_eq!(RestoreOptions::new().unwrap().reads_in_flight(0).err().unwrap().code(), Code::InvalidArgument);
    assert_eq!(WriteOptions::new().unwrap().chunk_size_bytes(5000).err().unwrap().code(), Code::InvalidArgument);
    assert_eq!(Code::DataLoss.name(), "DATA_LOSS");
    assert!(lazysnap::version_supported());
    assert_eq!(lazysnap::version(), (0, 1));

    let snapshot = Snapshot::open(&f.snapshot_path).unwrap();
    let info = snapshot.info();
    assert_eq!(info.region_count, 1);
    assert_eq!(info.memory_size_bytes, f.image.len() as u64);
    assert_eq!(snapshot.regions()[0].length_bytes, f.image.len() as u64);
    assert_eq!(snapshot.region(1).err().unwrap().code(), Code::OutOfRange);
    let mut buffer = vec![0u8; 3 * CHUNK as usize];
    snapshot.read(0, CHUNK as u64 - 5, &mut buffer).unwrap();
    assert!(buffer[..] == f.image[CHUNK as usize - 5..][..buffer.len()]);
    assert_eq!(snapshot.read(0, f.image.len() as u64, &mut buffer).err().unwrap().code(), Code::OutOfRange);

    // A chunk that fails its checksum: DATA_LOSS when read directly, and through the error
    // callback when a restore meets it (the background populator; nothing touches it).
    let mut corrupt = std::fs::read(&f.plain_path).unwrap();
    corrupt[64 + 100] ^= 0x40;
    let corrupt_path = f.plain_path.with_file_name("corrupt.lzs");
    std::fs::write(&corrupt_path, &corrupt).unwrap();
    let snapshot = Snapshot::open(&corrupt_path).unwrap();
    let error = snapshot.read(0, 0, &mut buffer[..PAGE]).err().unwrap();
    assert_eq!(error.code(), Code::DataLoss, "{error}");
    assert!(error.message().contains("corrupt.lzs"), "{error}");
    if !restores_here() {
        return;
    }
    let (sender, errors) = mpsc::channel();
    let sender = std::sync::Mutex::new(sender);
    let options = RestoreOptions::new()
        .unwrap()
        .background_populate(true)
        .unwrap()
        .on_error(move |error| sender.lock().unwrap().send(error).unwrap())
        .unwrap();
    let session = Session::start(&snapshot, &options).unwrap();
    // A deadline for a failure, not a timing.
    let error = errors.recv_timeout(Duration::from_secs(60)).expect("the error callback ran");
    assert_eq!(error.code(), Code::DataLoss, "{error}");
    assert_eq!(session.status().err().unwrap().code(), Code::DataLoss);
    let memory = session.region(0).unwrap();
    assert!(memory[CHUNK as usize..f.image.len()] == f.image[CHUNK as usize..]);
    assert_eq!(session.finish().err().unwrap().code(), Code::DataLoss);
    assert!(session.stats().chunks_failed >= 1);
    assert!(errors.try_recv().is_err(), "the callback runs once");
}

struct CountingReader {
    bytes: Vec<u8>,
    reads: Arc<AtomicUsize>,
    dropped: Arc<AtomicUsize>,
}

impl lazysnap::ReadAt for CountingReader {
    fn read_at(&self, offset: u64, buffer: &mut [u8]) -> std::io::Result<()> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.bytes.read_at(offset, buffer)
    }
}

impl Drop for CountingReader {
    fn drop(&mut self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn a_snapshot_read_through_a_rust_reader() {
    let f = fixture("reader");
    let bytes = std::fs::read(&f.snapshot_path).unwrap();
    let (reads, dropped) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let size = bytes.len() as u64;
    let reader = CountingReader { bytes, reads: Arc::clone(&reads), dropped: Arc::clone(&dropped) };
    let snapshot = Snapshot::from_reader("memory:image.lzs", size, reader).unwrap();
    assert_eq!(snapshot.info().name, "memory:image.lzs");
    if restores_here() {
        let session = Session::start(&snapshot, &RestoreOptions::new().unwrap()).unwrap();
        drop(snapshot);
        assert_eq!(dropped.load(Ordering::Relaxed), 0, "the session still reads through it");
        assert!(session.region(0).unwrap()[..f.image.len()] == f.image[..]);
        drop(session);
    } else {
        let mut copy = vec![0u8; f.image.len()];
        snapshot.read(0, 0, &mut copy).unwrap();
        assert!(copy == *f.image);
        drop(snapshot);
    }
    assert!(reads.load(Ordering::Relaxed) > 0);
    assert_eq!(dropped.load(Ordering::Relaxed), 1, "released once, when nothing uses it");

    // A reader that fails: the open fails with the code of its errno, and it is released.
    struct Failing(Arc<AtomicUsize>);
    impl lazysnap::ReadAt for Failing {
        fn read_at(&self, _: u64, _: &mut [u8]) -> std::io::Result<()> {
            Err(std::io::Error::from_raw_os_error(5))
        }
    }
    impl Drop for Failing {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
    let released = Arc::new(AtomicUsize::new(0));
    let error = Snapshot::from_reader("memory:failing", size, Failing(Arc::clone(&released))).err().unwrap();
    assert!(error.message().contains("memory:failing"), "{error}");
    assert_eq!(released.load(Ordering::Relaxed), 1);
}

#[test]
fn host_features_are_data() {
    let host = lazysnap::host_features(false).unwrap();
    assert!(!host.kernel_release.is_empty());
    assert_eq!(host.features.len(), 17);
    assert!(host.features.iter().any(|f| f.name == "POISON"));
    for feature in &host.features {
        assert_eq!(feature.supported, host.reported_features & feature.bit != 0);
    }
    assert_eq!(host.open.is_ok(), host.open_attempts.is_empty() || host.open.is_ok());
    let strict = lazysnap::host_features(true).unwrap();
    assert!(!strict.can_restore || strict.serves_kernel_faults);
}
