// rust_store: a small Rust service state held in memory (std only): a session store
// (HashMap<String, Session>), a per-user BTreeMap of counters, metric rings of f64 and an
// access log of Strings, for the compression corpus. Builds --mb MiB, deterministic for
// a seed, prints "<pid> ready" and waits until stdin reaches end of file.
//
// Build: rustc -O -o rust_store rust_store.rs     Usage: rust_store [--mb 300] [--seed 1]
use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};

struct Session {
    user: String,
    agent: &'static str,
    roles: Vec<&'static str>,
    created_unix: u64,
    last_path: String,
    counters: [u32; 8],
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545F4914F6CDD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn resident_bytes() -> u64 {
    let mut text = String::new();
    std::fs::File::open("/proc/self/statm").unwrap().read_to_string(&mut text).unwrap();
    text.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 4096
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mut mb = 300u64;
    let mut seed = 1u64;
    let mut i = 1;
    while i + 1 < args.len() {
        match args[i].as_str() {
            "--mb" => mb = args[i + 1].parse().unwrap(),
            "--seed" => seed = args[i + 1].parse().unwrap(),
            _ => {}
        }
        i += 2;
    }
    let agents = ["Mozilla/5.0 (X11; Linux x86_64) Firefox/131.0",
                  "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) Safari/605.1.15",
                  "curl/8.5.0", "okhttp/4.12.0", "python-requests/2.31"];
    let roles = ["reader", "writer", "admin", "billing", "support"];
    let paths = ["/v1/items", "/v1/items/search", "/v1/cart", "/v1/checkout", "/v1/profile"];
    let mut rng = Rng(seed.wrapping_mul(0x9E3779B97F4A7C15) | 1);
    let mut sessions: HashMap<String, Session> = HashMap::new();
    let mut per_user: BTreeMap<String, BTreeMap<&'static str, u64>> = BTreeMap::new();
    let mut metrics: Vec<Vec<f64>> = Vec::new();
    let mut log: Vec<String> = Vec::new();
    let baseline = resident_bytes();
    let mut n = 0u64;
    while resident_bytes() - baseline < mb << 20 {
        for _ in 0..5000 {
            let user = format!("user{:06}", rng.below(200_000));
            let token = format!("{:016x}{:016x}", rng.next(), n);
            let mut session_roles = vec![roles[rng.below(2) as usize]];
            if rng.below(10) == 0 { session_roles.push(roles[2 + rng.below(3) as usize]); }
            let path = paths[rng.below(paths.len() as u64) as usize];
            sessions.insert(token, Session {
                user: user.clone(),
                agent: agents[rng.below(agents.len() as u64) as usize],
                roles: session_roles,
                created_unix: 1_764_000_000 + n,
                last_path: format!("{}?page={}", path, rng.below(20)),
                counters: [rng.below(100) as u32, 0, 0, rng.below(3) as u32, 0, 0, 0, 1],
            });
            *per_user.entry(user.clone()).or_default().entry(path).or_default() += 1;
            if n % 2 == 0 {
                log.push(format!("{} {} GET {} 200 {}us", 1_764_000_000 + n, user, path,
                                 100 + rng.below(5000)));
            }
            n += 1;
        }
        let mut ring = Vec::with_capacity(4096);
        let mut v = rng.below(1000) as f64;
        for _ in 0..4096 { v += (rng.below(200) as f64 - 100.0) / 100.0; ring.push(v); }
        metrics.push(ring);
    }
    let alive: usize = sessions.values().map(|s| s.roles.len() + s.counters.len() + s.user.len()
        + s.agent.len() + s.last_path.len() + (s.created_unix as usize & 1)).sum();
    eprintln!("rust_store: {} sessions, {} users, {} log lines, check {}", sessions.len(),
              per_user.len(), log.len(), alive);
    println!("{} ready", std::process::id());
    std::io::stdout().flush().unwrap();
    let mut rest = Vec::new();
    std::io::stdin().read_to_end(&mut rest).unwrap();
    drop((sessions, per_user, metrics, log));
}
