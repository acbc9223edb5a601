"""How often `--compare` and `--verify` give a false verdict, and how often they see a real gain.

Issue #26's targets: on identical work in both arms (A/A) a verdict of `improved` or `worse`
is false, and their rate must be at most 5%; the A/B power is the rate at which a real 1.5x
gain is called `improved` with the default number of pairs. Arms:

- `aa-compare`: `lenskit doctor --compare` (3 pairs, the default) of a single-threaded
  hashlib loop under LK_NUM_THREADS=8 LK_NUM_BACKEND_THREADS=4: the suggestion changes only
  LensKit's variables, which the loop never reads, so both arms do the same work;
- `aa-verify`: `--verify`'s plan-shaped benchmark with the current plan applied in both
  children (the verification's own code, given the same plan for both arms);
- `ab-compare`: the same loop, doing 1.5x the work when LK_NUM_THREADS is the current
  setting: a real 1.5x gain for the suggestion.

Each verdict is one full `--compare` (or verification); `--burn N` runs N busy-looping
processes beside it (a loaded machine), 0 for a quiet one. It prints the machine, the date,
the load, each arm's verdicts, the false rate with its 95% Wilson interval, and the power.

    python scripts/bench_verdicts.py [--verdicts 20] [--burn N] [--arms aa-compare,...]
        [--python ENV/bin/python] [--json OUT]
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_cost import loadavg  # beside this script

#: The settings of every arm: oversubscribed on any machine up to 32 CPUs, so the doctor
#: has a suggestion to compare.
SETTINGS = {"LK_NUM_THREADS": "8", "LK_NUM_BACKEND_THREADS": "4"}
#: Target of the false-verdict rate on identical work.
FALSE_RATE_TARGET = 0.05
#: The real gain of the A/B arm.
GAIN = 1.5

#: Single-threaded work no thread setting changes; ``ROUNDS`` hashes, times 1.5 when
#: ``SLOW_WHEN`` names the LK_NUM_THREADS value of the slower arm.
WORK = """
import hashlib, os
rounds = int(os.environ["ROUNDS"])
if os.environ.get("SLOW_WHEN") and os.environ.get("LK_NUM_THREADS") == os.environ["SLOW_WHEN"]:
    rounds = int(rounds * float(os.environ["GAIN"]))
digest = b"lkdoctor"
for _ in range(rounds):
    digest = hashlib.sha256(digest).digest()
"""

#: The verification's own code with the current plan in both children: an A/A of --verify.
VERIFY_AA = """
import json, os
from lkdoctor.bench.verify import Verification
from lkdoctor.pipeline import plan_for_environ
from lkdoctor.target import read_target
environ = dict(os.environ)
plan = plan_for_environ(read_target(), environ)
verification = Verification(plan, environ, budget=float(os.environ["BUDGET"]),
                            resolve=lambda _suggested: plan)
print(json.dumps(verification.measure().model_dump(mode="json")))
"""


def clean_environ() -> dict[str, str]:
    """Ours without threading variables, plus the arms' settings."""
    prefixes = ("LK_", "OMP_", "MKL_", "OPENBLAS_", "RAYON_")
    # PYTHONSAFEPATH: `python -c` run from a checkout would import ./lkdoctor, which has no
    # built probe, instead of the installed package, and every verification would fail
    kept = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    return kept | SETTINGS | {"PYTHONSAFEPATH": "1"}


def lenskit_command(python: str) -> str:
    script = Path(python).parent / "lenskit"
    return str(script) if script.exists() else shutil.which("lenskit") or "lenskit"


def compare_once(python: str, rounds: int, gain: bool, folder: Path) -> dict[str, Any]:
    """One `lenskit doctor --compare` of the loop; its comparison."""
    report = folder / "compare.json"
    env = clean_environ() | {"ROUNDS": str(rounds), "GAIN": str(GAIN)}
    if gain:
        env["SLOW_WHEN"] = SETTINGS["LK_NUM_THREADS"]
    argv = [lenskit_command(python), "doctor", "--compare", "--json", "--report", str(report)]
    subprocess.run(
        [*argv, "--", python, "-c", WORK],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
        timeout=600,
    )
    comparison: dict[str, Any] = json.loads(report.read_text())["comparison"]
    return comparison


def verify_once(python: str, budget: float) -> dict[str, Any]:
    """One verification with the current plan in both arms; its comparison."""
    result = subprocess.run(
        [python, "-c", VERIFY_AA],
        env=clean_environ() | {"BUDGET": str(budget)},
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    comparison: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return comparison


def calibrate_rounds(python: str, seconds: float) -> int:
    """Hash rounds that take about ``seconds`` in one run here."""
    probe = 200_000
    env = clean_environ() | {"ROUNDS": str(probe)}
    started = time.perf_counter()
    subprocess.run([python, "-c", WORK], env=env, check=True, timeout=300)
    took = max(time.perf_counter() - started, 1e-3)
    return max(10_000, int(probe * seconds / took))


def wilson(hits: int, count: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson interval of a rate of ``hits`` in ``count``."""
    if count == 0:
        return 0.0, 1.0
    p = hits / count
    centre = (p + z * z / (2 * count)) / (1 + z * z / count)
    half = z * math.sqrt(p * (1 - p) / count + z * z / (4 * count * count)) / (1 + z * z / count)
    return max(0.0, centre - half), min(1.0, centre + half)


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mine = len(os.sched_getaffinity(0))
    return f"{platform.node()}: {model}, {os.cpu_count()} CPUs ({mine} usable here)"


def burners(count: int) -> list[subprocess.Popen[bytes]]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verdicts", type=int, default=20, help="verdicts per arm (20)")
    parser.add_argument(
        "--burn", type=int, default=0, help="busy-looping processes beside it (0: quiet)"
    )
    parser.add_argument("--arms", default="aa-compare,aa-verify,ab-compare")
    parser.add_argument("--run-seconds", type=float, default=0.4, help="one run of the loop")
    parser.add_argument("--budget", type=float, default=1.0, help="--verify's --bench-time")
    parser.add_argument("--python", default=sys.executable, help="the environment's python")
    parser.add_argument("--json", type=Path, help="also write every comparison here")
    args = parser.parse_args()
    arms = args.arms.split(",")
    started = datetime.now(UTC)
    print(f"{started:%Y-%m-%d %H:%M} UTC on {machine()}", flush=True)
    print(f"python {args.python}; burners beside it: {args.burn}", flush=True)
    rounds = calibrate_rounds(args.python, args.run_seconds)
    print(f"loop: {rounds} sha256 rounds (about {args.run_seconds} s here, quiet)", flush=True)
    burning = burners(args.burn)
    results: dict[str, list[dict[str, Any]]] = {arm: [] for arm in arms}
    try:
        print(f"load average at the start {loadavg()}", flush=True)
        with tempfile.TemporaryDirectory() as folder:
            for index in range(args.verdicts):
                for arm in arms:  # interleaved, so the machine's changes hit every arm
                    if arm == "aa-verify":
                        found = verify_once(args.python, args.budget)
                    else:
                        found = compare_once(args.python, rounds, arm == "ab-compare", Path(folder))
                    results[arm].append(found)
                    ratio = found.get("ratio")
                    shown = "-" if ratio is None else f"{ratio:.3f}"
                    print(
                        f"{arm} {index + 1}: {found['verdict']} (ratio {shown}, "
                        f"{found.get('interval_low')}–{found.get('interval_high')})"
                        + (f"; stopped: {found['stopped']}" if found.get("stopped") else ""),
                        flush=True,
                    )
        print(f"load average at the end {loadavg()}", flush=True)
    finally:
        for burner in burning:
            burner.kill()
            burner.wait()
    print()
    summary: dict[str, Any] = {"started": started.isoformat(), "machine": machine()}
    for arm, found in results.items():
        verdicts = collections.Counter(c["verdict"] for c in found)
        count = len(found)
        if arm.startswith("aa-"):
            hits = verdicts["improved"] + verdicts["worse"]
            what, target = "false improved/worse", f"target <= {FALSE_RATE_TARGET:.0%}"
        else:
            hits = verdicts["improved"]
            what, target = f"{GAIN}x gain called improved (power)", "reported"
        low, high = wilson(hits, count)
        rate = hits / count if count else float("nan")
        print(
            f"{arm}: {dict(verdicts)}; {what}: {hits}/{count} = {rate:.0%} "
            f"(95% Wilson {low:.0%}–{high:.0%}; {target})"
        )
        summary[arm] = {"verdicts": dict(verdicts), "rate": rate, "wilson": [low, high]}
    if args.json is not None:
        args.json.write_text(json.dumps({"summary": summary, "results": results}, indent=1))


if __name__ == "__main__":
    main()
