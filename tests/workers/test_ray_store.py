"""Batch work on Ray (LensKit 2026, ``LK_USE_RAY=1``): the object store the doctor predicts
from the installed Ray's own code, against a real ``ray.init()`` started the way LensKit
starts it, in a private mount namespace whose ``/dev/shm`` is a small tmpfs.

Ray takes 30% of the memory it sees for its store and keeps it in ``/dev/shm`` only when
that much is free there, else in ``/tmp/ray`` (slow). The namespace gets a tmpfs of its
own on ``/tmp/ray`` too, so nothing Ray writes reaches the machine's (a tmpfs on all of
``/tmp`` would hide an environment or checkout that lives there); every process of a run
shares one session, ended by id afterwards. Three Ray start-ups in all (each is slow on a
small machine): the predicted fallback, the suggested store size that fits, and the
models put into the store with the bytes ``--model`` predicts.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from helpers import script, target_environ
from workers_shared import REAL_TIMEOUT

HERE = Path(__file__).parent
DRIVER = HERE / "ray_driver.py"
#: Above Ray's 75 MiB minimum store, far below the 30% of memory it takes by default.
SMALL_SHM = "256m"
RAY_TMP = Path("/tmp/ray")
RAY_TIMEOUT = 600

pytestmark = pytest.mark.lenskit2026


def _require_root_and_unshare() -> None:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare for a private /dev/shm (CI fails on this skip)")


def _session_pids(sid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if os.getsid(int(entry.name)) == sid:
                    pids.append(int(entry.name))
    return pids


def in_session(argv: list[str], env: dict[str, str]) -> tuple[str, str, list[int]]:
    """``argv`` in a session of its own; its stdout, stderr and the processes of its session
    left over (killed here)."""
    child = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=target_environ(env),
        start_new_session=True,
    )
    try:
        out, err = child.communicate(timeout=RAY_TIMEOUT)
    finally:
        left = [pid for pid in _session_pids(child.pid) if pid != child.pid]
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if child.poll() is None:
            child.kill()
            child.communicate()
    return out, err, left


def in_namespace(line: str, env: dict[str, str]) -> tuple[str, str, list[int]]:
    """``line`` (a shell line) in a private mount namespace with a small tmpfs on /dev/shm
    and a tmpfs on /tmp/ray, Ray's folder (see :func:`in_session`)."""
    created = not RAY_TMP.exists()  # the mount point, removed after when made here
    mounts = (
        f"mount -t tmpfs -o size={SMALL_SHM} tmpfs /dev/shm && mkdir -p {RAY_TMP} && "
        f"mount -t tmpfs -o size=2g tmpfs {RAY_TMP}"
    )
    try:
        return in_session(["unshare", "-m", "sh", "-c", f"{mounts} && {line}"], env)
    finally:
        if created:
            with contextlib.suppress(OSError):
                RAY_TMP.rmdir()


def doctor_then_ray(env: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any], str]:
    """The doctor's report, then a real Ray start, in one namespace: both see the same
    /dev/shm. Returns the report, the driver's findings and the driver's stderr."""
    marker = "=== ray ==="
    out, err, left = in_namespace(
        f"{script('lkdoctor')} --no-bench --json && echo '{marker}' >&2 && "
        f"{sys.executable} {DRIVER}",
        {"LK_USE_RAY": "1", "RAY_USAGE_STATS_ENABLED": "0", **env},
    )
    assert left == [], f"Ray left processes running after ray.shutdown(): {left}"
    report_text, _, driver_line = out.partition("RAY-DRIVER ")
    assert driver_line, f"no answer from the Ray driver:\n{err[-3000:]}"
    return json.loads(report_text), json.loads(driver_line), err.partition(marker)[2]


def shm_of_ray() -> set[str]:
    """Ray's files in the machine's own /dev/shm (its store's files are unlinked at once)."""
    return {p.name for p in Path("/dev/shm").iterdir() if "plasma" in p.name or "ray" in p.name}


@pytest.fixture
def nothing_left_behind() -> Any:
    """Nothing of Ray's appears in the machine's /dev/shm; each test checks that its Ray
    session's folder is not in the machine's /tmp/ray either (others' Ray runs on this
    machine may add theirs meanwhile)."""
    before = shm_of_ray()
    yield
    assert shm_of_ray() <= before


def test_a_small_dev_shm_puts_the_ray_store_in_tmp_as_predicted(nothing_left_behind: None) -> None:
    _require_root_and_unshare()
    report, ray, ray_err = doctor_then_ray({})
    workers = report["workers"]
    assert workers["mode"] == "ray"
    store = workers["ray_store"]
    assert (store["status"], store["starts"], store["in_shm"]) == ("predicted", True, False)
    assert store["directory"] == "/tmp/ray"
    assert store["shm_available_bytes"] <= 256 * 2**20 < store["size_bytes"]
    [finding] = [f for f in report["findings"] if f["id"] == "ray-object-store-in-tmp"]
    assert finding["severity"] == "warning"
    assert str(store["size_bytes"]) in finding["evidence"]
    assert "--shm-size=" in finding["remediation"]
    # what Ray did: its own warning, its raylet's store folder, a store of the size said
    assert "The object store is using /tmp/ray instead of /dev/shm" in ray_err
    assert ray["plasma_directory"] == "/tmp/ray"
    assert ray["session_dir"].startswith("/tmp/ray/session_")
    assert not Path(ray["session_dir"]).exists()  # it was in the namespace's own /tmp/ray
    # Ray sizes by the memory available when it starts, seconds later on a machine other
    # work shares: within 20%
    assert abs(ray["object_store_memory"] - store["size_bytes"]) <= 0.2 * store["size_bytes"]
    # the suggested store size, taken, is the next test
    share = finding["env"]["RAY_DEFAULT_OBJECT_STORE_MEMORY_PROPORTION"]
    assert 0 < float(share) < 0.3


def test_the_suggested_store_size_fits_dev_shm_and_is_not_flagged(
    nothing_left_behind: None,
) -> None:
    _require_root_and_unshare()
    # the export the finding suggests for 256 MiB of /dev/shm: computed by the doctor in
    # the namespace first, then taken as a user would
    first, _, _ = in_namespace(f"{script('lkdoctor')} --no-bench --json", {"LK_USE_RAY": "1"})
    [finding] = [f for f in json.loads(first)["findings"] if f["id"] == "ray-object-store-in-tmp"]
    report, ray, ray_err = doctor_then_ray(finding["env"])
    store = report["workers"]["ray_store"]
    assert (store["directory"], store["in_shm"], store["starts"]) == ("/dev/shm", True, True)
    assert store["size_bytes"] <= store["shm_available_bytes"]
    assert "ray-object-store-in-tmp" not in {f["id"] for f in report["findings"]}
    assert "instead of /dev/shm" not in ray_err
    assert ray["plasma_directory"] == "/dev/shm"
    assert not Path(ray["session_dir"]).exists()
    assert ray["object_store_memory"] <= 256 * 2**20


def test_ray_tasks_at_once_follow_batch_jobs_and_the_node_cpus() -> None:
    """Each batch task asks Ray for num_backend_threads CPUs on a node of LensKit's CPU
    count, and LensKit lets num_batch_jobs run at once: the smaller is the Ray workers."""
    from helpers import run_cli

    env = {"LK_USE_RAY": "1", "LK_NUM_BATCH_JOBS": "64", "LK_NUM_BACKEND_THREADS": "1"}
    done = run_cli(script("lkdoctor"), "--no-bench", "--json", env=target_environ(env))
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    [level] = data["workers"]["levels"]
    assert (level["mode"], level["workers"]) == ("ray", min(64, data["cpu"]["lenskit_effective"]))
    assert "Ray runs" in level["source"]


def test_joining_an_existing_cluster_predicts_no_store() -> None:
    from lkdoctor.workers.ray_store import collect_ray_store

    store = collect_ray_store({"RAY_ADDRESS": "10.0.0.5:6379"})
    assert store.status == "existing-cluster" and "10.0.0.5:6379" in store.detail


def test_the_model_goes_into_the_store_with_the_bytes_predicted(
    saved_models: dict[str, Path], nothing_left_behind: None
) -> None:
    """``--model`` under ``LK_USE_RAY=1`` predicts the bytes ``ray.put()`` copies into the
    object store once; Ray records the size of each real put (LensKit's serializers
    registered, as its batch path does): numpy-backed ItemKNN and torch-backed FlexMF."""
    predicted = {}
    for path in saved_models.values():
        measure = ["--model", str(path), "--model-timeout", str(REAL_TIMEOUT)]
        done = subprocess.run(
            [script("lkdoctor"), "--no-bench", "--json", *measure],
            capture_output=True,
            text=True,
            timeout=REAL_TIMEOUT + 120,
            check=False,
            env=target_environ({"LK_USE_RAY": "1"}),
        )
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        model = report["workers"]["model"]
        assert model["status"] == "measured", model["detail"]
        assert model["object_store_bytes"] == model["in_band_bytes"] + model["shared_bytes"]
        assert model["shm_need_bytes"] == 0  # no LensKit segments: Ray's store instead
        workers = report["workers"]["levels"][0]["workers"]
        assert model["workers"] == workers >= 1
        assert model["predicted_peak_bytes"] == (
            model["parent_rss_bytes"]
            + model["object_store_bytes"]
            + workers * (model["worker_base_uss_bytes"] + model["worker_model_bytes"])
        )
        predicted[str(path)] = model["object_store_bytes"]
    # Ray's folder in a short one of the test's own (its socket paths have a length limit),
    # removed after: the machine's /tmp/ray stays as it was
    ray_tmp = tempfile.mkdtemp(prefix="lkdr-", dir="/tmp")
    try:
        out, err, left = in_session(
            [sys.executable, str(DRIVER), *predicted],
            {"RAY_USAGE_STATS_ENABLED": "0", "RAY_TMPDIR": ray_tmp},
        )
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert left == [], f"Ray left processes running after ray.shutdown(): {left}"
    _, _, line = out.partition("RAY-DRIVER ")
    assert line, err[-3000:]
    driver = json.loads(line)
    assert driver["session_dir"].startswith(ray_tmp) and not os.path.exists(ray_tmp)
    sizes = driver["put_sizes"]
    for path, size in predicted.items():
        # Ray's record adds its own small header to the serialized bytes
        assert abs(sizes[path] - size) <= 0.01 * size, (path, sizes[path], size)
