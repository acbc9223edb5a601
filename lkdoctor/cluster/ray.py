"""``--ray``: the cluster section, one report for every node of an existing Ray cluster.

The driver connects to a running cluster (never starts one), runs the node task it is
given (the pipeline, on that node) as a Ray task pinned to each alive node, and gathers
the reports. A node that does not answer in time, or fails, becomes an ``errors[]``
entry; the other nodes are still reported. Ray is imported only here, only in cluster mode.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from lkdoctor.collected import Collected, guard
from lkdoctor.model import ClusterSummary, ErrorEntry, Section
from lkdoctor.report import ClusterNode, ClusterReport, Report

#: What runs on each node: a report there, as JSON-ready data.
NodeTask = Callable[[], dict[str, Any]]

RAY_MISSING = (
    "Ray is not installed, so the cluster mode cannot run: "
    "install it with `pip install 'lkdoctor[ray]'` (or `pip install ray`)"
)
DEFAULT_NODE_TIMEOUT = 60.0
CONNECT_CHECK_TIMEOUT = 5.0


class ClusterUnavailable(Exception):
    """No cluster to diagnose: Ray is missing, or nothing answers at the address."""


def resolve_address(address: str | None, environ: Mapping[str, str] | None = None) -> str:
    """The address to connect to: the given one, else ``RAY_ADDRESS``, else ``auto``.

    ``local`` (and anything that would make Ray start its own cluster) is refused:
    the doctor diagnoses an existing cluster and never starts one.
    """
    env = os.environ if environ is None else environ
    resolved = (address or "").strip()
    if resolved in ("", "auto"):
        resolved = env.get("RAY_ADDRESS", "").strip() or "auto"
    if resolved == "local":
        raise ClusterUnavailable(
            "address 'local' would start a new Ray instance; the doctor only connects to a "
            "running cluster: give its address (`--ray HOST:PORT`) or set RAY_ADDRESS"
        )
    return resolved


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ClusterUnavailable(RAY_MISSING) from exc
    return ray


#: Longer addresses are cut in messages (no real one comes near).
_SHOWN_ADDRESS_CHARS = 200
_MAX_PORT = 65535


def _shown(address: str) -> str:
    """``address`` for a message: cut, saying its length, when no real address is that long."""
    if len(address) <= _SHOWN_ADDRESS_CHARS:
        return address
    return f"{address[:_SHOWN_ADDRESS_CHARS]}… ({len(address):,} characters)"


def _host_port(address: str) -> tuple[str, int] | None:
    """``host:port`` of an address (``ray://`` prefix allowed), or None if it has no port."""
    bare = address.removeprefix("ray://").rsplit("/", 1)[0]
    host, sep, port = bare.rpartition(":")
    if not sep or not port.isascii() or not port.isdigit():
        return None
    # leading zeros off and the length checked before int(), which refuses more than 4,300
    # digits with a ValueError
    digits = port.lstrip("0") or "0"
    if len(digits) > len(str(_MAX_PORT)) or int(digits) > _MAX_PORT:
        raise ClusterUnavailable(
            f"{_shown(address)} has no valid port: a port is a number from 0 to {_MAX_PORT}"
        )
    return host.strip("[]") or "127.0.0.1", int(digits)


def _find_running_cluster(ray: Any) -> str:
    """Resolve ``auto`` the way Ray does, without connecting; raise when nothing runs."""
    try:
        from ray._private.services import canonicalize_bootstrap_address
    except ImportError:  # a Ray without that helper: let ray.init resolve it
        return "auto"
    not_found = (
        "no running Ray cluster found on this machine (RAY_ADDRESS is unset and "
        "`ray start` has not been run here): give the cluster's address with "
        "`--ray HOST:PORT` or set RAY_ADDRESS"
    )
    try:
        found = canonicalize_bootstrap_address("auto")
    except Exception as exc:  # ConnectionError when nothing runs; anything else alike
        raise ClusterUnavailable(f"{not_found} ({type(exc).__name__}: {exc})") from exc
    if not found:
        raise ClusterUnavailable(not_found)
    return str(found)


def _check_reachable(address: str, timeout: float = CONNECT_CHECK_TIMEOUT) -> None:
    """Fail fast when nothing listens at the address: ``ray.init`` would retry for minutes."""
    host_port = _host_port(address)
    if host_port is None:
        return
    try:
        with socket.create_connection(host_port, timeout=timeout):
            pass
    except OSError as exc:
        raise ClusterUnavailable(
            f"no Ray cluster answers at {_shown(address)} ({exc.strerror or exc}); start one with "
            "`ray start --head` or give the right address"
        ) from exc


def connect(ray: Any, address: str, *, exit_after: float | None = None) -> str:
    """Connect this process to the running cluster at ``address``; return the address used.

    ``ray.init`` retries for many minutes when something listens at the address but
    does not answer like a Ray cluster. ``exit_after`` (for the command line only, which
    owns its process) ends the process with status 2 and a message after that many seconds.
    """
    target = _find_running_cluster(ray) if address == "auto" else address
    _check_reachable(target)
    watchdog = None if exit_after is None else _exit_when_stuck(target, exit_after)
    try:
        ray.init(
            address=target,
            log_to_driver=False,  # node output must not mix into --json on stdout
            logging_level="ERROR",
            configure_logging=True,
        )
    except Exception as exc:  # version mismatch, refused handshake, ...
        first_line = (str(exc).strip().splitlines() or [""])[0]
        raise ClusterUnavailable(
            f"cannot connect to the Ray cluster at {target}: {type(exc).__name__}: {first_line}"
        ) from exc
    finally:
        if watchdog is not None:
            watchdog.cancel()
    return target


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Send whatever Ray prints (Python or C++, any thread) to stderr, at the fd level.

    The command line's stdout is the report (``--json``: nothing else). Ray's core
    worker can print there while nodes fail or are cancelled.
    """
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _exit_when_stuck(address: str, seconds: float) -> threading.Timer:
    def give_up() -> None:
        sys.stderr.write(
            f"lkdoctor: nothing at {_shown(address)} answered like a Ray cluster within "
            f"{seconds:g} s "
            "(wrong port, or the cluster is not healthy)\n"
        )
        sys.stderr.flush()
        os._exit(2)  # ray.init cannot be interrupted; the process is ours (CLI only)

    timer = threading.Timer(seconds, give_up)
    timer.daemon = True
    timer.start()
    return timer


def _remote_collector(ray: Any, node_task: NodeTask) -> Any:
    """``node_task`` as a Ray task for one node (no CPU reserved: busy nodes still answer)."""
    return ray.remote(num_cpus=0, max_retries=0)(node_task)


def _current_address(ray: Any) -> str:
    try:
        return str(ray.get_runtime_context().gcs_address)
    except Exception:
        return "(already connected)"


def _alive_nodes(ray: Any) -> list[ClusterNode]:
    nodes = []
    for info in ray.nodes():
        if not info.get("Alive", info.get("alive", False)):
            continue
        resources = {str(k): float(v) for k, v in (info.get("Resources") or {}).items()}
        nodes.append(
            ClusterNode(
                node_id=str(info["NodeID"]),
                ip=str(info.get("NodeManagerAddress", "")),
                hostname=info.get("NodeManagerHostname"),
                is_head="node:__internal_head__" in resources,
                ray_resources=resources,
                ray_cpus=resources.get("CPU"),
                status="failed",
            )
        )
    nodes.sort(key=lambda n: (not n.is_head, n.ip, n.node_id))
    return nodes


def _node_label(node: ClusterNode) -> str:
    return f"node {node.label}"


def _describe_task_failure(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    # Ray's task errors carry the remote traceback; its last line is the cause.
    cause = next((line for line in reversed(text) if line.strip()), type(exc).__name__)
    if "No module named 'lkdoctor'" in cause:
        cause += " (install lkdoctor on every node of the cluster)"
    return f"{type(exc).__name__}: {cause.strip()}"


def _run_on_nodes(
    ray: Any, nodes: list[ClusterNode], timeout: float, node_task: NodeTask
) -> list[ErrorEntry]:
    """Run ``node_task`` pinned to each node; fill in reports and statuses, return the errors."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    errors: list[ErrorEntry] = []
    collector = _remote_collector(ray, node_task)
    started = time.monotonic()
    pending = {
        collector.options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(node.node_id, soft=False)
        ).remote(): node
        for node in nodes
    }
    deadline = started + timeout
    while pending:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        ready, _ = ray.wait(list(pending), num_returns=1, timeout=remaining)
        for ref in ready:
            node = pending.pop(ref)
            node.seconds = round(time.monotonic() - started, 3)
            errors.extend(_take_result(ray, ref, node))
    for ref, node in pending.items():
        node.status = "timeout"
        errors.append(
            ErrorEntry(
                section=Section.CLUSTER,
                message=f"{_node_label(node)} did not answer within {timeout:g} s; "
                "its report is missing (is the node overloaded or unreachable?)",
            )
        )
        with contextlib.suppress(Exception):  # best effort: the node may be gone already
            ray.cancel(ref, force=True)
    return errors


def _take_result(ray: Any, ref: Any, node: ClusterNode) -> list[ErrorEntry]:
    """The node's report; its failure is an error entry and must not lose the others."""
    answer = guard(
        Section.CLUSTER,
        lambda: Report.model_validate(ray.get(ref)),
        part=_node_label(node),
        describe=_describe_task_failure,
    )
    node.report = answer.value
    node.status = "ok" if answer.value is not None else "failed"
    return answer.errors


def summarise(nodes: list[ClusterNode], timeout: float) -> ClusterSummary:
    reports = [n.report for n in nodes if n.report is not None]
    budgets = [r.cpu.effective for r in reports if r.cpu is not None]
    plans = {r.plan_signature() for r in reports}
    return ClusterSummary(
        nodes_alive=len(nodes),
        nodes_reported=len(reports),
        ray_cpus=sum(n.ray_cpus or 0.0 for n in nodes),
        effective_cpus=sum(budgets),
        budgets=sorted(set(budgets)),
        heterogeneous=len(set(budgets)) > 1 or len(plans) > 1,
        timeout_seconds=timeout,
    )


@contextlib.contextmanager
def connected(
    address: str | None,
    *,
    environ: Mapping[str, str] | None = None,
    exit_after: float | None = None,
) -> Iterator[tuple[Any, str]]:
    """Ray, connected to the running cluster at ``address``, and the address used.

    ``address`` defaults to ``RAY_ADDRESS``, else ``auto`` (the cluster ``ray start``
    left on this machine). Raises `ClusterUnavailable` when Ray is missing or no cluster
    runs there; never starts one. A connection opened here is closed again on exit.
    ``exit_after`` (the command line) ends the process when connecting takes that long.
    """
    target = resolve_address(address, environ)
    ray = _import_ray()
    was_connected = bool(ray.is_initialized())
    used = _current_address(ray) if was_connected else connect(ray, target, exit_after=exit_after)
    try:
        yield ray, used
    finally:
        if not was_connected:  # leave the caller's process as found
            ray.shutdown()


def collect_cluster(
    ray: Any, address: str, node_task: NodeTask, *, timeout: float = DEFAULT_NODE_TIMEOUT
) -> Collected[ClusterReport]:
    """The cluster section: ``node_task``'s report from every alive node of the connected
    cluster, each given ``timeout`` seconds; a part that fails is an error entry."""
    alive = guard(Section.CLUSTER, lambda: _alive_nodes(ray))
    nodes = alive.value or []
    ran = guard(Section.CLUSTER, lambda: _run_on_nodes(ray, nodes, timeout, node_task))
    cluster = ClusterReport(
        address=address,
        ray_version=getattr(ray, "__version__", None),
        nodes=nodes,
        summary=summarise(nodes, timeout),
    )
    return Collected(cluster, [*alive.errors, *(ran.value or []), *ran.errors])
