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
    AvailableParallelism,
    Fallback,
}

impl RayonSource {
    pub fn as_str(self) -> &'static str {
        match self {
            RayonSource::RayonNumThreads => "RAYON_NUM_THREADS",
            RayonSource::AvailableParallelism => "available_parallelism",
            RayonSource::Fallback => "fallback",
        }
    }
}

/// Rayon's rule for its default pool size (rayon-core `default_num_threads`):
/// `RAYON_NUM_THREADS` if it parses to a number > 0, else the deprecated
/// `RAYON_RS_NUM_CPUS` likewise, else `available_parallelism()`, else 1.
pub fn rayon_default_threads(
    rayon_num_threads: Option<&str>,
    rayon_rs_num_cpus: Option<&str>,
    available: Option<usize>,
) -> (usize, RayonSource) {
    for value in [rayon_num_threads, rayon_rs_num_cpus].into_iter().flatten() {
        if let Ok(n) = value.parse::<usize>() {
            if n > 0 {
                return (n, RayonSource::RayonNumThreads);
            }
        }
    }
    match available {
        Some(n) => (n, RayonSource::AvailableParallelism),
        None => (1, RayonSource::Fallback),
    }
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
    let (n, source) = rayon_default_threads(
        std::env::var("RAYON_NUM_THREADS").ok().as_deref(),
        std::env::var("RAYON_RS_NUM_CPUS").ok().as_deref(),
        available(),
    );
    (n, source.as_str())
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
    fn deprecated_variable_is_honoured() {
        assert_eq!(
            rayon_default_threads(None, Some("5"), Some(8)),
            (5, RayonSource::RayonNumThreads)
        );
    }

    #[test]
    fn no_parallelism_known_means_one() {
        assert_eq!(
            rayon_default_threads(None, None, None),
            (1, RayonSource::Fallback)
        );
    }

    #[test]
    fn available_is_at_least_one() {
        assert!(available().unwrap_or(1) >= 1);
    }
}
