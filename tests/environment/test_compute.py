"""The interpreter and compute facts, against the answers of Python, psutil and torch."""

from __future__ import annotations

import platform
import sys
import sysconfig
from pathlib import Path

import humanize
import pytest
import torch
from helpers import run_python

from lkdoctor.environment.compute import collect_compute, cpu_frequency, gil_state, python_runtime
from lkdoctor.render import GIL_WORDS, binary_size, compute_facts, metric


def test_python_runtime_is_this_interpreter() -> None:
    runtime = python_runtime()
    assert runtime.platform == platform.platform()
    assert runtime.executable == sys.executable
    assert runtime.version == platform.python_version()
    free_threaded = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
    assert (runtime.gil != "enabled") == free_threaded
    assert gil_state() == runtime.gil


@pytest.mark.lenskit2026
def test_gil_words_are_lenskits_own() -> None:
    """LensKit 2026's PlatformInspector prints these three sentences, word for word."""
    from importlib import metadata

    lenskit = metadata.distribution("lenskit")
    doctor = Path(str(lenskit.locate_file("lenskit/cli/doctor.py"))).read_text(encoding="utf-8")
    for sentence in GIL_WORDS.values():
        assert sentence in doctor


def test_cpu_frequency_from_brand_string_then_mhz() -> None:
    brand = "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz\ncpu MHz\t\t: 1200.000\n"
    assert cpu_frequency(brand) == (2.4e9, "model name")
    plain = "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Processor\ncpu MHz\t\t: 2300.000\n"
    assert cpu_frequency(plain) == (2.3e9, "cpu MHz")
    assert cpu_frequency("processor\t: 0\nHardware\t: BCM2835\n") == (None, None)
    assert cpu_frequency("cpu MHz\t\t: fast\n") == (None, None)


def test_sizes_and_frequencies_print_as_humanize_does() -> None:
    """LensKit's doctor prints with humanize: lkdoctor's own formatting matches it."""
    for n in (0, 1, 1023, 1024, 1536, 10**6, 1023 * 2**20 + 2**19, 25_237_000_000, 2**40 * 3):
        assert binary_size(n) == humanize.naturalsize(n, binary=True)
    for hz in (2.3e9, 2.4e9, 3.0e9, 800e6, 1.2e6, 999.0, 23.5e9):
        assert metric(hz, "Hz") == humanize.metric(hz, unit="Hz")


def test_memory_and_frequency_are_this_machines() -> None:
    import psutil

    compute, problems = collect_compute(torch)
    assert problems == []
    total = psutil.virtual_memory().total
    assert compute.memory_total_bytes == total
    assert compute.memory_available_bytes is not None
    assert 0 < compute.memory_available_bytes <= total
    text = Path("/proc/cpuinfo").read_text()
    assert (compute.cpu_frequency_hz, compute.cpu_frequency_source) == cpu_frequency(text)


def test_torch_backends_and_gpus_are_torchs_answers() -> None:
    """Against torch's own answers in a fresh process (here: no GPU)."""
    answers = run_python(
        "import json, torch\n"
        "b = torch.backends\n"
        "print(json.dumps({'cuda': [torch.cuda.is_available(), b.cuda.is_built()],\n"
        "  'mkl': [b.mkl.is_available(), None], 'mps': [b.mps.is_available(), b.mps.is_built()],\n"
        "  'count': torch.cuda.device_count()}))"
    )
    compute, problems = collect_compute(torch)
    assert problems == []
    assert compute.torch_backends is not None
    for name in ("cuda", "mkl", "mps"):
        available, built = answers[name]
        backend = compute.torch_backends[name]
        assert backend.built == built
        expected = "available" if available else ("unavailable" if built else "absent")
        assert backend.status == expected, name
    assert compute.gpus is not None
    assert len(compute.gpus) == answers["count"]
    assert compute.gpu_note


def test_listing_the_gpus_creates_no_cuda_context() -> None:
    """collect() leaves CUDA uninitialised: a process that forks workers afterwards can."""
    state = run_python(
        "import json, torch, lkdoctor\n"
        "report = lkdoctor.collect()\n"
        "print(json.dumps({'initialized': torch.cuda.is_initialized(),\n"
        "  'gpus': report.environment.compute.gpus is not None}))"
    )
    assert state == {"initialized": False, "gpus": True}


def test_foreign_process_leaves_out_this_interpreter() -> None:
    compute, problems = collect_compute(torch, foreign=True)
    assert problems == []
    assert compute.torch_backends is None and compute.gpus is None
    assert "--pid" in compute.note
    assert compute.memory_total_bytes is not None  # the machine's own facts stay


def test_facts_read_as_lenskit_labels_them() -> None:
    compute, _ = collect_compute(torch)
    facts = dict(compute_facts(python_runtime(), compute, "AVX2"))
    assert facts["Platform"] == platform.platform()
    assert facts["Location"] == sys.executable
    assert facts["PyTorch backends"].startswith("cpu: AVX2, cuda: ")
    assert "available)" in facts["Memory"]


def test_unreadable_cpuinfo_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    compute, problems = collect_compute(None, root=tmp_path)
    assert compute.cpu_frequency_hz is None
    assert any("CPU frequency" in p for p in problems)
    assert compute.gpu_note == "torch is not installed"


def test_pid_report_leaves_out_this_interpreter() -> None:
    """Under --pid the interpreter, torch and GPUs would be the doctor's: left out, said so."""
    import subprocess

    import lkdoctor

    target = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        report = lkdoctor.collect(pid=target.pid, sample_time=0.2)
    finally:
        target.kill()
        target.wait()
    env = report.environment
    assert env is not None and env.compute is not None
    assert env.python is None
    assert env.compute.torch_backends is None and env.compute.gpus is None
    assert "--pid" in env.compute.note
    assert env.compute.memory_total_bytes is not None


def test_the_device_properties_child_runs_torchs_own_code() -> None:
    """The child that reads the devices' properties (here: none) answers in its format."""
    from lkdoctor.environment.compute import gpu_properties

    assert not torch.cuda.is_initialized()
    assert gpu_properties(torch, torch.cuda.device_count()) == []
    assert not torch.cuda.is_initialized()
