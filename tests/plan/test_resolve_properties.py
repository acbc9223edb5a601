"""Properties of the plan over any settings: the parser never raises, suggestions fit."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lkdoctor.plan.lenskit2025.resolve import collect_plan
from lkdoctor.plan.lenskit2025.settings import LK_VARIABLES, parse_lk_child, parse_lk_list
from lkdoctor.plan.parse import BACKEND_VARIABLES, MAX_COUNT, parse_backend

VARIABLES = [*LK_VARIABLES, *(v.name for v in BACKEND_VARIABLES)]

# Values users really type (small lists, spaces, typos) mixed with arbitrary text.
count_text = st.integers(min_value=-3, max_value=300).map(str)
list_text = st.lists(
    st.one_of(count_text, st.just(""), st.just(" 2 "), st.just("x")), min_size=1, max_size=5
).map(",".join)
value_text = st.one_of(list_text, count_text, st.text(max_size=30), st.just(""))
environments = st.dictionaries(st.sampled_from(VARIABLES), value_text, max_size=len(VARIABLES))
cpu_counts = st.integers(min_value=1, max_value=256)


@given(st.text())
@settings(deadline=None)
def test_the_parsers_never_raise_and_return_values_or_a_problem(text: str) -> None:
    for parsed in (
        parse_lk_list("LK_NUM_THREADS", text),
        parse_lk_child(text),
        *(parse_backend(variable, text) for variable in BACKEND_VARIABLES),
    ):
        assert parsed.values is None or parsed.problem is None
        if parsed.values is not None:
            assert all(0 <= value <= MAX_COUNT for value in parsed.values)
        if text == "":
            assert parsed.values is None and parsed.problem is None


def _oracle(text: str) -> tuple[int, ...] | None:
    """The accepted form, stated as a regular expression."""
    if text == "":
        return None
    values = []
    for item in text.split(","):
        match = re.fullmatch(r"\s*\+?([0-9]+)\s*", item)
        if match is None or not 1 <= int(match.group(1)) <= MAX_COUNT:
            return None
        values.append(int(match.group(1)))
    return tuple(values)


@given(st.one_of(st.text(), list_text, st.from_regex(r"\s*\+?[0-9]{1,12}\s*(,\s*[0-9]{1,3})*")))
@settings(deadline=None)
def test_a_list_is_valid_exactly_when_it_has_the_accepted_form(text: str) -> None:
    parsed = parse_lk_list("LK_NUM_BACKEND_THREADS", text)
    assert parsed.values == _oracle(text)
    assert (parsed.problem is None) == (text == "" or parsed.values is not None)


@settings(deadline=None)
@given(
    st.lists(st.integers(min_value=1, max_value=MAX_COUNT), min_size=1, max_size=8),
    st.sampled_from(["", " ", "\t", "  "]),
)
def test_lists_of_positive_integers_round_trip(values: list[int], space: str) -> None:
    text = ",".join(f"{space}{value}{space}" for value in values)
    assert parse_lk_list("LK_NUM_PROCS", text).values == tuple(values)


@given(environments, cpu_counts, cpu_counts)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_every_suggestion_applied_fits(env: dict[str, str], cpus: int, effective: int) -> None:
    plan = collect_plan(cpus, effective, env, ask_lenskit=False)
    assert plan.levels and plan.suggested_env
    applied = collect_plan(cpus, effective, {**env, **plan.suggested_env}, ask_lenskit=False)
    assert applied.peak_threads <= effective
    assert not [p for p in applied.env_problems if p.variable in LK_VARIABLES[:3]]


@given(environments, cpu_counts, cpu_counts)
@settings(max_examples=200, deadline=None)
def test_a_plan_that_fits_is_kept_as_it_is(env: dict[str, str], cpus: int, effective: int) -> None:
    plan = collect_plan(cpus, effective, env, ask_lenskit=False)
    applied = collect_plan(cpus, effective, {**env, **plan.suggested_env}, ask_lenskit=False)
    shape = [(lv.processes, lv.threads, lv.backend_threads) for lv in plan.levels]
    applied_shape = [(lv.processes, lv.threads, lv.backend_threads) for lv in applied.levels]
    if plan.peak_threads <= effective:
        assert applied_shape == shape
        assert plan.suggestion_fits_as_is == (
            set(plan.suggested_env) == {"LK_NUM_PROCS", "LK_NUM_THREADS", "LK_NUM_BACKEND_THREADS"}
        )
    else:
        assert not plan.suggestion_fits_as_is


@pytest.mark.lenskit2025
@given(environments, cpu_counts, cpu_counts)
@settings(max_examples=40, deadline=None)
def test_every_suggestion_also_fits_lenskits_own_code(
    env: dict[str, str], cpus: int, effective: int
) -> None:
    plan = collect_plan(cpus, effective, env, ask_lenskit=False)
    applied = collect_plan(cpus, effective, {**env, **plan.suggested_env})
    assert applied.lenskit_resolved is not None, applied.lenskit_note
    assert max(lv.demand for lv in applied.lenskit_resolved) <= effective
