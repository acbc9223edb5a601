"""The verdict logic on synthetic metrics: the cases the accuracy script measures for real."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lkdoctor.bench.run import Rates, plan_shapes, work_for
from lkdoctor.bench.verdict import judge, predicted_excess_wait
from lkdoctor.model import BenchMetrics


def metrics(
    *,
    effective: int = 2,
    plan: int = 2,
    contention: float | None = 0.02,
    peak_wait: float | None = 0.03,
    right_speedup: float | None = 1.9,
    peak_speedup: float | None = 1.9,
    throttled_share: float | None = 0.0,
    throttled_periods: int | None = 0,
) -> BenchMetrics:
    return BenchMetrics(
        effective=effective,
        plan_threads=plan,
        peak_threads=plan,
        expected_own_wait_share=max(0.0, 1 - effective / plan),
        contention_wait_share=contention,
        peak_wait_share=peak_wait,
        excess_wait_share=None
        if contention is None or peak_wait is None
        else peak_wait - contention,
        right_sized_speedup=right_speedup,
        peak_speedup=peak_speedup,
        throttled_share=throttled_share,
        throttled_periods=throttled_periods,
    )


def test_a_fitting_plan_on_a_quiet_machine_is_ok() -> None:
    verdict = judge(metrics())
    assert verdict.verdict == "ok"
    assert "fit" in verdict.reason


def test_32_threads_on_2_cpus_that_queue_are_oversubscribed() -> None:
    verdict = judge(metrics(plan=32, contention=0.04, peak_wait=0.93, peak_speedup=1.8))
    assert verdict.verdict == "oversubscribed"
    assert "32 threads on 2 CPUs" in verdict.reason
    assert any("93%" in line for line in verdict.evidence)


def test_oversubscription_still_shows_on_a_loaded_machine() -> None:
    # two busy processes beside us: right-sized waits 50%, the plan's 32 threads 94%
    verdict = judge(metrics(plan=32, contention=0.5, peak_wait=0.94))
    assert verdict.verdict == "oversubscribed"


def test_four_threads_pinned_to_one_cpu_are_oversubscribed() -> None:
    verdict = judge(metrics(effective=1, plan=4, contention=0.01, peak_wait=0.74))
    assert verdict.verdict == "oversubscribed"


def test_a_plan_over_the_cpus_that_does_not_queue_is_inconclusive() -> None:
    verdict = judge(metrics(plan=8, contention=0.02, peak_wait=0.05))
    assert verdict.verdict == "inconclusive"
    assert "did not queue" in verdict.reason


def test_a_plan_over_the_cpus_on_a_saturated_machine_is_inconclusive() -> None:
    verdict = judge(metrics(plan=3, contention=0.8, peak_wait=0.8))
    assert verdict.verdict == "inconclusive"
    assert "quieter" in verdict.reason


def test_a_fitting_plan_beside_a_cpu_burner_is_contended() -> None:
    verdict = judge(metrics(effective=1, plan=1, contention=0.5, peak_wait=0.5, right_speedup=1.0))
    assert verdict.verdict == "contended"
    assert "other processes" in verdict.reason


def test_a_quota_that_throttles_the_peak_makes_it_oversubscribed() -> None:
    verdict = judge(
        metrics(
            effective=1,
            plan=2,
            contention=0.0,
            peak_wait=0.1,
            throttled_share=0.4,
            throttled_periods=6,
        ),
        quota=1.0,
    )
    assert verdict.verdict == "oversubscribed"
    assert "quota of 1 CPUs" in verdict.reason
    assert any("throttled 6 periods" in line for line in verdict.evidence)


def test_a_little_throttling_within_the_quota_does_not_condemn_the_plan() -> None:
    verdict = judge(
        metrics(effective=2, plan=1, peak_speedup=1.0, throttled_share=0.5, throttled_periods=2),
        quota=2.0,
    )
    assert verdict.verdict != "oversubscribed"


def test_a_plan_using_half_the_cpus_that_would_scale_is_undersubscribed() -> None:
    verdict = judge(metrics(effective=4, plan=1, right_speedup=3.6, peak_speedup=1.0))
    assert verdict.verdict == "undersubscribed"
    assert "3.6× faster" in verdict.reason


def test_a_small_plan_is_ok_when_more_threads_would_not_help() -> None:
    assert judge(metrics(effective=4, plan=1, right_speedup=1.1, peak_speedup=1.0)).verdict == "ok"


def test_unreadable_wait_times_are_inconclusive() -> None:
    verdict = judge(metrics(contention=None, peak_wait=None))
    assert verdict.verdict == "inconclusive"
    assert "schedstat" in verdict.reason


def test_predicted_extra_wait_without_load_is_the_own_share() -> None:
    assert predicted_excess_wait(2, 32, 0.0) == pytest.approx(1 - 2 / 32)
    assert predicted_excess_wait(2, 2, 0.3) == 0.0
    # more load from others leaves less of the wait to the plan itself
    assert predicted_excess_wait(2, 8, 0.5) < predicted_excess_wait(2, 8, 0.1)


shares = st.floats(min_value=0.0, max_value=1.0)


@given(
    effective=st.integers(1, 64),
    plan=st.integers(1, 256),
    contention=shares,
    peak_wait=shares,
    speedups=st.tuples(st.floats(0.1, 64), st.floats(0.1, 64)),
)
def test_only_a_plan_over_the_cpus_can_be_called_oversubscribed_without_throttling(
    effective: int, plan: int, contention: float, peak_wait: float, speedups: tuple[float, float]
) -> None:
    m = metrics(
        effective=effective,
        plan=plan,
        contention=contention,
        peak_wait=peak_wait,
        right_speedup=speedups[0],
        peak_speedup=speedups[1],
    )
    verdict = judge(m).verdict
    if plan > effective:
        assert verdict in ("oversubscribed", "inconclusive")
    else:
        assert verdict in ("ok", "contended", "undersubscribed")


def test_shapes_for_a_fitting_plan_share_one_run_for_right_sized_and_peak() -> None:
    plan = plan_shapes(2, 2, 1, torch=True)
    assert [(s.name, s.rayon_threads, s.torch_threads, s.roles) for s in plan.shapes] == [
        ("rayon-1", 1, 0, ("baseline",)),
        ("right-sized", 2, 0, ("right-sized", "peak")),
    ]


def test_the_peak_shape_keeps_t0_times_b0_threads_busy() -> None:
    plan = plan_shapes(2, 8, 4, torch=True)
    peak = next(s for s in plan.shapes if "peak" in s.roles)
    assert (peak.rayon_threads, peak.torch_threads) == (8, 24)
    assert plan.plan_threads == plan.peak_threads == 32
    assert any(s.name == "torch-1" for s in plan.shapes)


def test_without_torch_the_backend_threads_are_rayon_threads() -> None:
    plan = plan_shapes(2, 8, 4, torch=False)
    peak = next(s for s in plan.shapes if "peak" in s.roles)
    assert (peak.rayon_threads, peak.torch_threads) == (32, 0)
    assert not any(s.name == "torch-1" for s in plan.shapes)
    assert plan.notes


def test_a_huge_plan_is_measured_at_the_cap() -> None:
    plan = plan_shapes(2, 64, 16, torch=True)
    assert plan.plan_threads == 1024
    assert plan.peak_threads == 256
    assert any("capped" in note for note in plan.notes)


def test_work_is_sized_to_the_cpus_each_kernel_gets() -> None:
    rates = Rates(rayon=1000.0, torch=100.0)
    plan = plan_shapes(2, 8, 4, torch=True)
    peak = next(s for s in plan.shapes if "peak" in s.roles)
    units, matmuls = work_for(peak, rates, 2, 0.1)
    # 2 CPUs shared by 8 Rayon and 24 torch threads: a quarter and three quarters
    assert units == pytest.approx(1000 * 0.1 * 2 * 8 / 32, abs=1)
    assert matmuls == pytest.approx(100 * 0.1 * 2 * 24 / 32, abs=1)


def test_a_huge_machine_is_measured_right_sized_at_the_cap() -> None:
    plan = plan_shapes(4096, 8, 1, torch=False)
    right = next(s for s in plan.shapes if "right-sized" in s.roles)
    assert right.rayon_threads == 256
    assert plan.effective == 4096  # judged against the real CPUs
