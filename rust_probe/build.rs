//! Records the resolved pyo3 and rayon versions (from Cargo.lock) and the build
//! profile, so `lkdoctor._probe.build_info` can say what the probe was built with.
use std::{env, fs, path::Path};

fn locked_version(lock: &str, name: &str) -> Option<String> {
    let needle = format!("name = \"{name}\"");
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == needle {
            let version = lines.next()?.trim();
            return version
                .strip_prefix("version = \"")
                .and_then(|rest| rest.strip_suffix('"'))
                .map(str::to_owned);
        }
    }
    None
}

fn main() {
    let manifest_dir = env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let lock_path = Path::new(&manifest_dir).join("Cargo.lock");
    println!("cargo:rerun-if-changed={}", lock_path.display());
    println!("cargo:rerun-if-changed=rust_probe/build.rs");
    let lock = fs::read_to_string(&lock_path).unwrap_or_default();
    for (crate_name, var) in [
        ("pyo3", "LKPROBE_PYO3_VERSION"),
        ("rayon", "LKPROBE_RAYON_VERSION"),
    ] {
        let version = locked_version(&lock, crate_name).unwrap_or_else(|| "unknown".to_owned());
        println!("cargo:rustc-env={var}={version}");
    }
    let profile = env::var("PROFILE").unwrap_or_else(|_| "unknown".to_owned());
    println!("cargo:rustc-env=LKPROBE_PROFILE={profile}");
}
