//! restore: restores a snapshot lazily into this process, touches every page and prints
//! what it took.
//!
//!   cargo run --example restore -- SNAPSHOT [HANDLER_THREADS]
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: restore SNAPSHOT [HANDLER_THREADS]")?;
    let threads: i32 = args.next().map(|t| t.parse()).transpose()?.unwrap_or(0);

    let host = lazysnap::host_features(false)?;
    if !host.can_restore {
        return Err(format!("lazysnap cannot restore here: {:?}", host.open).into());
    }
    let snapshot = lazysnap::Snapshot::open(&path)?;
    let info = snapshot.info();
    let options = lazysnap::RestoreOptions::new()?
        .handler_threads(threads)?
        .on_error(|error| eprintln!("restore: {error}"))?;

    let start = Instant::now();
    let session = lazysnap::Session::start(&snapshot, &options)?;
    let ready = start.elapsed();
    let mut checksum = 0u64;
    for region in 0..info.region_count {
        let memory = session.region(region)?;
        for page in memory.chunks(4096) {
            checksum = checksum.wrapping_mul(31).wrapping_add(page[0] as u64 + page[page.len() - 1] as u64);
        }
    }
    let touched = start.elapsed();
    session.status()?;
    let stats = session.stats();
    let features = session.features();
    println!(
        "{}: {} MiB in {} regions, ready in {:?}, every page touched in {:?} (checksum {checksum:x})",
        info.name,
        info.memory_size_bytes >> 20,
        info.region_count,
        ready,
        touched
    );
    println!(
        "{} faults ({} fetched, {} zero), {} chunks installed, fault p50 {} ns, p99 {} ns; \
         userfaultfd {}, reader {}, {} handler threads",
        stats.faults,
        stats.faults_fetched,
        stats.faults_zero,
        stats.chunks_installed,
        stats.latency_p50_ns,
        stats.latency_p99_ns,
        features.userfaultfd,
        features.reader,
        features.handler_threads
    );
    Ok(())
}
