"""The thread plan: parsing, levels by the documented rule, demand, backends, suggestion."""

from __future__ import annotations

import pytest

from lkdoctor.plan.lenskit2025.resolve import collect_plan, resolve_levels
from lkdoctor.plan.lenskit2025.settings import parse_lk_child, parse_lk_list
from lkdoctor.plan.parse import MAX_COUNT


def plan(cpus: int, effective: int, env: dict[str, str]):  # type: ignore[no-untyped-def]
    return collect_plan(cpus, effective, env, ask_lenskit=False)


def shape(levels) -> list[tuple[int, int, int]]:  # type: ignore[no-untyped-def]
    return [(lv.processes, lv.threads, lv.backend_threads) for lv in levels]


# --- parsing -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("4", (4,)),
        ("4,2", (4, 2)),
        (" 4 , 2 ,1 ", (4, 2, 1)),
        ("+3", (3,)),
        ("007", (7,)),
        (str(MAX_COUNT), (MAX_COUNT,)),
    ],
)
def test_valid_lists_parse_to_their_counts(value: str, expected: tuple[int, ...]) -> None:
    parsed = parse_lk_list("LK_NUM_THREADS", value)
    assert parsed.values == expected
    assert parsed.problem is None


@pytest.mark.parametrize(
    "value",
    [
        "abc",
        "0",
        "-2",
        "4,,2",
        "1.5",
        "4,",
        ",4",
        " ",
        "4 2",
        "1e3",
        "٤",
        "0x4",
        "4_0",
        str(MAX_COUNT + 1),
        "9" * 5000,
    ],
)
def test_malformed_lists_are_problems_naming_variable_value_and_form(value: str) -> None:
    parsed = parse_lk_list("LK_NUM_PROCS", value)
    assert parsed.values is None
    problem = parsed.problem
    assert problem is not None
    assert problem.variable == "LK_NUM_PROCS"
    assert problem.value == value or (
        len(value) > 200 and problem.value == value[:200] + f"… ({len(value):,} characters)"
    )
    assert "comma-separated list of positive integers" in problem.expected
    assert "planned here as if unset" in problem.consequence


def test_problem_says_which_item_and_what_lenskit_does() -> None:
    bad_item = parse_lk_list("LK_NUM_THREADS", "4,,2").problem
    assert bad_item is not None and "item 2 ('')" in bad_item.consequence
    assert "ValueError" in bad_item.consequence
    unchecked = parse_lk_list("LK_NUM_THREADS", "0").problem
    assert unchecked is not None and "unchecked" in unchecked.consequence


def test_empty_means_unset_without_a_problem() -> None:
    assert parse_lk_list("LK_NUM_PROCS", "") == parse_lk_list("LK_NUM_PROCS", None)
    assert parse_lk_list("LK_NUM_PROCS", "").values is None
    assert parse_lk_list("LK_NUM_PROCS", "").problem is None


def test_child_threads_is_one_integer() -> None:
    assert parse_lk_child("3").values == (3,)
    for value in ("3,1", "0", "x"):
        problem = parse_lk_child(value).problem
        assert problem is not None and problem.expected.startswith("a single positive integer")


# --- levels by the documented rule (hand-computed) ---------------------------------------

CASES = [
    # cpus, env, levels (P, T, B), demands
    pytest.param(1, {}, [(1, 1, 1)], [1], id="C1-defaults"),
    pytest.param(2, {}, [(2, 2, 1), (1, 1, 1)], [2, 2], id="C2-defaults"),
    pytest.param(3, {}, [(3, 3, 1), (1, 1, 1)], [3, 3], id="C3-defaults"),
    pytest.param(64, {}, [(4, 8, 4), (1, 4, 4)], [32, 64], id="C64-defaults"),
    pytest.param(
        8,
        {"LK_NUM_PROCS": "2,2", "LK_NUM_THREADS": "4,2,1", "LK_NUM_BACKEND_THREADS": "2,1"},
        [(2, 4, 2), (2, 2, 1), (1, 1, 1)],
        [8, 4, 4],
        id="C8-nested-lists",
    ),
    pytest.param(
        16,
        {"LK_NUM_PROCS": "4", "LK_NUM_THREADS": "6", "LK_NUM_BACKEND_THREADS": "3"},
        [(4, 6, 3), (1, 4, 3)],
        [18, 48],
        id="C16-exhausted-lists",
    ),
    pytest.param(
        3, {"LK_NUM_PROCS": "3,2"}, [(3, 3, 1), (2, 1, 1), (1, 1, 1)], [3, 3, 6], id="C3-deep"
    ),
    pytest.param(2, {"LK_NUM_THREADS": "4"}, [(2, 4, 1), (1, 1, 1)], [4, 2], id="C2-threads-over"),
    pytest.param(
        64, {"LK_NUM_CHILD_THREADS": "2"}, [(4, 8, 4), (1, 4, 2)], [32, 32], id="C64-child"
    ),
    pytest.param(
        64,
        {"LK_NUM_PROCS": "2,2", "LK_NUM_CHILD_THREADS": "3"},
        [(2, 8, 4), (2, 4, 3), (1, 4, 3)],
        [32, 24, 48],
        id="C64-child-deep",
    ),
    pytest.param(
        64,
        {"LK_NUM_BACKEND_THREADS": "2,5", "LK_NUM_CHILD_THREADS": "3"},
        [(4, 8, 2), (1, 4, 5)],
        [16, 80],
        id="C64-child-ignored-by-list",
    ),
    pytest.param(
        4, {"LK_NUM_PROCS": "1", "LK_NUM_THREADS": "2,9"}, [(1, 2, 2)], [4], id="C4-no-workers"
    ),
    pytest.param(
        2,
        {"LK_NUM_THREADS": "abc", "LK_NUM_PROCS": "0"},
        [(2, 2, 1), (1, 1, 1)],
        [2, 2],
        id="C2-invalid-is-unset",
    ),
]


@pytest.mark.parametrize(("cpus", "env", "levels", "demands"), CASES)
def test_levels_follow_the_documented_rule(
    cpus: int, env: dict[str, str], levels: list[tuple[int, int, int]], demands: list[int]
) -> None:
    result = plan(cpus, cpus, env)
    assert shape(result.levels) == levels
    assert [lv.demand for lv in result.levels] == demands
    assert [lv.level for lv in result.levels] == list(range(len(levels)))
    assert result.peak_threads == max(demands)
    assert result.oversubscription == round(max(demands) / cpus, 3)


def test_levels_resolve_with_lenskit_cpus_and_demand_is_judged_against_effective() -> None:
    result = plan(64, 2, {})
    assert result.cpu_count == 64 and result.effective == 2
    assert shape(result.levels) == [(4, 8, 4), (1, 4, 4)]
    assert result.peak_threads == 64
    assert result.oversubscription == 32.0


def test_instances_multiply_the_process_counts_above() -> None:
    result = plan(
        64, 64, {"LK_NUM_PROCS": "3,2,5", "LK_NUM_THREADS": "1", "LK_NUM_BACKEND_THREADS": "1"}
    )
    assert [lv.instances for lv in result.levels] == [1, 3, 6, 30]
    assert [lv.demand for lv in result.levels] == [1, 3, 6, 30]


def test_resolve_levels_has_no_depth_limit_below_the_lists() -> None:
    levels = resolve_levels((2,) * 20, (1,), (1,), None, 4)
    assert len(levels) == 21
    assert levels[-1].processes == 1


# --- LK_NUM_CHILD_THREADS ----------------------------------------------------------------


def test_child_threads_has_a_list_form_equivalent() -> None:
    result = plan(64, 64, {"LK_NUM_CHILD_THREADS": "2"})
    assert result.child_threads == 2
    assert result.child_threads_equivalent == {"LK_NUM_BACKEND_THREADS": "4,2"}
    equivalent = plan(64, 64, result.child_threads_equivalent)
    assert shape(equivalent.levels) == shape(result.levels)


def test_child_threads_with_a_single_backend_value() -> None:
    result = plan(8, 8, {"LK_NUM_BACKEND_THREADS": "3", "LK_NUM_CHILD_THREADS": "1"})
    assert result.child_threads_equivalent == {"LK_NUM_BACKEND_THREADS": "3,1"}


# --- the backends' own variables ---------------------------------------------------------


def setting(result, name: str):  # type: ignore[no-untyped-def]
    return next(s for s in result.backend_env if s.variable == name)


def test_openblas_count_replaces_lenskits_blas_limit_and_counts_when_larger() -> None:
    result = plan(64, 64, {"OPENBLAS_NUM_THREADS": "16"})
    blas = setting(result, "OPENBLAS_NUM_THREADS")
    assert blas.counted and blas.threads == 16
    assert "skips its BLAS limit" in blas.effect
    assert [lv.counted_backend_threads for lv in result.levels] == [16, 16]
    assert [lv.demand for lv in result.levels] == [8 * 16, 4 * 4 * 16]
    assert shape(result.levels) == [(4, 8, 4), (1, 4, 4)]  # LensKit's own counts unchanged


def test_smaller_backend_value_does_not_lower_the_demand() -> None:
    result = plan(64, 64, {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"})
    assert [lv.demand for lv in result.levels] == [32, 64]


def test_empty_openblas_still_skips_the_limit_and_blas_takes_every_cpu() -> None:
    result = plan(8, 8, {"OPENBLAS_NUM_THREADS": ""})
    blas = setting(result, "OPENBLAS_NUM_THREADS")
    assert blas.threads == 8 and "empty" in blas.effect
    assert result.env_problems == []


def test_mkl_alone_leaves_openblas_to_omp_or_every_cpu() -> None:
    alone = setting(plan(4, 4, {"MKL_NUM_THREADS": "2"}), "MKL_NUM_THREADS")
    assert alone.threads == 4 and "OpenBLAS" in alone.effect
    with_omp = setting(
        plan(4, 4, {"MKL_NUM_THREADS": "2", "OMP_NUM_THREADS": "1"}), "MKL_NUM_THREADS"
    )
    assert with_omp.threads == 2


def test_blis_counts_only_when_lenskit_skips_its_blas_limit() -> None:
    assert not setting(plan(8, 8, {"BLIS_NUM_THREADS": "8"}), "BLIS_NUM_THREADS").counted
    both = plan(8, 8, {"BLIS_NUM_THREADS": "8", "OPENBLAS_NUM_THREADS": "1"})
    assert setting(both, "BLIS_NUM_THREADS").counted
    assert both.levels[0].counted_backend_threads == 8


def test_omp_list_counts_its_first_item_and_rayon_is_not_counted() -> None:
    result = plan(8, 8, {"OMP_NUM_THREADS": "6,2", "RAYON_NUM_THREADS": "32"})
    assert setting(result, "OMP_NUM_THREADS").threads == 6
    rayon = setting(result, "RAYON_NUM_THREADS")
    assert not rayon.counted and rayon.threads == 32
    assert result.levels[0].counted_backend_threads == 6


def test_rayon_zero_means_one_thread_per_cpu() -> None:
    rayon = setting(plan(8, 8, {"RAYON_NUM_THREADS": "0"}), "RAYON_NUM_THREADS")
    assert rayon.threads == 8


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("OMP_NUM_THREADS", "4,,2"),
        ("MKL_NUM_THREADS", "many"),
        ("NUMEXPR_NUM_THREADS", "0"),
        ("NUMBA_NUM_THREADS", "-1"),
        ("BLIS_NUM_THREADS", "2.5"),
        ("RAYON_NUM_THREADS", "-3"),
    ],
)
def test_malformed_backend_values_are_problems(name: str, value: str) -> None:
    result = plan(4, 4, {name: value})
    assert [p.variable for p in result.env_problems] == [name]
    assert result.env_problems[0].value == value


def test_inputs_list_what_is_set() -> None:
    result = plan(
        4,
        4,
        {"LK_NUM_PROCS": "2", "LK_NUM_THREADS": "", "OPENBLAS_NUM_THREADS": "", "HOME": "/root"},
    )
    assert result.inputs == {"LK_NUM_PROCS": "2", "OPENBLAS_NUM_THREADS": ""}


# --- the suggestion ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cpus", "effective", "env", "suggested"),
    [
        pytest.param(
            64,
            2,
            {},
            {"LK_NUM_PROCS": "2,1", "LK_NUM_THREADS": "2,1", "LK_NUM_BACKEND_THREADS": "1,1"},
            id="docker-2-on-64",
        ),
        pytest.param(
            64,
            8,
            {"LK_NUM_THREADS": "2", "LK_NUM_BACKEND_THREADS": "2"},
            {"LK_NUM_PROCS": "4,1", "LK_NUM_THREADS": "2,2", "LK_NUM_BACKEND_THREADS": "2,1"},
            id="keeps-level-0-choices",
        ),
        pytest.param(
            1,
            1,
            {},
            {"LK_NUM_PROCS": "1", "LK_NUM_THREADS": "1", "LK_NUM_BACKEND_THREADS": "1"},
            id="single-cpu",
        ),
        pytest.param(
            64,
            64,
            {"OPENBLAS_NUM_THREADS": "16"},
            {
                "LK_NUM_PROCS": "4,1",
                "LK_NUM_THREADS": "8,4",
                "LK_NUM_BACKEND_THREADS": "4,4",
                "OPENBLAS_NUM_THREADS": "4",
            },
            id="rewrites-openblas",
        ),
    ],
)
def test_suggestion_by_hand(
    cpus: int, effective: int, env: dict[str, str], suggested: dict[str, str]
) -> None:
    result = plan(cpus, effective, env)
    assert result.suggested_env == suggested
    applied = plan(cpus, effective, {**env, **suggested})
    assert applied.peak_threads <= effective


def test_a_plan_that_fits_is_only_pinned() -> None:
    env = {"LK_NUM_THREADS": "2", "LK_NUM_BACKEND_THREADS": "2"}
    result = plan(64, 16, env)
    assert result.peak_threads == 16
    assert result.suggestion_fits_as_is
    assert result.suggested_env == {
        "LK_NUM_PROCS": "4,1",
        "LK_NUM_THREADS": "2,2",
        "LK_NUM_BACKEND_THREADS": "2,2",
    }


def test_invalid_values_still_give_a_full_report() -> None:
    result = plan(
        4, 4, {"LK_NUM_THREADS": "1.5", "LK_NUM_CHILD_THREADS": "x", "OMP_NUM_THREADS": "y"}
    )
    assert {p.variable for p in result.env_problems} == {
        "LK_NUM_THREADS",
        "LK_NUM_CHILD_THREADS",
        "OMP_NUM_THREADS",
    }
    assert shape(result.levels) == shape(plan(4, 4, {}).levels)
    assert result.child_threads is None
    assert result.suggested_env


def test_huge_values_stay_finite() -> None:
    big = str(MAX_COUNT)
    result = plan(4, 4, {"LK_NUM_PROCS": ",".join([big] * 30), "LK_NUM_THREADS": big})
    assert len(result.levels) == 31
    assert result.oversubscription == 1e12
    assert plan(4, 4, {**result.suggested_env}).peak_threads <= 4
