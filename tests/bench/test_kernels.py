"""The real kernels, their watchdog and the counters read around them (short runs)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from helpers import surviving_bench_threads

from lkdoctor import _probe
from lkdoctor.bench.kernels import TorchMatmul, Watchdog, run_shape, torch_intra_op_threads
from lkdoctor.bench.measure import (
    Counters,
    parse_psi_some_total,
    parse_schedstat,
    read_task_schedstats,
    throttling_delta,
    window_between,
)

#: About ten minutes of work on one core: only a cancel or a deadline ends it in a test.
ENDLESS_UNITS = 12_000_000


def test_the_rayon_kernel_splits_fixed_work_over_its_own_threads() -> None:
    result = _probe.spin_kernel(3, 30, 10.0)
    assert result.stop == "finished"
    assert result.units_done == 30
    threads = result.threads
    assert len(threads) == 3
    assert len({t.tid for t in threads}) == 3
    assert sorted(t.units_done for t in threads) == [10, 10, 10]
    assert [t.units_planned for t in threads] == [10, 10, 10]
    for t in threads:
        assert t.cpu_ns > 0 and t.run_ns > 0 and t.schedstat
    assert result.wall_ns > 0


def test_kernel_results_are_read_only() -> None:
    result = _probe.spin_kernel(1, 1, 10.0)
    with pytest.raises(AttributeError):
        result.stop = "finished"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        result.threads[0].units_done = 0  # type: ignore[misc]


#: Steps a Python thread takes, while a kernel runs, before it cancels that kernel.
STEPS_TO_CANCEL = 50


def python_steps_during_kernel(*, release_gil: bool) -> tuple[int, str]:
    """Run an endless kernel on this thread while another Python thread takes steps.

    The other thread counts a step each time it holds the GIL (it sleeps, releasing it,
    between steps) and cancels the kernel after ``STEPS_TO_CANCEL`` steps. Returns the
    steps taken during the kernel call and why the kernel stopped. A kernel that holds
    the GIL lets no step happen, so it cannot be cancelled and runs to its deadline.
    """
    token = _probe.CancelToken()
    go, done = threading.Event(), threading.Event()
    steps = 0

    def step_until_done() -> None:
        nonlocal steps
        go.wait()
        while not done.is_set():
            steps += 1
            if steps == STEPS_TO_CANCEL:
                token.cancel()
            time.sleep(0.001)

    stepper = threading.Thread(target=step_until_done, daemon=True)
    stepper.start()
    # The deadline ends a GIL-holding run; a releasing one must be cancelled long before.
    deadline = 10.0 if release_gil else 0.3
    go.set()
    before = steps
    result = _probe.spin_kernel(1, ENDLESS_UNITS, deadline, token, release_gil=release_gil)
    during = steps - before
    done.set()
    stepper.join(30)
    assert not stepper.is_alive()
    return during, result.stop


def test_a_python_thread_runs_and_cancels_while_the_kernel_releases_the_gil() -> None:
    during, stop = python_steps_during_kernel(release_gil=True)
    assert stop == "cancelled"  # by the Python thread, so it ran during the kernel
    assert during >= STEPS_TO_CANCEL - 2


def test_the_gil_test_tells_a_kernel_that_holds_the_gil() -> None:
    """The same check on the same kernel run without releasing the GIL: no progress."""
    during, stop = python_steps_during_kernel(release_gil=False)
    assert stop == "deadline"  # the Python thread never got to cancel it
    # None inside the call; a step or two at its edges, where the GIL changes hands.
    assert during < STEPS_TO_CANCEL // 5


def test_the_kernels_own_deadline_ends_an_endless_run() -> None:
    result = _probe.spin_kernel(2, ENDLESS_UNITS, 0.05)
    assert result.stop == "deadline"
    assert result.units_done < ENDLESS_UNITS


@pytest.mark.parametrize("threads", [0, _probe.KERNEL_MAX_THREADS + 1])
def test_impossible_thread_counts_are_a_value_error(threads: int) -> None:
    with pytest.raises(ValueError, match="thread count"):
        _probe.spin_kernel(threads, 1, 1.0)


def test_a_negative_timeout_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="timeout_s"):
        _probe.spin_kernel(1, 1, -1.0)


class RecordingProbe:
    """The real probe, keeping each kernel outcome so a test can see why it stopped."""

    def __init__(self) -> None:
        self.CancelToken = _probe.CancelToken
        self.outcomes: list[_probe.KernelOutcome] = []

    def spin_kernel(
        self, threads: int, units: int, timeout_s: float, cancel: _probe.CancelToken
    ) -> _probe.KernelOutcome:
        outcome = _probe.spin_kernel(threads, units, timeout_s, cancel)
        self.outcomes.append(outcome)
        return outcome


def test_the_watchdog_cancels_an_overrunning_rayon_run_and_says_so() -> None:
    probe = RecordingProbe()
    result = run_shape(
        probe,  # type: ignore[arg-type]
        None,
        rayon_threads=2,
        rayon_units=ENDLESS_UNITS,
        torch_threads=0,
        torch_matmuls=0,
        timeout=0.1,
    )
    assert result.overran
    assert 0 < result.rayon_units < ENDLESS_UNITS
    assert [o.stop for o in probe.outcomes] == ["cancelled"]  # by the watchdog, not the work
    assert result.window.run_ns > 0


def test_the_watchdog_cancels_an_overrunning_torch_run_and_restores_torch() -> None:
    saved = torch.get_num_threads()
    result = run_shape(
        _probe,
        TorchMatmul(torch, size=64),
        rayon_threads=1,
        rayon_units=ENDLESS_UNITS,
        torch_threads=2,
        torch_matmuls=10**9,
        timeout=0.1,
    )
    assert result.overran
    assert 0 < result.torch_matmuls < 10**9
    assert result.rayon_units > 0
    assert torch.get_num_threads() == saved


def test_a_torch_run_uses_the_thread_count_it_is_given_then_restores_it() -> None:
    saved = torch.get_num_threads()
    seen: list[int] = []
    with torch_intra_op_threads(torch, saved + 3):
        seen.append(torch.get_num_threads())
    assert seen == [saved + 3]
    assert torch.get_num_threads() == saved
    with pytest.raises(RuntimeError), torch_intra_op_threads(torch, 1):
        raise RuntimeError("a failing kernel")
    assert torch.get_num_threads() == saved


def test_the_matmul_kernel_leaves_the_random_generator_alone() -> None:
    state = torch.random.get_rng_state()
    matmul = TorchMatmul(torch, size=32)
    done, seconds = matmul.run(1, 3, threading.Event(), time.perf_counter() + 10)
    assert done == 3 and seconds > 0
    assert torch.equal(torch.random.get_rng_state(), state)
    assert float(matmul.out[0, 0]) == pytest.approx(0.5 * 0.25 * 32)


def test_a_watchdog_that_does_not_expire_does_not_fire() -> None:
    token = _probe.CancelToken()
    with Watchdog(30.0, token) as watchdog:
        pass
    assert not watchdog.fired and not token.cancelled
    with Watchdog(0.0, token) as watchdog:
        assert watchdog.stop.wait(5)
    assert watchdog.fired and token.cancelled


def test_schedstat_and_psi_parsers() -> None:
    assert parse_schedstat("333849 80359 2\n") == (333849, 80359)
    assert parse_schedstat("") is None
    assert parse_schedstat("x y z") is None
    psi = "some avg10=4.88 avg60=2.07 avg300=0.93 total=6843330\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
    assert parse_psi_some_total(psi) == 6843330
    assert parse_psi_some_total("full avg10=0 total=5\n") is None


def test_task_schedstats_of_a_fixture_tree_skip_bad_entries(tmp_path: Path) -> None:
    tasks = tmp_path / "proc" / "self" / "task"
    for tid, text in {"10": "100 20 3\n", "11": "garbage\n", "12": "7 1 1\n"}.items():
        (tasks / tid).mkdir(parents=True)
        (tasks / tid / "schedstat").write_text(text)
    (tasks / "13").mkdir()  # vanished between listing and reading
    assert read_task_schedstats(tmp_path) == {10: (100, 20), 12: (7, 1)}
    assert read_task_schedstats(tmp_path / "nowhere") == {}


def test_the_live_process_has_readable_thread_schedstats() -> None:
    stats = read_task_schedstats()
    assert threading.get_native_id() in stats


def test_throttling_deltas_for_cgroup_v1_and_v2() -> None:
    v1 = throttling_delta(
        {"nr_periods": 10, "nr_throttled": 1, "throttled_time": 5_000_000},
        {"nr_periods": 20, "nr_throttled": 4, "throttled_time": 305_000_000},
    )
    assert v1 is not None
    assert (v1.periods, v1.throttled_periods, v1.throttled_seconds) == (10, 3, pytest.approx(0.3))
    v2 = throttling_delta(
        {"nr_periods": 1, "nr_throttled": 0, "throttled_usec": 0, "usage_usec": 9},
        {"nr_periods": 3, "nr_throttled": 2, "throttled_usec": 40_000, "usage_usec": 99},
    )
    assert v2 is not None and v2.throttled_seconds == pytest.approx(0.04)
    assert throttling_delta({"usage_usec": 1}, {"usage_usec": 2}) is None  # no cpu controller
    assert throttling_delta(None, {"nr_periods": 1}) is None


def _counters(at: float, tasks: dict[int, tuple[int, int]], switches: int = 0) -> Counters:
    return Counters(
        at=at,
        tasks=tasks,
        cpu_seconds=at,
        nonvoluntary_switches=switches,
        cgroup=None,
        psi_some_us=None,
    )


def test_a_window_adds_the_kernels_threads_and_does_not_count_them_twice() -> None:
    before = _counters(1.0, {1: (100, 10), 2: (50, 0)})
    # thread 2 exited; thread 3 is new; thread 7 is a pool thread still alive at the end
    after = _counters(1.5, {1: (300, 60), 3: (40, 40), 7: (999, 999)}, switches=4)
    kernel = [SimpleNamespace(tid=7, run_ns=500, wait_ns=100)]
    window = window_between(before, after, kernel)
    assert window.run_ns == 200 + 40 + 500
    assert window.wait_ns == 50 + 40 + 100
    assert window.wait_share == pytest.approx(190 / 930)
    assert window.wall_seconds == pytest.approx(0.5)
    assert window.nonvoluntary_switches == 4


class _FailingTorch:
    """A torch whose matmul fails: the Rayon kernel beside it must be stopped, not left running."""

    def __init__(self) -> None:
        self.threads = 1

    def get_num_threads(self) -> int:
        return self.threads

    def set_num_threads(self, n: int) -> None:
        self.threads = n

    def full(self, *args: object, **kwargs: object) -> object:
        return object()

    def empty(self, *args: object, **kwargs: object) -> object:
        return object()

    def matmul(self, *args: object, **kwargs: object) -> None:
        raise RuntimeError("matmul failed")

    float32 = "float32"


def test_a_failing_torch_kernel_stops_the_rayon_kernel_beside_it() -> None:
    fake = _FailingTorch()
    probe = RecordingProbe()
    with pytest.raises(RuntimeError, match="matmul failed"):
        run_shape(
            probe,  # type: ignore[arg-type]
            TorchMatmul(fake, size=8),  # type: ignore[arg-type]
            rayon_threads=2,
            rayon_units=ENDLESS_UNITS,
            torch_threads=2,
            torch_matmuls=5,
            timeout=60.0,
        )
    assert [o.stop for o in probe.outcomes] == ["cancelled"]  # not run to its 60 s deadline
    assert fake.threads == 1  # the thread count was restored despite the failure
    assert surviving_bench_threads() == []
