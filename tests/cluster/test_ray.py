"""`--ray` against a real two-node Ray cluster on this machine.

The head advertises one CPU more than this machine's affinity allows (so Ray
overcommits it); the worker is pinned to a single CPU with `--num-cpus=1` and its own
LensKit setting, so the two nodes differ, and each report can only have come from the
node it claims. A third node, frozen with SIGSTOP, shows the per-node timeout.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from helpers import run_cli, script
from ray_cluster import LocalRayCluster, free_port

AFFINITY = sorted(os.sched_getaffinity(0))
HEAD_CPUS = len(AFFINITY) + 1  # more than any budget this machine can give a process
WORKER_CPU = AFFINITY[0]
NODE_TIMEOUT = "60"


PLANTED_USER = "zed-planted"
PLANTED_SECRET = "tok-planted-ray-4242"


@pytest.fixture(scope="module")
def planted() -> Iterator[dict[str, str]]:
    """A user, home folder and secret set for every node and for the driver, each also in a
    variable the report shows, so a report that leaks them says so."""
    home = Path(tempfile.mkdtemp(prefix="lkdhome", dir="/tmp")) / "home" / PLANTED_USER
    home.mkdir(parents=True)
    yield {
        "HOME": str(home),
        "USER": PLANTED_USER,
        "SLURM_JOB_USER": PLANTED_USER,  # shown as it is unless --redact
        "CONDA_PREFIX": str(home / "conda"),  # shown: the home folder unless --redact
        "APP_TOKEN": PLANTED_SECRET,
        "CONDA_DEFAULT_ENV": f"env-{PLANTED_SECRET}",  # shown: the secret, hunted down
    }
    shutil.rmtree(home.parents[1], ignore_errors=True)


# Module scope: started once, and stopped before the rest of the suite (benchmarks among
# it) runs, so an idle cluster never competes with them for the CPUs.
@pytest.fixture(scope="module")
def ray_cluster(planted: dict[str, str]) -> Iterator[LocalRayCluster]:
    # A short path: Ray's socket names live under it and Unix socket paths are limited.
    workdir = Path(tempfile.mkdtemp(prefix="lkdray", dir="/tmp"))
    cluster = LocalRayCluster(workdir)
    try:
        cluster.start_node("head", num_cpus=HEAD_CPUS, head=True, env=planted)
        cluster.start_node(
            "worker",
            num_cpus=1,
            cpus={WORKER_CPU},
            env={**planted, "LK_NUM_BACKEND_THREADS": "1"},
        )
        yield cluster
    finally:
        nodes = list(cluster.nodes)
        cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)
        leftovers = [pid for node in nodes for pid in node.session_pids()]
        assert not leftovers, f"Ray processes left running: {leftovers}"


def _doctor(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_cli(script("lkdoctor"), *args, add_env=env, timeout=240)


@pytest.fixture(scope="module")
def cluster_json(ray_cluster: LocalRayCluster) -> dict[str, Any]:
    """``--ray`` without an address: RAY_ADDRESS names the cluster."""
    env = {"RAY_ADDRESS": ray_cluster.address}
    return _report(_doctor("--ray", "--ray-timeout", NODE_TIMEOUT, "--json", env=env))


def _report(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The JSON report on stdout, which must hold nothing else."""
    assert result.returncode == 0, result.stderr
    try:
        data: dict[str, Any] = json.loads(result.stdout)
    except json.JSONDecodeError as exc:
        raise AssertionError(f"not JSON: {result.stdout[:2000]!r}\n{result.stderr}") from exc
    return data


def _node(data: dict[str, Any], name: str) -> dict[str, Any]:
    """The node started as ``name``, found by the custom resource the fixture gave it."""
    found = [n for n in data["cluster"]["nodes"] if f"lkd_{name}" in n["ray_resources"]]
    assert len(found) == 1, data["cluster"]["nodes"]
    return found[0]


def _local_effective() -> int:
    import lkdoctor

    cpu = lkdoctor.collect(bench=False).cpu
    assert cpu is not None
    return cpu.effective


def test_every_node_reports_from_itself(
    cluster_json: dict[str, Any], ray_cluster: LocalRayCluster
) -> None:
    cluster = cluster_json["cluster"]
    assert cluster_json["errors"] == []
    assert cluster["address"] == ray_cluster.address  # from RAY_ADDRESS
    assert cluster["summary"]["nodes_alive"] == 2
    assert cluster["summary"]["nodes_reported"] == 2
    head, worker = _node(cluster_json, "head"), _node(cluster_json, "worker")
    assert head["is_head"] and not worker["is_head"]
    assert head["node_id"] != worker["node_id"]
    assert (head["ray_cpus"], worker["ray_cpus"]) == (HEAD_CPUS, 1)
    assert head["status"] == worker["status"] == "ok"
    # The worker node's processes are pinned to one CPU: only a report made there says so.
    worker_cpu = worker["report"]["cpu"]
    affinity = next(lim for lim in worker_cpu["limits"] if lim["source"] == "affinity")
    assert affinity["value"] == 1 and worker_cpu["effective"] == 1
    assert head["report"]["cpu"]["effective"] == _local_effective()
    # ... and only the worker node was started with LK_NUM_BACKEND_THREADS.
    assert worker["report"]["plan"]["inputs"].get("LK_NUM_BACKEND_THREADS") == "1"
    assert "LK_NUM_BACKEND_THREADS" not in head["report"]["plan"]["inputs"]
    assert cluster["summary"]["budgets"] == sorted({1, head["report"]["cpu"]["effective"]})
    assert cluster["summary"]["ray_cpus"] == HEAD_CPUS + 1


def test_node_reports_have_the_single_machine_shape(cluster_json: dict[str, Any]) -> None:
    schema = json.loads(_doctor("--json-schema").stdout)
    jsonschema.validate(cluster_json, schema)
    for node in cluster_json["cluster"]["nodes"]:
        jsonschema.validate(node["report"], schema)
        assert node["report"]["cluster"] is None
        assert {"cpu", "plan", "findings", "errors"} <= set(node["report"])


def test_overcommitted_node_is_a_finding(cluster_json: dict[str, Any]) -> None:
    head, worker = _node(cluster_json, "head"), _node(cluster_json, "worker")
    overcommit = [f for f in cluster_json["findings"] if f["id"] == "ray-cpu-overcommit"]
    assert len(overcommit) == 1, cluster_json["findings"]
    finding = overcommit[0]
    assert head["node_id"][:8] in finding["title"]
    assert worker["node_id"][:8] not in finding["title"]
    assert f"CPU={HEAD_CPUS}" in finding["evidence"]
    budget = head["report"]["cpu"]["effective"]
    assert f"--num-cpus={budget}" in finding["remediation"]


def test_concurrent_tasks_on_the_overcommitted_node_are_a_finding(
    cluster_json: dict[str, Any],
) -> None:
    head = _node(cluster_json, "head")
    [finding] = [f for f in cluster_json["findings"] if f["id"] == "ray-tasks-oversubscribed"]
    assert head["node_id"][:8] in finding["title"]  # the worker: 1 task × 1 thread on 1 CPU
    peak = head["report"]["plan"]["peak_threads"]
    assert f"{HEAD_CPUS} × {peak} = {HEAD_CPUS * peak}" in finding["evidence"]
    assert finding["env"]["LK_NUM_THREADS"] == "1"


def test_differing_nodes_are_a_finding(cluster_json: dict[str, Any]) -> None:
    assert cluster_json["cluster"]["summary"]["heterogeneous"] is True
    [finding] = [f for f in cluster_json["findings"] if f["id"] == "cluster-heterogeneous"]
    assert "CPU budgets" in finding["title"]
    for name in ("head", "worker"):
        assert _node(cluster_json, name)["node_id"][:8] in finding["evidence"]


def test_text_and_markdown_show_every_node(ray_cluster: LocalRayCluster) -> None:
    text = _doctor("--ray", ray_cluster.address, "--fail-on", "warning", "--color", "never")
    assert text.returncode == 1, text.stderr  # the overcommit warning meets --fail-on
    assert "Ray cluster" in text.stdout and "2 of 2 nodes answered" in text.stdout
    assert "[ray-cpu-overcommit]" in text.stdout and "Traceback" not in text.stderr
    node_rows = [line for line in text.stdout.splitlines() if re.search(r" ok \d+\.\d s$", line)]
    assert len(node_rows) == 2, text.stdout
    assert any(line.split()[1] == "head" for line in node_rows)

    markdown = _doctor("--ray", ray_cluster.address, "--format", "markdown")
    assert markdown.returncode == 0, markdown.stderr
    assert "<summary>✗ Ray cluster</summary>" in markdown.stdout  # ray-tasks-oversubscribed
    assert "| node | ip | Ray CPUs | budget | LensKit | peak threads | answer |" in markdown.stdout
    assert markdown.stdout.count("| ok |") == 2


def _hostname_shown(text: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(socket.gethostname())}(?![\w-])", text) is not None


@pytest.mark.parametrize("fmt", ["json", "text", "markdown"])
def test_redact_hides_every_nodes_identity_and_secrets_never_show(
    ray_cluster: LocalRayCluster, planted: dict[str, str], fmt: str
) -> None:
    """Each node's report and the cluster report are masked in every format: the secret
    always, host names, user and home folder under --redact."""
    args = ("--ray", ray_cluster.address, "--format", fmt, "--color", "never")
    plain = _doctor(*args, env=planted)
    redacted = _doctor(*args, "--redact", env=planted)
    for result in (plain, redacted):
        assert result.returncode == 0, result.stderr
        assert PLANTED_SECRET not in result.stdout
    shown = (PLANTED_USER, planted["HOME"])
    for leak in shown:
        assert leak not in redacted.stdout
    assert not _hostname_shown(redacted.stdout)
    if fmt == "json":  # the identity is there to hide: without --redact, JSON shows it
        data = json.loads(plain.stdout)
        assert all(leak in plain.stdout for leak in shown)
        assert data["cluster"]["summary"]["nodes_reported"] == 2
        assert {n["hostname"] for n in data["cluster"]["nodes"]} == {socket.gethostname()}
        worker_variables = _node(data, "worker")["report"]["environment"]["variables"]
        assert worker_variables["CONDA_DEFAULT_ENV"] == "env-****"  # hunted down on the node
        hidden = json.loads(redacted.stdout)
        assert {n["hostname"] for n in hidden["cluster"]["nodes"]} == {"<host>"}
        for name in ("head", "worker"):
            variables = _node(hidden, name)["report"]["environment"]["variables"]
            assert variables["SLURM_JOB_USER"] == "<user>"
            assert variables["CONDA_PREFIX"] == "~/conda"
            assert _node(hidden, name)["report"]["environment"]["redacted"] is True


def test_library_call_disconnects_only_what_it_connected(ray_cluster: LocalRayCluster) -> None:
    program = f"""
import json, ray
import lkdoctor
first = lkdoctor.collect(ray={ray_cluster.address!r}, ray_timeout=60)
after_own = ray.is_initialized()
ray.init(address={ray_cluster.address!r}, log_to_driver=False, logging_level="ERROR")
second = lkdoctor.collect(ray="auto", ray_timeout=60)
kept = ray.is_initialized()
ray.shutdown()
print(json.dumps([after_own, kept, first.cluster.summary.nodes_reported,
                  second.cluster.summary.nodes_reported]))
"""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    result = subprocess.run(
        [sys.executable, "-c", program],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    after_own, kept, first, second = json.loads(result.stdout.splitlines()[-1])
    assert (after_own, kept) == (False, True)
    assert first == second == 2


def test_no_cluster_at_the_address_is_a_message_not_a_new_cluster() -> None:
    port = free_port()  # closed again: nothing listens there
    result = _doctor("--ray", f"127.0.0.1:{port}", "--json")
    assert result.returncode == 2
    assert result.stdout == ""
    assert f"no Ray cluster answers at 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_something_else_at_the_address_ends_after_the_timeout() -> None:
    # A port that accepts connections but never speaks Ray's protocol: ray.init alone
    # would retry for many minutes.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        address = f"127.0.0.1:{silent.getsockname()[1]}"
        result = _doctor("--ray", address, "--ray-timeout", "3", "--json")
    assert result.returncode == 2
    assert result.stdout == ""
    assert f"nothing at {address} answered like a Ray cluster within 3 s" in result.stderr


def test_local_address_is_refused() -> None:
    for args, env in ((("--ray", "local"), None), (("--ray",), {"RAY_ADDRESS": "local"})):
        result = _doctor(*args, env=env)
        assert result.returncode == 2
        assert "only connects to a running cluster" in result.stderr


def test_missing_ray_says_what_to_install() -> None:
    # `None` in sys.modules is how Python itself marks a module unimportable.
    program = (
        "import sys; sys.modules['ray'] = None\n"
        "from lkdoctor.cli import doctor\n"
        "doctor(['--ray', '127.0.0.1:6379'], prog_name='lkdoctor')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 2
    assert "pip install 'lkdoctor[ray]'" in result.stderr
    assert "Traceback" not in result.stderr


def test_ray_excludes_pid_and_apply() -> None:
    result = _doctor("--ray", "127.0.0.1:6379", "--pid", str(os.getpid()))
    assert result.returncode == 2
    assert "--ray cannot be combined" in result.stderr


# Last in this module: the frozen node is removed again, but Ray takes a moment to notice.
def test_node_that_does_not_answer_is_an_error_and_others_are_reported(
    ray_cluster: LocalRayCluster,
) -> None:
    frozen = ray_cluster.start_node("frozen", num_cpus=1)
    try:
        os.kill(frozen.raylet_pid(), signal.SIGSTOP)
        result = _doctor("--ray", ray_cluster.address, "--ray-timeout", "40", "--json")
    finally:
        ray_cluster.stop_node(frozen)
    data = _report(result)
    stuck = _node(data, "frozen")
    assert stuck["status"] == "timeout" and stuck["report"] is None
    [error] = [e for e in data["errors"] if e["section"] == "cluster"]
    assert stuck["node_id"][:8] in error["message"]
    assert "did not answer within 40 s" in error["message"]
    for name in ("head", "worker"):
        node = _node(data, name)
        assert node["status"] == "ok" and node["report"]["cpu"]["effective"] >= 1
    assert data["cluster"]["summary"]["nodes_reported"] == 2
    assert data["cluster"]["summary"]["nodes_alive"] == 3
