"""Where the importable LensKit is, and which version, found without importing it."""

from __future__ import annotations

import importlib.machinery
import importlib.metadata
import importlib.util
import sys
from pathlib import Path


def version_at(site: Path) -> str | None:
    """The version of the ``lenskit`` distribution installed in ``site``, if any."""
    try:
        found = importlib.metadata.distributions(name="lenskit", path=[str(site)])
        return next((str(dist.version) for dist in found), None)
    except Exception:  # broken metadata: the version is only informative
        return None


def lenskit_package_dirs() -> list[Path]:
    """The folders of the importable ``lenskit`` package, found without importing it."""
    try:
        spec = importlib.util.find_spec("lenskit")
    except (ImportError, ValueError):
        return []
    if spec is None or not spec.submodule_search_locations:
        return []
    return [Path(location) for location in spec.submodule_search_locations]


def lenskit_accel_origin() -> str | None:
    """Where lenskit._accel lives, found without importing lenskit; None when absent."""
    loaded = sys.modules.get("lenskit._accel")
    if loaded is not None:
        return str(getattr(loaded, "__file__", None) or "lenskit._accel")
    packages = lenskit_package_dirs()
    if not packages:
        return None
    spec = importlib.machinery.PathFinder.find_spec("lenskit._accel", [str(p) for p in packages])
    return spec.origin if spec is not None and spec.has_location else None


def installed_lenskit_version() -> str | None:
    """The version of the importable LensKit, read from its metadata without importing it."""
    for package in lenskit_package_dirs():
        if found := version_at(package.parent):
            return found
    return None


def loaded_parallel_config() -> dict[str, object] | None:
    """The names of LensKit's ``lenskit.parallel.config`` module when it is already loaded
    (never imported here); None when it is not. Each LensKit line reads its own release's
    names from them (``plan/<line>/ask.py``)."""
    module = sys.modules.get("lenskit.parallel.config")
    return None if module is None else dict(vars(module))


def lenskit_cli_loaded() -> bool:
    """LensKit's ``lenskit`` command module is loaded: its root command set LensKit up."""
    return "lenskit.cli" in sys.modules
