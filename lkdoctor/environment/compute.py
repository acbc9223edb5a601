"""The interpreter and the machine's compute facts that LensKit's own doctor shows.

Parity with LensKit's ``PlatformInspector``, ``SystemInspector`` and ``TorchInspector``
(2025.8 and 2026.x): the platform string and the GIL, the advertised CPU frequency,
memory total and available, torch's CPU capability and backends, and every CUDA device.
Each is read without side effects: the GPUs are counted through NVML where torch can
(no CUDA initialisation, fork stays safe), and their properties are read in a child
process unless CUDA is already initialised here, so the caller's process never gets a
CUDA context from the doctor.
"""

from __future__ import annotations

import json
import platform
import re
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any, Literal

from lkdoctor.host.proc import LIVE_ROOT
from lkdoctor.model import Compute, GpuDevice, PythonRuntime, TorchBackend

#: How long the child that reads the devices' properties may take (it imports torch).
GPU_CHILD_TIMEOUT = 120.0

#: ``Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz``: the frequency the vendor advertises. The
#: number starts only where a run of digits starts, and possessive quantifiers never give
#: digits back: a long run of digits is scanned once, not once per position (quadratic).
_BRAND_FREQUENCY = re.compile(r"(?<![\d.])(\d++(?:\.\d++)?+)\s*+([GM])Hz", re.IGNORECASE)

#: Run by ``sys.executable -c``: torch's own answer for every visible device, one JSON line.
_GPU_CHILD = """
import json, torch
devices = []
for index in range(torch.cuda.device_count()):
    p = torch.cuda.get_device_properties(index)
    devices.append({
        "index": index, "name": p.name, "capability": f"{p.major}.{p.minor}",
        "memory_bytes": p.total_memory, "l2_cache_bytes": getattr(p, "L2_cache_size", None),
        "multiprocessors": p.multi_processor_count,
    })
print(json.dumps(devices))
"""


def gil_state() -> Literal["enabled", "free-threading", "free-threaded-gil-enabled"]:
    """LensKit's ``is_free_threaded`` (with and without ``require_active``), as one value."""
    if not sysconfig.get_config_var("Py_GIL_DISABLED"):
        return "enabled"
    is_gil_enabled = getattr(sys, "_is_gil_enabled", None)
    if is_gil_enabled is not None and is_gil_enabled():
        return "free-threaded-gil-enabled"
    return "free-threading"


def python_runtime() -> PythonRuntime:
    return PythonRuntime(
        version=platform.python_version(),
        platform=platform.platform(),
        executable=sys.executable,
        gil=gil_state(),
    )


def cpu_frequency(cpuinfo_text: str) -> tuple[float | None, str | None]:
    """The advertised frequency in Hz and where it came from, as py-cpuinfo (LensKit's
    doctor) finds it on Linux: the brand string's ``@ 2.40GHz``, else the first
    ``cpu MHz``."""
    brand = None
    mhz = None
    for line in cpuinfo_text.splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if brand is None and key == "model name" and value:
            brand = value
        elif mhz is None and key == "cpu MHz" and value:
            mhz = value
    if brand and (match := _BRAND_FREQUENCY.search(brand)):
        scale = 1e9 if match.group(2).upper() == "G" else 1e6
        return float(match.group(1)) * scale, "model name"
    if mhz:
        try:
            return float(mhz) * 1e6, "cpu MHz"
        except ValueError:
            return None, None
    return None, None


def memory() -> tuple[int | None, int | None]:
    """Memory total and available now, as psutil (LensKit's doctor) reads them."""
    import psutil

    vmem = psutil.virtual_memory()
    return int(vmem.total), int(vmem.available)


def _backend(module: Any, available: bool) -> TorchBackend:
    is_built = getattr(module, "is_built", None)
    built = bool(is_built()) if is_built is not None else None
    if available:
        return TorchBackend(status="available", built=built)
    return TorchBackend(status="unavailable" if built else "absent", built=built)


def cuda_device_count(torch: Any) -> tuple[int, str]:
    """Visible CUDA devices and how they were counted, initialising as little as torch
    allows: NVML first (no CUDA at all), else the runtime's count (the driver, no context)."""
    if not torch.backends.cuda.is_built():
        return 0, "torch is built without CUDA"
    if torch.cuda.is_initialized():
        return int(torch.cuda.device_count()), "CUDA was already initialised in this process"
    nvml_count = getattr(torch.cuda, "_device_count_nvml", None)
    counted = int(nvml_count()) if nvml_count is not None else -1
    if counted >= 0:
        return counted, "counted through NVML (CUDA not initialised)"
    # cudaGetDeviceCount: what torch.cuda.is_available() itself calls; no context is made
    return int(
        torch._C._cuda_getDeviceCount()
    ), "counted by the CUDA runtime, NVML being unavailable"


def torch_backends(torch: Any, cuda_count: int) -> dict[str, TorchBackend]:
    return {
        "cuda": _backend(torch.backends.cuda, cuda_count > 0),
        "mkl": _backend(torch.backends.mkl, bool(torch.backends.mkl.is_available())),
        "mps": _backend(torch.backends.mps, bool(torch.backends.mps.is_available())),
    }


def gpu_properties(torch: Any, count: int) -> list[GpuDevice]:
    """torch's properties of every device: read here when CUDA is already initialised,
    else in a child process, so this one gets no CUDA context."""
    if torch.cuda.is_initialized():
        devices = []
        for index in range(count):
            p = torch.cuda.get_device_properties(index)
            devices.append(
                GpuDevice(
                    index=index,
                    name=str(p.name),
                    capability=f"{p.major}.{p.minor}",
                    memory_bytes=int(p.total_memory),
                    l2_cache_bytes=getattr(p, "L2_cache_size", None),
                    multiprocessors=int(p.multi_processor_count),
                )
            )
        return devices
    done = subprocess.run(
        [sys.executable, "-c", _GPU_CHILD],
        capture_output=True,
        text=True,
        timeout=GPU_CHILD_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise RuntimeError(f"reading the CUDA devices failed (exit {done.returncode}): {last}")
    return [GpuDevice.model_validate(d) for d in json.loads(done.stdout.strip().splitlines()[-1])]


def collect_compute(
    torch: Any | None, *, root: Path = LIVE_ROOT, foreign: bool = False
) -> tuple[Compute, list[str]]:
    """The compute facts, and the problems met on the way (each part is read on its own).

    ``torch`` is the imported module or None; ``foreign`` (``--pid``): torch and the GPUs
    would be this process's, not the target's, so they are not read.
    """
    problems: list[str] = []
    compute = Compute()
    try:
        text = (root / "proc" / "cpuinfo").read_text(errors="replace")
        compute.cpu_frequency_hz, compute.cpu_frequency_source = cpu_frequency(text)
    except OSError as exc:
        problems.append(f"CPU frequency: {exc}")
    try:
        compute.memory_total_bytes, compute.memory_available_bytes = memory()
    except Exception as exc:  # psutil failing leaves the rest of the section
        problems.append(f"memory: {type(exc).__name__}: {exc}")
    if foreign:
        compute.note = (
            "torch backends and GPUs not read: they belong to the inspected process (--pid)"
        )
        return compute, problems
    if torch is None:
        compute.gpu_note = "torch is not installed"
        return compute, problems
    try:
        count, how = cuda_device_count(torch)
        compute.torch_backends = torch_backends(torch, count)
        compute.gpu_note = how
        compute.gpus = gpu_properties(torch, count) if count > 0 else []
    except Exception as exc:  # a broken CUDA install must leave the rest of the report
        problems.append(f"torch backends and GPUs: {type(exc).__name__}: {exc}")
    return compute, problems
