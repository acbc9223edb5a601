//! `lkdoctor._probe`: the facts only Rust can give about parallelism.
//!
//! Inspection must never create Rayon's global pool: once it exists,
//! `ThreadPoolBuilder::build_global` can never succeed again. So nothing here
//! calls `rayon::current_num_threads()` or `rayon::join` outside a local pool;
//! the default pool size is computed the way Rayon computes it instead.

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub mod kernel;

/// Where Rayon's default global pool size comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RayonSource {
    RayonNumThreads,
    /// The deprecated `RAYON_RS_NUM_CPUS`, which rayon-core still honours.
    RayonRsNumCpus,
    AvailableParallelism,
    Fallback,
}

impl RayonSource {
    pub fn as_str(self) -> &'static str {
        match self {
            RayonSource::RayonNumThreads => "RAYON_NUM_THREADS",
            RayonSource::RayonRsNumCpus => "RAYON_RS_NUM_CPUS",
            RayonSource::AvailableParallelism => "available_parallelism",
            RayonSource::Fallback => "fallback",
        }
    }
}

/// Rayon's rule for its default pool size (rayon-core `ThreadPoolBuilder::get_num_threads`):
/// `RAYON_NUM_THREADS` if it parses to a number > 0; `RAYON_NUM_THREADS=0` means
/// `available_parallelism()` outright; only an unset or unparsable `RAYON_NUM_THREADS`
/// lets the deprecated `RAYON_RS_NUM_CPUS` (> 0) decide; then `available_parallelism()`,
/// else 1.
pub fn rayon_default_threads(
    rayon_num_threads: Option<&str>,
    rayon_rs_num_cpus: Option<&str>,
    available: Option<usize>,
) -> (usize, RayonSource) {
    let parsed = |value: Option<&str>| value.and_then(|v| v.parse::<usize>().ok());
    let from_available = || match available {
        Some(n) => (n, RayonSource::AvailableParallelism),
        None => (1, RayonSource::Fallback),
    };
    match parsed(rayon_num_threads) {
        Some(0) => return from_available(),
        Some(n) => return (n, RayonSource::RayonNumThreads),
        None => {}
    }
    match parsed(rayon_rs_num_cpus) {
        Some(n) if n > 0 => (n, RayonSource::RayonRsNumCpus),
        _ => from_available(),
    }
}

/// [`rayon_default_threads`] for this process's environment, as rayon-core reads it.
pub fn rayon_default_threads_here() -> (usize, RayonSource) {
    rayon_default_threads(
        std::env::var("RAYON_NUM_THREADS").ok().as_deref(),
        std::env::var("RAYON_RS_NUM_CPUS").ok().as_deref(),
        available(),
    )
}

/// The size rayon-core really gives a pool built with default settings here: builds a
/// *local* pool (never the global one), reads its size and drops it.
pub fn default_local_pool_threads() -> Result<usize, rayon::ThreadPoolBuildError> {
    rayon::ThreadPoolBuilder::new()
        .thread_name(|i| format!("lkdoctor-check-{i}"))
        .build()
        .map(|pool| pool.current_num_threads())
}

fn available() -> Option<usize> {
    std::thread::available_parallelism()
        .ok()
        .map(NonZeroUsize::get)
}

/// `std::thread::available_parallelism()`: affinity and cgroup quota as Rust
/// sees them, or `None` when the platform cannot tell.
#[pyfunction]
fn available_parallelism() -> Option<usize> {
    available()
}

/// The size Rayon's global pool would get in this process, and its source,
/// computed without creating any pool.
#[pyfunction]
fn rayon_default_threads_py() -> (usize, &'static str) {
    let (n, source) = rayon_default_threads_here();
    (n, source.as_str())
}

/// Build a local Rayon pool with default settings, return its size and drop it: what
/// rayon-core itself decides here, to check `rayon_default_threads` against. Starts (and
/// joins) that many threads, so inspection does not call it.
#[pyfunction(name = "default_local_pool_threads")]
fn default_local_pool_threads_py(py: Python<'_>) -> PyResult<usize> {
    py.detach(default_local_pool_threads)
        .map_err(|e| PyRuntimeError::new_err(format!("could not start a local Rayon pool: {e}")))
}

/// A flag a watchdog thread sets to stop a running kernel within one unit of work.
#[pyclass(frozen, module = "lkdoctor._probe")]
struct CancelToken {
    flag: Arc<AtomicBool>,
}

#[pymethods]
impl CancelToken {
    #[new]
    fn new() -> Self {
        CancelToken {
            flag: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Ask the kernel using this token to stop; safe from any thread.
    fn cancel(&self) {
        self.flag.store(true, Ordering::Relaxed);
    }

    #[getter]
    fn cancelled(&self) -> bool {
        self.flag.load(Ordering::Relaxed)
    }
}

/// What one kernel run did: wall time of the parallel section, why it stopped, the
/// units done in all, and each worker's counters.
#[pyclass(frozen, get_all, module = "lkdoctor._probe")]
struct KernelOutcome {
    wall_ns: u64,
    /// "finished", "cancelled" or "deadline".
    stop: &'static str,
    units_done: u64,
    /// One `ThreadStats` per worker, in pool index order.
    threads: Py<PyTuple>,
}

/// Run `units` units of compute-bound work split across a local pool of
/// `threads` threads; stop at `timeout_s` or when `cancel` is set. The GIL is
/// released unless `release_gil` is false, which exists only so the tests can show
/// that they tell a GIL-holding kernel from a releasing one.
#[pyfunction]
#[pyo3(signature = (threads, units, timeout_s, cancel=None, *, release_gil=true))]
fn spin_kernel(
    py: Python<'_>,
    threads: usize,
    units: u64,
    timeout_s: f64,
    cancel: Option<&CancelToken>,
    release_gil: bool,
) -> PyResult<KernelOutcome> {
    if !(timeout_s.is_finite() && timeout_s >= 0.0) {
        return Err(PyValueError::new_err(format!(
            "timeout_s must be a finite number >= 0, got {timeout_s}"
        )));
    }
    let flag = cancel.map_or_else(|| Arc::new(AtomicBool::new(false)), |c| Arc::clone(&c.flag));
    let timeout = Duration::from_secs_f64(timeout_s.min(3600.0));
    let work = move || kernel::run(threads, units, Instant::now() + timeout, &flag);
    let outcome = if release_gil { py.detach(work) } else { work() }.map_err(|e| match e {
        kernel::KernelError::BadThreadCount(_) => PyValueError::new_err(e.to_string()),
        kernel::KernelError::PoolBuild(_) => PyRuntimeError::new_err(e.to_string()),
    })?;
    Ok(KernelOutcome {
        wall_ns: u64::try_from(outcome.wall.as_nanos()).unwrap_or(u64::MAX),
        stop: outcome.stop.as_str(),
        units_done: outcome.units_done(),
        threads: PyTuple::new(py, outcome.threads)?.unbind(),
    })
}

#[pymodule]
fn _probe(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    let build_info = PyDict::new(py);
    build_info.set_item("pyo3", env!("LKPROBE_PYO3_VERSION"))?;
    build_info.set_item("rayon", env!("LKPROBE_RAYON_VERSION"))?;
    build_info.set_item("profile", env!("LKPROBE_PROFILE"))?;
    build_info.set_item("rustc_target_os", std::env::consts::OS)?;
    build_info.set_item("rustc_target_arch", std::env::consts::ARCH)?;
    m.add("build_info", build_info)?;
    m.add_function(wrap_pyfunction!(available_parallelism, m)?)?;
    let rayon_default = wrap_pyfunction!(rayon_default_threads_py, m)?;
    m.add("rayon_default_threads", rayon_default)?;
    m.add_function(wrap_pyfunction!(default_local_pool_threads_py, m)?)?;
    m.add_class::<CancelToken>()?;
    m.add_class::<KernelOutcome>()?;
    m.add_class::<kernel::ThreadStats>()?;
    m.add_function(wrap_pyfunction!(spin_kernel, m)?)?;
    m.add("KERNEL_MAX_THREADS", kernel::MAX_THREADS)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_value_wins_when_positive() {
        assert_eq!(
            rayon_default_threads(Some("3"), None, Some(8)),
            (3, RayonSource::RayonNumThreads)
        );
    }

    #[test]
    fn zero_or_garbage_falls_back_to_available_parallelism() {
        for bad in ["0", "abc", "-1", "", " 2"] {
            assert_eq!(
                rayon_default_threads(Some(bad), None, Some(8)),
                (8, RayonSource::AvailableParallelism),
                "value {bad:?}"
            );
        }
    }

    #[test]
    fn deprecated_variable_decides_only_without_a_parsable_rayon_num_threads() {
        assert_eq!(
            rayon_default_threads(None, Some("5"), Some(8)),
            (5, RayonSource::RayonRsNumCpus)
        );
        assert_eq!(
            rayon_default_threads(Some("abc"), Some("5"), Some(8)),
            (5, RayonSource::RayonRsNumCpus)
        );
        // 0 is Rayon's explicit "use the available parallelism".
        assert_eq!(
            rayon_default_threads(Some("0"), Some("5"), Some(8)),
            (8, RayonSource::AvailableParallelism)
        );
        assert_eq!(
            rayon_default_threads(None, Some("0"), Some(8)),
            (8, RayonSource::AvailableParallelism)
        );
    }

    #[test]
    fn no_parallelism_known_means_one() {
        assert_eq!(
            rayon_default_threads(None, None, None),
            (1, RayonSource::Fallback)
        );
    }

    /// CPU numbers from a kernel list such as `0-3,8,10-11` (`Cpus_allowed_list`).
    fn parse_cpu_list(text: &str) -> Vec<usize> {
        let mut cpus = Vec::new();
        for part in text.trim().split(',').filter(|p| !p.is_empty()) {
            match part.split_once('-') {
                Some((lo, hi)) => cpus.extend(lo.parse::<usize>().unwrap()..=hi.parse().unwrap()),
                None => cpus.push(part.parse().unwrap()),
            }
        }
        cpus
    }

    /// This thread's allowed CPUs as the kernel lists them in `/proc/thread-self/status`.
    fn allowed_cpus() -> Vec<usize> {
        let status = std::fs::read_to_string("/proc/thread-self/status").unwrap();
        let line = status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .expect("Cpus_allowed_list in /proc/thread-self/status");
        parse_cpu_list(line)
    }

    fn pin_this_thread(cpus: &[usize]) {
        // SAFETY: an all-zero cpu_set_t is the empty set; CPU_SET only writes inside it.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        for &cpu in cpus {
            unsafe { libc::CPU_SET(cpu, &mut set) };
        }
        // SAFETY: `set` is a valid cpu_set_t of the size passed; 0 is the calling thread.
        let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) };
        assert_eq!(rc, 0, "sched_setaffinity({cpus:?})");
    }

    /// The whole CPUs a cgroup CPU quota allows this process (`max(1, floor(quota /
    /// period))`, tightest over its groups and their ancestors), read from the cgroup
    /// files directly; `None` without a quota.
    fn quota_cpus() -> Option<usize> {
        let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
        let mut tightest: Option<usize> = None;
        let mut consider = |quota: f64, period: f64| {
            if quota > 0.0 && period > 0.0 {
                let cpus = ((quota / period).floor() as usize).max(1);
                tightest = Some(tightest.map_or(cpus, |t| t.min(cpus)));
            }
        };
        for line in own.lines() {
            let mut fields = line.splitn(3, ':');
            let (id, controllers, path) = (fields.next(), fields.next(), fields.next());
            let (Some(id), Some(controllers), Some(path)) = (id, controllers, path) else {
                continue;
            };
            let mut dir = std::path::PathBuf::from(path);
            loop {
                let rel = dir.strip_prefix("/").unwrap_or(&dir).to_path_buf();
                if id == "0" {
                    for mount in ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"] {
                        let max = std::path::Path::new(mount).join(&rel).join("cpu.max");
                        if let Ok(text) = std::fs::read_to_string(max) {
                            let mut parts = text.split_whitespace();
                            if let (Some(q), Some(p)) = (parts.next(), parts.next()) {
                                if let (Ok(q), Ok(p)) = (q.parse(), p.parse()) {
                                    consider(q, p);
                                }
                            }
                        }
                    }
                } else if controllers.split(',').any(|c| c == "cpu") {
                    let base = std::path::Path::new("/sys/fs/cgroup/cpu").join(&rel);
                    let read = |name: &str| {
                        std::fs::read_to_string(base.join(name))
                            .ok()
                            .and_then(|t| t.trim().parse::<f64>().ok())
                    };
                    if let (Some(q), Some(p)) =
                        (read("cpu.cfs_quota_us"), read("cpu.cfs_period_us"))
                    {
                        consider(q, p);
                    }
                }
                if !dir.pop() {
                    break;
                }
            }
        }
        tightest
    }

    /// `available_parallelism` against the kernel's own list of allowed CPUs and the
    /// cgroup quota read here: for every prefix of the allowed CPUs this thread is pinned
    /// to, Rust must count exactly min(CPUs pinned, quota). Runs in a thread of its own so
    /// the pinning cannot leak into other tests.
    #[test]
    fn available_parallelism_counts_the_pinned_cpus_within_the_quota() {
        std::thread::spawn(|| {
            let allowed = allowed_cpus();
            // SAFETY: an all-zero cpu_set_t is valid; sched_getaffinity fills it.
            let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
            let rc = unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) };
            assert_eq!(rc, 0);
            let counted = unsafe { libc::CPU_COUNT(&set) } as usize;
            assert_eq!(
                counted,
                allowed.len(),
                "sched_getaffinity vs Cpus_allowed_list"
            );
            let limit = quota_cpus().unwrap_or(usize::MAX);
            assert_eq!(available(), Some(allowed.len().min(limit)), "as found");
            for k in 1..=allowed.len() {
                pin_this_thread(&allowed[..k]);
                assert_eq!(allowed_cpus(), allowed[..k].to_vec());
                assert_eq!(
                    available(),
                    Some(k.min(limit)),
                    "pinned to {:?}",
                    &allowed[..k]
                );
            }
        })
        .join()
        .unwrap();
    }

    #[test]
    fn cpu_lists_parse_as_the_kernel_writes_them() {
        assert_eq!(parse_cpu_list("0-3,8,10-11\n"), vec![0, 1, 2, 3, 8, 10, 11]);
        assert_eq!(parse_cpu_list("5"), vec![5]);
    }

    /// Sets (or removes) environment variables and puts the old values back when dropped.
    struct EnvGuard(Vec<(&'static str, Option<std::ffi::OsString>)>);

    impl EnvGuard {
        fn set(vars: &[(&'static str, Option<&str>)]) -> Self {
            let saved = vars
                .iter()
                .map(|(name, _)| (*name, std::env::var_os(name)))
                .collect();
            for (name, value) in vars {
                match value {
                    Some(value) => std::env::set_var(name, value),
                    None => std::env::remove_var(name),
                }
            }
            EnvGuard(saved)
        }
    }

    impl Drop for EnvGuard {
        fn drop(&mut self) {
            for (name, value) in &self.0 {
                match value {
                    Some(value) => std::env::set_var(name, value),
                    None => std::env::remove_var(name),
                }
            }
        }
    }

    /// The prediction against the pools rayon-core really builds under each setting.
    /// Environment variables are process-global, so every case runs in this one test, in
    /// turn; no other test reads these variables (the kernel's pools have explicit sizes).
    #[test]
    fn prediction_matches_the_pools_rayon_core_builds() {
        let cpus = available().unwrap_or(1);
        // Sizes that differ from the CPU count, so each rule gives a different answer.
        let (explicit, deprecated) = ((cpus + 1).to_string(), (cpus + 2).to_string());
        let rayon_num_threads = [
            None,
            Some("0"),
            Some(explicit.as_str()),
            Some("lots"),
            Some("-1"),
        ];
        let rayon_rs_num_cpus = [None, Some(deprecated.as_str()), Some("0")];
        for num_threads in rayon_num_threads {
            for rs_num_cpus in rayon_rs_num_cpus {
                let _env = EnvGuard::set(&[
                    ("RAYON_NUM_THREADS", num_threads),
                    ("RAYON_RS_NUM_CPUS", rs_num_cpus),
                ]);
                let built = default_local_pool_threads().expect("a local pool");
                let (predicted, _) = rayon_default_threads_here();
                assert_eq!(
                    predicted, built,
                    "RAYON_NUM_THREADS={num_threads:?} RAYON_RS_NUM_CPUS={rs_num_cpus:?}"
                );
            }
        }
    }
}
