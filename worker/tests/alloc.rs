//! Steady-state requests allocate nothing: a worker driven in this process (no fork)
//! against a loopback server makes the same number of heap allocations for 300 requests
//! as for 6,000. Allocations are counted on the worker's thread only, so the test
//! server's threads do not disturb the count.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

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

/// Runs `requests` requests over 4 keep-alive connections; returns the allocations made
/// by `Worker::run` (the report at the end included).
fn allocations_for(server: &TestServer, requests: u64) -> u64 {
    let name = format!("volley-alloc-{}-{requests}", std::process::id());
    let sb = Scoreboard::create(&name, 1, 4).expect("scoreboard");
    let args = [
        "volley",
        &server.url("/a"),
        "-w",
        "1",
        "-c",
        "4",
        "-n",
        &requests.to_string(),
    ];
    let Ok(Command::Run(spec)) = volley_config::parse(args) else {
        panic!("the test's arguments parse")
    };
    let worker = Worker::new(&spec, 0, sb.header(), sb.slot(0)).expect("worker");
    ALLOCATIONS.with(|n| n.set(0));
    COUNTING.with(|on| on.set(true));
    let report = worker.run(now_ns()).expect("run");
    COUNTING.with(|on| on.set(false));
    assert_eq!(report.get(Counter::RequestsSucceeded), requests);
    assert_eq!(report.get(Counter::ConnsOpened), 4);
    ALLOCATIONS.with(|n| n.get())
}

#[test]
fn steady_state_requests_do_not_allocate() {
    let server = TestServer::start(ServerConfig {
        reply: Reply::ok("steady state"),
        ..ServerConfig::default()
    });
    let few = allocations_for(&server, 300);
    let many = allocations_for(&server, 6_000);
    // The latency histograms grow by powers of two when a slower request than any before
    // arrives (at most 19 times each, whatever the request count): the longer run may
    // meet a few such outliers. One allocation per request would add thousands.
    assert!(
        many <= few + 12,
        "20x the requests made {many} allocations against {few}: something allocates per request"
    );
}
