"""Batch work on Ray: the object store Ray would make here, predicted by its own code in a
child process (:mod:`.ray_child`) under a hard time limit."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
from collections.abc import Mapping

from lkdoctor.model import RayObjectStore

#: Importing Ray on a loaded machine takes seconds; more than this is a failure to say.
RAY_CHILD_TIMEOUT = 60.0


def collect_ray_store(
    environ: Mapping[str, str] | None = None, timeout: float = RAY_CHILD_TIMEOUT
) -> RayObjectStore:
    """The store LensKit's ``ray.init()`` would make under the run's variables ``environ``
    (default ours): Ray's own (``RAY_*``) and its temporary folder's (``TMPDIR``) count."""
    env = dict(os.environ)
    if environ is not None:
        env.update({k: v for k, v in environ.items() if k.startswith("RAY_") or k == "TMPDIR"})
    if env.get("RAY_ADDRESS"):
        return RayObjectStore(
            status="existing-cluster",
            detail=f"RAY_ADDRESS={env['RAY_ADDRESS']}: LensKit joins that cluster, whose object "
            "store was sized when it started (`lenskit doctor --ray` diagnoses its nodes)",
        )
    if importlib.util.find_spec("ray") is None:
        return RayObjectStore(
            status="failed",
            detail="Ray is not installed here: LensKit's Ray batch path fails at `import ray`",
        )
    child = subprocess.Popen(
        [sys.executable, "-m", "lkdoctor.workers.ray_child"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        start_new_session=True,  # its own process group, killed whole on the time limit
    )
    try:
        stdout, _ = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(OSError):
            os.killpg(child.pid, signal.SIGKILL)
        child.communicate()
        return RayObjectStore(
            status="failed", detail=f"importing Ray took longer than {timeout:g} s; not predicted"
        )
    lines = stdout.decode(errors="replace").strip().splitlines()
    try:
        return RayObjectStore.model_validate(json.loads(lines[-1]))
    except (IndexError, ValueError) as exc:
        return RayObjectStore(
            status="failed",
            detail=f"the Ray child (exit status {child.returncode}) gave no answer: {exc}"[:300],
        )
