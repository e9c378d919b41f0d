//! Steady-state requests allocate nothing: a worker driven in this process (no fork)
//! against loopback servers (a command line's URL, and a run file's URL list over the
//! keep-alive cache) makes the same number of heap allocations for 300 requests
//! as for 6,000. Allocations are counted on the worker's thread only, so the test
//! server's threads do not disturb the count.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::ops::RangeInclusive;

use volley_config::Command;
use volley_scoreboard::{Counter, Scoreboard, now_ns};
use volley_testsupport::{Reply, ServerConfig, TestServer};
use volley_worker::Worker;

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn note_allocation() {
    // `try_with`: thread-locals may already be gone while a thread exits.
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        }
    });
}

// SAFETY: every method forwards to the system allocator with the caller's arguments
// unchanged; the only addition is a thread-local counter that itself never allocates
// (const-initialised `Cell`s).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc*` with this layout (all our methods forward).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded unchanged; `ptr` was allocated by `System` with `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `requests` requests of `args` (after `volley`, with `-n` added) in 4 slots over
/// keep-alive connections, expecting `conns` connections opened; returns the allocations made
/// by `Worker::run` (the report at the end included).
fn allocations_for(args: &[&str], requests: u64, conns: RangeInclusive<u64>) -> u64 {
    let name = format!(
        "volley-alloc-{}-{requests}-{}",
        std::process::id(),
        conns.end()
    );
    let sb = Scoreboard::create(&name, 1, 4).expect("scoreboard");
    let n = requests.to_string();
    let limit = ["-n", n.as_str()];
    let args = ["volley"].iter().chain(args).chain(&limit).copied();
    let Ok(Command::Run(spec)) = volley_config::parse(args) else {
        panic!("the test's arguments parse")
    };
    let worker = Worker::new(&spec, 0, sb.header(), sb.slot(0)).expect("worker");
    ALLOCATIONS.with(|n| n.set(0));
    COUNTING.with(|on| on.set(true));
    let report = worker.run(now_ns()).expect("run");
    COUNTING.with(|on| on.set(false));
    assert_eq!(report.get(Counter::RequestsSucceeded), requests);
    let opened = report.get(Counter::ConnsOpened);
    assert!(conns.contains(&opened), "{opened} connections");
    ALLOCATIONS.with(|n| n.get())
}

#[test]
fn steady_state_requests_do_not_allocate() {
    let server = TestServer::start(ServerConfig {
        reply: Reply::ok("steady state"),
        ..ServerConfig::default()
    });
    let url = server.url("/a");
    let args = [url.as_str(), "-w", "1", "-c", "4"];
    let few = allocations_for(&args, 300, 4..=4);
    let many = allocations_for(&args, 6_000, 4..=4);
    // The latency histograms grow by powers of two when a slower request than any before
    // arrives (at most 19 times each, whatever the request count): the longer run may
    // meet a few such outliers. One allocation per request would add thousands.
    assert!(
        many <= few + 12,
        "20x the requests made {many} allocations against {few}: something allocates per request"
    );
}

#[test]
fn a_url_list_over_the_keep_alive_cache_does_not_allocate_per_request() {
    let servers = [0, 1].map(|_| TestServer::start(ServerConfig::new(Reply::ok("listed"))));
    let dir = std::env::temp_dir().join(format!("volley-alloc-list-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("run.toml");
    // Two addresses in turn: every request takes a connection from the worker's cache and
    // stores it back; at most one per slot and address is ever opened.
    let text = format!(
        "workers = 1\nramp_up = {{ max = 4 }}\n\
         [[request]]\nurl = \"{}\"\n[[request]]\nurl = \"{}\"\n",
        servers[0].url("/a"),
        servers[1].url("/b")
    );
    std::fs::write(&file, text).expect("run file");
    let path = file.display().to_string();
    let args = ["run", path.as_str()];
    let few = allocations_for(&args, 300, 2..=8);
    let many = allocations_for(&args, 6_000, 2..=8);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        many <= few + 12,
        "20x the requests made {many} allocations against {few}: something allocates per request"
    );
}
