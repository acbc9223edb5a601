//! A compute-bound benchmark kernel for `lenskit doctor`'s measurements.
//!
//! Fixed work (a number of units) is split statically across a *local* Rayon
//! pool of `n` threads, never the global one. Each thread computes on its own
//! registers only (no shared writes) and reports what the scheduler did to it:
//! its CPU time, the time it sat runnable but waiting for a CPU (from
//! `/proc/thread-self/schedstat`) and its non-voluntary context switches. A
//! cancel flag and a deadline are checked between units, so a watchdog can stop
//! the kernel within one unit (about 50 µs).

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Iterations of the xorshift chain in one unit of work (about 50 µs on a 2.5 GHz core).
pub const UNIT_ITERATIONS: u32 = 32_768;

/// Most threads one kernel may start: far beyond any plan, small enough to never exhaust the host.
pub const MAX_THREADS: usize = 1024;

/// Why the kernel stopped before finishing its work, if it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    Finished,
    Cancelled,
    Deadline,
}

impl Stop {
    pub fn as_str(self) -> &'static str {
        match self {
            Stop::Finished => "finished",
            Stop::Cancelled => "cancelled",
            Stop::Deadline => "deadline",
        }
    }
}

/// What one worker thread did and what the scheduler did to it, over its own run.
/// Python reads it as `lkdoctor._probe.ThreadStats` (read-only attributes).
#[pyo3::pyclass(frozen, get_all, module = "lkdoctor._probe")]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ThreadStats {
    pub tid: i64,
    pub units_planned: u64,
    pub units_done: u64,
    /// CPU time of this thread (`CLOCK_THREAD_CPUTIME_ID`).
    pub cpu_ns: u64,
    /// Time on a CPU as the scheduler counts it (schedstat field 1).
    pub run_ns: u64,
    /// Time runnable but waiting for a CPU (schedstat field 2); includes cgroup throttling.
    pub wait_ns: u64,
    pub nonvoluntary_switches: u64,
    /// Whether `/proc/thread-self/schedstat` could be read (absent without CONFIG_SCHED_INFO).
    pub schedstat: bool,
}

/// The kernel's result: wall time of the whole parallel section and one entry per thread.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub wall: Duration,
    pub threads: Vec<ThreadStats>,
    pub stop: Stop,
}

impl Outcome {
    pub fn units_done(&self) -> u64 {
        self.threads.iter().map(|t| t.units_done).sum()
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum KernelError {
    BadThreadCount(usize),
    PoolBuild(String),
}

impl std::fmt::Display for KernelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KernelError::BadThreadCount(n) => {
                write!(f, "thread count must be 1..={MAX_THREADS}, got {n}")
            }
            KernelError::PoolBuild(why) => write!(f, "could not start a local Rayon pool: {why}"),
        }
    }
}

/// One step of Marsaglia's xorshift64 generator, shifts (13, 7, 17).
#[inline(always)]
pub fn xorshift64(mut x: u64) -> u64 {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x
}

/// One unit of compute-bound work: a dependent xorshift64 chain from `seed | 1` (never the
/// all-zero state), the sum of its states, which the compiler cannot fold.
pub fn work_unit(seed: u64) -> u64 {
    let mut x = black_box(seed) | 1;
    let mut acc = 0u64;
    for _ in 0..UNIT_ITERATIONS {
        x = xorshift64(x);
        acc = acc.wrapping_add(x);
    }
    black_box(acc)
}

/// The units of `total` that thread `index` of `threads` runs: a static, contiguous split
/// whose shares differ by at most one unit.
pub fn share(total: u64, index: usize, threads: usize) -> std::ops::Range<u64> {
    let n = threads.max(1) as u128;
    let i = index as u128;
    let start = (total as u128 * i / n) as u64;
    let end = (total as u128 * (i + 1) / n) as u64;
    start..end
}

/// `(run_ns, wait_ns)` from a schedstat line: `"<run ns> <wait ns> <timeslices>"`.
pub fn parse_schedstat(text: &str) -> Option<(u64, u64)> {
    let mut fields = text.split_whitespace();
    let run = fields.next()?.parse().ok()?;
    let wait = fields.next()?.parse().ok()?;
    Some((run, wait))
}

fn own_schedstat() -> Option<(u64, u64)> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|text| parse_schedstat(&text))
}

fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0;
    }
    (ts.tv_sec as u64).saturating_mul(1_000_000_000) + ts.tv_nsec as u64
}

fn thread_nonvoluntary_switches() -> u64 {
    // SAFETY: an all-zero rusage is a valid value, and getrusage only writes into it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is valid and writable; RUSAGE_THREAD reports on the calling thread.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) };
    if rc != 0 {
        return 0;
    }
    usage.ru_nivcsw.max(0) as u64
}

fn thread_id() -> i64 {
    // SAFETY: gettid has no preconditions.
    i64::from(unsafe { libc::gettid() })
}

struct Counters {
    cpu_ns: u64,
    schedstat: Option<(u64, u64)>,
    nonvoluntary: u64,
}

impl Counters {
    fn now() -> Self {
        Counters {
            cpu_ns: thread_cpu_ns(),
            schedstat: own_schedstat(),
            nonvoluntary: thread_nonvoluntary_switches(),
        }
    }
}

fn run_share(units: std::ops::Range<u64>, deadline: Instant, cancel: &AtomicBool) -> ThreadStats {
    let before = Counters::now();
    let planned = units.end - units.start;
    let mut done = 0u64;
    let mut acc = 0u64;
    for unit in units {
        if cancel.load(Ordering::Relaxed) || Instant::now() >= deadline {
            break;
        }
        acc = acc.wrapping_add(work_unit(unit));
        done += 1;
    }
    black_box(acc);
    let after = Counters::now();
    let (run_ns, wait_ns, schedstat) = match (before.schedstat, after.schedstat) {
        (Some((r0, w0)), Some((r1, w1))) => (r1.saturating_sub(r0), w1.saturating_sub(w0), true),
        _ => (0, 0, false),
    };
    ThreadStats {
        tid: thread_id(),
        units_planned: planned,
        units_done: done,
        cpu_ns: after.cpu_ns.saturating_sub(before.cpu_ns),
        run_ns,
        wait_ns,
        nonvoluntary_switches: after.nonvoluntary.saturating_sub(before.nonvoluntary),
        schedstat,
    }
}

/// Run `units` units of work split across a fresh local pool of `threads` threads.
///
/// Stops early when `cancel` is set or `deadline` passes; the pool is dropped
/// before returning, so no thread outlives the call for long.
pub fn run(
    threads: usize,
    units: u64,
    deadline: Instant,
    cancel: &AtomicBool,
) -> Result<Outcome, KernelError> {
    if threads == 0 || threads > MAX_THREADS {
        return Err(KernelError::BadThreadCount(threads));
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("lkdoctor-bench-{i}"))
        .build()
        .map_err(|e| KernelError::PoolBuild(e.to_string()))?;
    let start = Instant::now();
    let stats = pool.broadcast(|ctx| {
        run_share(
            share(units, ctx.index(), ctx.num_threads()),
            deadline,
            cancel,
        )
    });
    let wall = start.elapsed();
    drop(pool);
    let done: u64 = stats.iter().map(|t| t.units_done).sum();
    let stop = if done >= units {
        Stop::Finished
    } else if cancel.load(Ordering::Relaxed) {
        Stop::Cancelled
    } else {
        Stop::Deadline
    };
    Ok(Outcome {
        wall,
        threads: stats,
        stop,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn far() -> Instant {
        Instant::now() + Duration::from_secs(60)
    }

    #[test]
    fn shares_cover_the_work_exactly_and_evenly() {
        for (total, threads) in [(0, 1), (7, 3), (100, 8), (5, 12), (1_000_003, 7)] {
            let ranges: Vec<_> = (0..threads).map(|i| share(total, i, threads)).collect();
            assert_eq!(ranges[0].start, 0);
            assert_eq!(ranges[threads - 1].end, total);
            for pair in ranges.windows(2) {
                assert_eq!(pair[0].end, pair[1].start);
            }
            let sizes: Vec<u64> = ranges.iter().map(|r| r.end - r.start).collect();
            let (lo, hi) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
            assert!(hi - lo <= 1, "{total} over {threads}: {sizes:?}");
        }
    }

    #[test]
    fn schedstat_lines_parse_and_garbage_does_not() {
        assert_eq!(parse_schedstat("333849 80359 2\n"), Some((333_849, 80_359)));
        assert_eq!(parse_schedstat(""), None);
        assert_eq!(parse_schedstat("12 x 1"), None);
    }

    #[test]
    fn the_step_is_xorshift64_as_published() {
        // Marsaglia, "Xorshift RNGs", J. Stat. Softw. 8(14), 2003: xorshift64 with shifts
        // (13, 7, 17) from the seed 88172645463325252 yields 8748534153485358512,
        // 3040900993826735515, 3453997556048239312, ...
        let mut state = 88_172_645_463_325_252u64;
        let mut outputs = Vec::new();
        for _ in 0..3 {
            state = xorshift64(state);
            outputs.push(state);
        }
        assert_eq!(
            outputs,
            [
                8_748_534_153_485_358_512,
                3_040_900_993_826_735_515,
                3_453_997_556_048_239_312
            ]
        );
    }

    #[test]
    fn the_work_unit_sums_32768_states_from_the_odd_seed() {
        assert_eq!(UNIT_ITERATIONS, 32_768);
        // the wrapping sum of the first 32 768 states from `seed | 1`, computed independently
        // (Python integers masked to 64 bits)
        assert_eq!(work_unit(0), 1_420_779_616_477_171_419);
        assert_eq!(work_unit(41), 1_287_094_927_653_276_075);
        assert_eq!(work_unit(u64::MAX), 16_567_206_787_735_894_435);
        // `seed | 1`: an even seed runs the chain of the odd one above it, and no other.
        assert_eq!(work_unit(0), work_unit(1));
        assert_eq!(work_unit(2), work_unit(3));
        assert_ne!(work_unit(1), work_unit(3));
    }

    #[test]
    fn every_thread_runs_its_share_and_reports_its_counters() {
        let cancel = AtomicBool::new(false);
        let outcome = run(3, 60, far(), &cancel).unwrap();
        assert_eq!(outcome.stop, Stop::Finished);
        assert_eq!(outcome.threads.len(), 3);
        assert_eq!(outcome.units_done(), 60);
        let mut tids: Vec<i64> = outcome.threads.iter().map(|t| t.tid).collect();
        tids.sort_unstable();
        tids.dedup();
        assert_eq!(tids.len(), 3, "three distinct OS threads");
        for t in &outcome.threads {
            assert_eq!(t.units_done, 20);
            assert!(t.cpu_ns > 0);
            assert!(t.schedstat && t.run_ns > 0, "{t:?}");
        }
        assert!(outcome.wall > Duration::ZERO);
    }

    #[test]
    fn cancelled_before_start_does_no_work() {
        let cancel = AtomicBool::new(true);
        let outcome = run(2, 1_000, far(), &cancel).unwrap();
        assert_eq!(outcome.stop, Stop::Cancelled);
        assert_eq!(outcome.units_done(), 0);
    }

    #[test]
    fn a_past_deadline_stops_the_kernel() {
        let cancel = AtomicBool::new(false);
        let outcome = run(2, 1_000_000, Instant::now(), &cancel).unwrap();
        assert_eq!(outcome.stop, Stop::Deadline);
        assert!(outcome.units_done() < 1_000_000);
    }

    #[test]
    fn a_watchdog_on_another_thread_cancels_a_long_run() {
        let cancel = Arc::new(AtomicBool::new(false));
        let watchdog = {
            let cancel = Arc::clone(&cancel);
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(30));
                cancel.store(true, Ordering::Relaxed);
            })
        };
        // About 10 minutes of work on one core: only the cancel can end it in time.
        // Its 60 s deadline is the backstop: a cancel that is not honoured ends as Deadline.
        let outcome = run(2, 12_000_000, far(), &cancel).unwrap();
        watchdog.join().unwrap();
        assert_eq!(outcome.stop, Stop::Cancelled);
        assert!(outcome.units_done() < 12_000_000);
    }

    #[test]
    fn bad_thread_counts_are_refused() {
        let cancel = AtomicBool::new(false);
        assert_eq!(
            run(0, 1, far(), &cancel).unwrap_err(),
            KernelError::BadThreadCount(0)
        );
        assert!(run(MAX_THREADS + 1, 1, far(), &cancel).is_err());
    }

    /// Set in the fresh test process the global-pool test starts.
    const FRESH_PROCESS: &str = "LKDOCTOR_GLOBAL_POOL_FRESH_PROCESS";

    /// In a process of its own (this test binary again, running only this test), so no
    /// other test can have created the global pool before, whatever the order, and this
    /// one's `build_global` leaves no global pool behind for the others.
    #[test]
    fn the_kernel_never_creates_the_global_pool() {
        if std::env::var_os(FRESH_PROCESS).is_some() {
            let cancel = AtomicBool::new(false);
            run(2, 4, far(), &cancel).unwrap();
            // build_global fails once the global pool exists; it must still be free.
            assert!(rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .build_global()
                .is_ok());
            println!("global pool still free after the kernel");
            return;
        }
        let name = "kernel::tests::the_kernel_never_creates_the_global_pool";
        let output = std::process::Command::new(std::env::current_exe().unwrap())
            .args([name, "--exact", "--test-threads", "1", "--nocapture"])
            .env(FRESH_PROCESS, "1")
            .output()
            .expect("the test binary runs again");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            stdout.contains("global pool still free after the kernel"),
            "{stdout}"
        );
        assert!(stdout.contains("1 passed"), "{stdout}");
    }
}
