//! `lkdoctor._probe`: the facts only Rust can give about parallelism.
//!
//! Inspection must never create Rayon's global pool: once it exists,
//! `ThreadPoolBuilder::build_global` can never succeed again. So nothing here
//! calls `rayon::current_num_threads()` or `rayon::join` outside a local pool;
//! the default pool size is computed the way Rayon computes it instead.

use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::num::NonZeroUsize;

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
