"""A real local Ray cluster for the cluster-doctor tests: nodes started with `ray start`.

Every node is one `ray start --block` in a session of its own, so everything it starts
(GCS, raylet, agents, workers) shares that session id, and stopping means ending exactly
those processes by pid. (`ray stop` would end every Ray process on the machine by name.)
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from helpers import script

START_TIMEOUT = 120.0
STOP_GRACE = 15.0
OBJECT_STORE_BYTES = 80 * 1024 * 1024  # Ray's minimum is 75 MiB


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RayNode:
    name: str
    process: subprocess.Popen[bytes]
    log: Path
    resource: str = field(default="")

    def session_pids(self) -> list[int]:
        """Every live process in this node's session: what `ray start` started, by id."""
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if os.getsid(int(entry.name)) != self.process.pid:
                    continue
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue
            if state != "Z":  # a zombie has ended already; only its parent's wait is due
                pids.append(int(entry.name))
        return pids

    def raylet_pid(self) -> int:
        for pid in self.session_pids():
            try:
                exe = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
            except OSError:
                continue
            if exe.endswith(b"/raylet"):
                return pid
        raise AssertionError(f"no raylet in {self.name}'s session:\n{self.log.read_text()}")

    def signal_all(self, signum: int) -> None:
        for pid in self.session_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    def stop(self) -> None:
        """SIGTERM (ray start --block then stops its processes), SIGKILL what is left."""
        self.signal_all(signal.SIGCONT)  # a node a test froze must be able to exit
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        while time.monotonic() < deadline:
            self.process.poll()  # reap `ray start` itself once it has exited
            if not self.session_pids():
                break
            time.sleep(0.2)
        self.signal_all(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)


class LocalRayCluster:
    """A head and any number of worker nodes on this machine, in a private temp dir."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.temp_dir = workdir / "ray"  # session files; short path: socket names are limited
        self.temp_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.nodes: list[RayNode] = []

    def _env(self, extra: Mapping[str, str]) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "LK_"))}
        env.update(RAY_TMPDIR=str(self.temp_dir), RAY_USAGE_STATS_ENABLED="0")
        # The GCS would declare a frozen (SIGSTOPped) node dead after a few missed health
        # checks, sooner on a loaded machine; the tests freeze one to test the doctor's own
        # timeout, so the GCS keeps waiting.
        env.update(RAY_health_check_failure_threshold="100000")
        env.update(extra)
        return env

    def start_node(
        self,
        name: str,
        *,
        num_cpus: int,
        head: bool = False,
        cpus: set[int] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> RayNode:
        """Start a node; ``cpus`` pins it (and every worker it starts) to those CPUs."""
        resource = f"lkd_{name}"
        args = [
            script("ray"),
            "start",
            "--block",
            f"--num-cpus={num_cpus}",
            f"--resources={json.dumps({resource: 1})}",
            f"--object-store-memory={OBJECT_STORE_BYTES}",
            "--disable-usage-stats",
            f"--dashboard-agent-listen-port={free_port()}",
            "--node-ip-address=127.0.0.1",
        ]
        if head:
            args += [
                "--head",
                f"--port={self.port}",
                "--include-dashboard=false",
                f"--dashboard-port={free_port()}",
                f"--temp-dir={self.temp_dir}",
            ]
        else:
            args.append(f"--address={self.address}")
        log = self.workdir / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                args,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self._env(env or {}),
                start_new_session=True,
                preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
            )
        node = RayNode(name, process, log, resource)
        self.nodes.append(node)
        self._wait_started(node)
        return node

    def _wait_started(self, node: RayNode) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if "Ray runtime started" in node.log.read_text(errors="replace"):
                return
            if node.process.poll() is not None:
                break
            time.sleep(0.3)
        raise AssertionError(f"ray start {node.name} did not come up:\n{node.log.read_text()}")

    def stop_node(self, node: RayNode) -> None:
        node.stop()
        self.nodes.remove(node)

    def stop(self) -> None:
        for node in reversed(self.nodes):  # workers first, the head (GCS) last
            node.stop()
        self.nodes.clear()
