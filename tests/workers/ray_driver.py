"""Start Ray as LensKit 2026's batch path does (``lenskit.parallel.ray.init_cluster``, which
calls ``ray.init``), print where Ray put its object store and how large it made it, then
shut Ray down. ``python ray_driver.py [MODEL...]`` also puts each saved model into the
store as LensKit's batch path puts its pipeline.

Prints one line ``RAY-DRIVER {json}``: the object store size Ray reports
(``cluster_resources()["object_store_memory"]``), the ``--plasma_directory`` its raylet was
started with, the session folder, and each model's size in the store.
"""

from __future__ import annotations

import json
import os
import pickle
import sys
from pathlib import Path

import ray
from lenskit.parallel.ray import init_cluster, init_serializers


def raylet_arguments() -> list[str]:
    """The command line of the raylet this driver started (its child)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            argv = (entry / "cmdline").read_bytes().decode().split("\0")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == os.getpid() and argv[0].endswith("/raylet"):
            return argv
    raise SystemExit("no raylet among this driver's children")


def option(argv: list[str], name: str) -> str | None:
    prefix = f"--{name}="
    return next((a[len(prefix) :] for a in argv if a.startswith(prefix)), None)


def put_sizes(paths: list[str]) -> dict[str, int]:
    """Each saved model put into the store as LensKit's batch path puts its pipeline
    (``ray.put`` after LensKit's serializers are registered): the size Ray records."""
    init_serializers()
    sizes = {}
    for path in paths:
        with open(path, "rb") as file:
            ref = ray.put(pickle.load(file))
        sizes[path] = int(ray.experimental.get_object_locations([ref])[ref]["object_size"])
        del ref
    return sizes


def main() -> None:
    # ensure_cluster() without the dashboard, which does not touch the store
    init_cluster(include_dashboard=False, global_logging=True)
    try:
        argv = raylet_arguments()
        found = {
            "object_store_memory": int(ray.cluster_resources()["object_store_memory"]),
            "plasma_directory": option(argv, "plasma_directory"),
            "session_dir": _session_dir(),
            "put_sizes": put_sizes(sys.argv[1:]),
        }
    finally:
        ray.shutdown()
    print("RAY-DRIVER " + json.dumps(found), flush=True)


def _session_dir() -> str:
    node = ray._private.worker._global_node  # Ray's own record of the node
    return str(node.get_session_dir_path())


if __name__ == "__main__":
    main()
