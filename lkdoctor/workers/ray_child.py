"""The Ray object store's size and place, by the installed Ray's own code, in a child.

Run as ``python -m lkdoctor.workers.ray_child``; it prints one JSON object on its last
stdout line. Importing Ray takes seconds and loads much, so the doctor does it here, never
in its own process. Nothing is started: Ray's sizing (``resolve_object_store_memory`` of
its available-memory estimate) and placing (``determine_plasma_store_config``) functions
are called as ``ray.init()`` calls them when LensKit starts Ray, and what they log or
raise is kept word for word.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any


class _Kept(logging.Handler):
    """Keeps the messages Ray's placing function logs (its /tmp warning)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _existing_ancestor(path: Path) -> Path:
    while not path.is_dir() and path != path.parent:
        path = path.parent
    return path


def predict() -> dict[str, Any]:
    ray: Any = importlib.import_module("ray")
    utils: Any = importlib.import_module("ray._private.utils")
    services: Any = importlib.import_module("ray._private.services")
    common: Any = importlib.import_module("ray._common.utils")
    available = int(utils.estimate_available_memory())
    size = int(utils.resolve_object_store_memory(available))
    temp_dir = Path(common.get_default_ray_temp_dir())
    # Ray makes its temp folder before it places the store; it may not exist yet here, and
    # the placing function wants a folder that exists: its parent stands in for it.
    stand_in = _existing_ancestor(temp_dir)
    kept = _Kept()
    logger = logging.getLogger(services.__name__)
    logger.addHandler(kept)
    found: dict[str, Any] = {
        "status": "predicted",
        "ray_version": getattr(ray, "__version__", None),
        "size_bytes": size,
        "shm_available_bytes": int(utils.get_shared_memory_bytes()),
        "available_memory_bytes": available,
        "system_memory_bytes": int(common.get_system_memory()),
        "detail": "ray._private.utils.resolve_object_store_memory(estimate_available_memory())"
        " and ray._private.services.determine_plasma_store_config, as ray.init() calls them",
    }
    try:
        directory, _fallback, size = services.determine_plasma_store_config(size, str(stand_in))
    except ValueError as exc:  # what ray.init() raises for this store
        found.update(starts=False, ray_message=str(exc))
        return found
    finally:
        logger.removeHandler(kept)
    place = Path(directory)
    found.update(
        starts=True,
        size_bytes=int(size),
        directory=str(temp_dir if place == stand_in else place),
        in_shm=place == Path("/dev/shm"),
        ray_message=" ".join(kept.messages).replace(str(stand_in), str(temp_dir)) or None,
    )
    return found


def main() -> None:
    try:
        result = predict()
    except BaseException as exc:  # a Ray without these functions: say which part failed
        result = {"status": "failed", "detail": f"{type(exc).__name__}: {exc}"[:500]}
    sys.stdout.write("\n" + json.dumps(result) + "\n")
    sys.stdout.flush()
    os._exit(0)  # Ray's import leaves threads that would delay a normal exit


if __name__ == "__main__":
    main()
