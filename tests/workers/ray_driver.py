"""Start Ray as LensKit 2026's batch path does (``lenskit.parallel.ray.init_cluster``, which
calls ``ray.init``), print where Ray put its object store and how large it made it, then
shut Ray down.

Prints one line ``RAY-DRIVER {json}``: the object store size Ray reports
(``cluster_resources()["object_store_memory"]``), the ``--plasma_directory`` its raylet was
started with, and the session folder (to check nothing of it is left).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import ray
from lenskit.parallel.ray import init_cluster


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


def main() -> None:
    init_cluster(include_dashboard=False)  # the dashboard does not touch the store
    try:
        argv = raylet_arguments()
        found = {
            "object_store_memory": int(ray.cluster_resources()["object_store_memory"]),
            "plasma_directory": option(argv, "plasma_directory"),
            "session_dir": _session_dir(),
        }
    finally:
        ray.shutdown()
    print("RAY-DRIVER " + json.dumps(found), flush=True)


def _session_dir() -> str:
    node = ray._private.worker._global_node  # Ray's own record of the node
    return str(node.get_session_dir_path())


if __name__ == "__main__":
    main()
