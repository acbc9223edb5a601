"""The verdict: ratios and wait shares measured in the same benchmark, never absolute times.

The reasoning, in order:

1. The quota throttled the peak run: the plan's own demand exceeds the cgroup quota,
   so it is **oversubscribed** (the ``cgroup-throttled`` finding says the rest).
2. The plan asks for more threads than CPUs: it is **oversubscribed** when the peak run
   waited for CPUs clearly more than the right-sized run did. Each thread of the peak
   should wait ``1 - E/(peak + L)``; the right-sized run (``E`` threads) waits
   ``1 - E/(E + L)``, which gives ``L``, the load others put on the CPUs. The peak must
   show at least half of the extra wait its own demand predicts.
3. The plan fits but the right-sized run waited for CPUs: other processes take them,
   **contended**.
4. The plan leaves at least half the CPUs idle and the right-sized run really went
   faster than the peak: **undersubscribed**.
5. Otherwise **ok**; whatever cannot be told apart is **inconclusive**, with why.
"""

from __future__ import annotations

from typing import NamedTuple

from lkdoctor.model import BenchMetrics, Verdict

#: A right-sized run waiting this share of its time means others take the CPUs.
CONTENTION_WAIT = 0.20
#: The peak must show this fraction of the wait its own demand predicts.
SHOWN_FRACTION = 0.5
#: Below this, an extra wait share is noise whatever the prediction.
MIN_EXCESS = 0.05
#: Throttled time over wall time that counts as the quota stopping the run.
THROTTLED_SHARE = 0.05
#: The right-sized run must be this much faster than the peak to call the plan too small.
UNDERSUBSCRIBED_GAIN = 1.3
#: Beyond this wait share at `effective` threads, the machine is too busy to tell more.
SATURATED_WAIT = 0.75


class Judgement(NamedTuple):
    verdict: Verdict
    reason: str
    evidence: list[str]


def predicted_excess_wait(effective: int, peak: int, contention: float) -> float:
    """Extra wait share the peak's own demand causes, given the contention measured at ``effective``.

    With ``L`` busy threads from others, a thread among ``n`` of ours waits ``1 - E/(n + L)``
    of the time once ``n + L > E``.
    """
    if peak <= effective:
        return 0.0
    contention = min(max(contention, 0.0), 0.95)
    others = effective * contention / (1.0 - contention)

    def wait(threads: int) -> float:
        return max(0.0, 1.0 - effective / (threads + others))

    return wait(peak) - wait(effective)


def _pct(share: float | None) -> str:
    return "n/a" if share is None else f"{share:.0%}"


def _evidence(m: BenchMetrics) -> list[str]:
    lines = [
        f"plan keeps {m.plan_threads} threads busy at peak on {m.effective} CPUs"
        + (f" (peak run capped at {m.peak_threads})" if m.peak_threads != m.plan_threads else ""),
        f"wait share at {m.effective} threads (right-sized): {_pct(m.contention_wait_share)}",
        f"wait share at {m.peak_threads} threads (peak): {_pct(m.peak_wait_share)}",
    ]
    if m.right_sized_speedup is not None and m.peak_speedup is not None:
        lines.append(
            f"speedup over 1 thread: right-sized {m.right_sized_speedup:.2f}, peak {m.peak_speedup:.2f}"
        )
    if m.throttled_periods:
        lines.append(
            f"cgroup quota throttled {m.throttled_periods} periods, "
            f"{_pct(m.throttled_share)} of the peak runs' time"
        )
    if m.psi_some_share is not None:
        lines.append(f"CPU pressure (PSI some) during the runs: {_pct(m.psi_some_share)}")
    return lines


def _would_scale(m: BenchMetrics) -> bool:
    """The plan leaves at least half the CPUs idle and using them measured clearly faster."""
    leaves_half_idle = m.effective >= 2 and m.plan_threads * 2 <= m.effective
    if not leaves_half_idle or m.right_sized_speedup is None or not m.peak_speedup:
        return False
    return m.right_sized_speedup >= UNDERSUBSCRIBED_GAIN * m.peak_speedup


def judge(m: BenchMetrics, *, quota: float | None = None) -> Judgement:
    """The verdict for the metrics of one benchmark; ``quota`` is the cgroup's CPU quota."""
    evidence = _evidence(m)
    if m.contention_wait_share is None or m.peak_wait_share is None:
        return Judgement(
            Verdict.INCONCLUSIVE,
            "the scheduler's wait times could not be read (/proc/self/task/*/schedstat)",
            evidence,
        )
    plan_over = m.plan_threads > m.effective
    throttled = (m.throttled_share or 0.0) >= THROTTLED_SHARE and (m.throttled_periods or 0) > 0
    if throttled and (plan_over or quota is None or m.peak_threads > quota):
        return Judgement(
            Verdict.OVERSUBSCRIBED,
            f"the plan's {m.plan_threads} threads exceed the CPU quota"
            + (f" of {quota:g} CPUs" if quota is not None else "")
            + f": Linux throttled the peak run {_pct(m.throttled_share)} of the time",
            evidence,
        )
    contention = m.contention_wait_share
    if plan_over:
        predicted = predicted_excess_wait(m.effective, m.peak_threads, contention)
        needed = max(MIN_EXCESS, SHOWN_FRACTION * predicted)
        excess = m.excess_wait_share if m.excess_wait_share is not None else 0.0
        evidence.append(
            f"extra wait at peak {_pct(excess)}; its own demand predicts {_pct(predicted)}"
        )
        if excess >= needed:
            return Judgement(
                Verdict.OVERSUBSCRIBED,
                f"the plan runs {m.plan_threads} threads on {m.effective} CPUs and they queue "
                f"for them: at peak each thread waited {_pct(m.peak_wait_share)} of its time, "
                f"against {_pct(contention)} right-sized",
                evidence,
            )
        if contention >= CONTENTION_WAIT:
            return Judgement(
                Verdict.INCONCLUSIVE,
                f"the plan asks for {m.plan_threads} threads on {m.effective} CPUs, but other "
                f"processes already keep the CPUs busy ({_pct(contention)} wait right-sized), "
                "so its own effect could not be measured; run again when the machine is quieter",
                evidence,
            )
        return Judgement(
            Verdict.INCONCLUSIVE,
            f"the plan asks for {m.plan_threads} threads on {m.effective} CPUs, but the peak run "
            f"did not queue for CPUs as that predicts ({_pct(excess)} extra wait, "
            f"{_pct(needed)} expected at least)",
            evidence,
        )
    if contention >= CONTENTION_WAIT:
        saturated = " (the machine is saturated)" if contention >= SATURATED_WAIT else ""
        return Judgement(
            Verdict.CONTENDED,
            f"the plan fits the {m.effective} CPUs, but other processes take them: even "
            f"right-sized, threads waited {_pct(contention)} of their time for a CPU{saturated}",
            evidence,
        )
    if _would_scale(m):
        assert m.right_sized_speedup is not None and m.peak_speedup
        return Judgement(
            Verdict.UNDERSUBSCRIBED,
            f"the plan keeps only {m.plan_threads} of {m.effective} CPUs busy; "
            f"{m.effective} threads ran {m.right_sized_speedup / m.peak_speedup:.1f}× faster",
            evidence,
        )
    return Judgement(
        Verdict.OK,
        f"the plan's {m.plan_threads} threads fit the {m.effective} CPUs and ran without "
        f"queueing ({_pct(m.peak_wait_share)} wait at peak)",
        evidence,
    )
