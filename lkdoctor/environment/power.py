"""``--power``: LensKit's own power measurement, as LensKit 2026's doctor (``PowerInspector``)
shows it; LensKit 2025.8 measures the same way, though its doctor does not show it.

LensKit measures power by asking Prometheus, with the queries its settings give for the
machine named by ``machine`` (``LK_MACHINE`` or ``lenskit.local.toml``), over the last 60
seconds. lkdoctor does not reimplement that: a child process loads LensKit's settings as
the ``lenskit`` command does (``-R``, else ``LK_PROJECT_ROOT``, else LensKit's own search)
and calls LensKit's ``measure_power`` for each scope. It is opt-in because loading
``lenskit.config`` imports torch (seconds) and the query waits on the network; a hard
time limit ends a child that hangs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from lkdoctor.model import PowerInfo

#: LensKit's doctor measures over the last 60 seconds.
WINDOW_SECONDS = 60.0
#: How long the child may take: importing LensKit and torch, then three queries.
POWER_TIMEOUT = 180.0

_CHILD = """
import inspect, json, os, sys
from pathlib import Path

def emit(**fields):
    sys.stdout.write("\\n" + json.dumps(fields) + "\\n")

try:
    from lenskit.config import configure, locate_configuration_root
    from lenskit.logging.tasks import measure_power
except ImportError as exc:
    emit(status="unsupported", message=f"the installed LensKit has no power measurement ({exc})")
    sys.exit(0)
root, window = sys.argv[1], float(sys.argv[2])
if not root:
    root = os.environ.get("LK_PROJECT_ROOT") or locate_configuration_root()
config = configure(cfg_dir=Path(root) if root else None)
where = "(see https://lenskit.org/q/power)"
machine = config.current_machine
if machine is None:
    if config.machine:
        emit(status="machine-not-configured", machine=config.machine,
             message=f"Machine {config.machine} is not configured {where}")
    else:
        emit(status="no-machine", message=f"No machine configured {where}")
    sys.exit(0)
readings = []
for scope in ("system", "cpu", "gpu"):
    configured = scope in machine.power_queries
    # 2026 takes the settings; 2025.x reads the ones configure() made global
    takes_config = "config" in inspect.signature(measure_power).parameters
    options = {"config": config} if takes_config else {}
    joules = measure_power(scope, window, **options) if configured else None
    readings.append({"scope": scope, "configured": configured, "joules": joules})
emit(status="measured", machine=config.machine, window_seconds=window, readings=readings)
"""


def collect_power(project_root: Path | None, timeout: float = POWER_TIMEOUT) -> PowerInfo:
    """LensKit's own answer; raises when the child fails or runs past ``timeout``."""
    try:
        done = subprocess.run(
            [sys.executable, "-P", "-c", _CHILD, str(project_root or ""), str(WINDOW_SECONDS)],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"LensKit's power measurement did not answer in {timeout:g} s") from exc
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise RuntimeError(f"LensKit's power measurement failed (exit {done.returncode}): {last}")
    return PowerInfo.model_validate(json.loads(lines[-1]))
