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
