"""Type stubs for the Rust probe (rust_probe/lib.rs)."""

__version__: str
build_info: dict[str, str]

def available_parallelism() -> int | None:
    """``std::thread::available_parallelism()``, or None when Rust cannot tell."""

def rayon_default_threads() -> tuple[int, str]:
    """The size Rayon's global pool would get here, and its source; creates no pool."""
