"""The non-dominated filter (pymoo's sorting) and the hypervolume of fronts (pymoo's HV)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mpsolve.core.front import check_reference_point, hypervolume, non_dominated
from mpsolve.utils.errors import MpsolveError


def quadratic_non_dominated(F: np.ndarray) -> list[int]:
    """The hand-written filter pymoo's sorting replaced: the reference behaviour."""
    _, first = np.unique(F, axis=0, return_index=True)
    keep = []
    for i in sorted(first):
        dominated = np.all(F <= F[i], axis=1) & np.any(F < F[i], axis=1)
        if not np.any(dominated):
            keep.append(int(i))
    return keep


@st.composite
def matrices(draw: st.DrawFn) -> np.ndarray:
    """Random objective matrices; values from a few levels so duplicates and ties are common."""
    m = draw(st.integers(1, 4))
    levels = draw(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=4))
    rows = draw(st.lists(st.lists(st.sampled_from(levels), min_size=m, max_size=m), max_size=40))
    return np.array(rows, dtype=float).reshape(len(rows), m)


@settings(max_examples=300, deadline=None)
@given(matrices())
def test_non_dominated_equals_the_quadratic_filter(F: np.ndarray) -> None:
    assert non_dominated(F) == quadratic_non_dominated(F)


def test_duplicates_are_kept_once_by_their_first_index() -> None:
    F = np.array([[1.0, 2.0], [0.0, 3.0], [1.0, 2.0], [2.0, 2.0], [0.0, 3.0]])
    assert non_dominated(F) == [0, 1]


# (objective, cost): (1, 90) is dominated, (-1, 10) is below objective 0, (4, 120) beyond cost 100
OBJECTIVE = [3.0, 2.0, 1.0, -1.0, 4.0]
COST = [50.0, 20.0, 90.0, 10.0, 120.0]


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        # cost axis in units of 100: 2 x (0.5 - 0.2) + 3 x (1 - 0.5)
        ((0.0, 100.0), 2.1),
        # heights less 1: 1 x 0.3 + 2 x 0.5
        ((1.0, "100"), 1.3),
        # (-1, 10) counts now: 1 x (0.2 - 0.1) + 4 x 0.3 + 5 x 0.5
        ((-2.0, 100.0), 3.8),
        # (4, 120) counts: 2 x (0.5 - 0.2) / 2 + 3 x (1.2 - 0.5) / 2 + 4 x (2 - 1.2) / 2
        ((0.0, 200.0), 0.3 + 1.05 + 1.6),
    ],
)
def test_hypervolume_equals_the_hand_computed_area(reference: tuple[float, float], expected: float) -> None:
    assert hypervolume(OBJECTIVE, COST, reference) == pytest.approx(expected, rel=1e-12)


def test_hypervolume_does_not_depend_on_the_cost_unit() -> None:
    scaled = hypervolume(OBJECTIVE, [c * 1e9 for c in COST], (0.0, "100G"))
    assert scaled == pytest.approx(hypervolume(OBJECTIVE, COST, (0.0, 100.0)), rel=1e-12)
    assert hypervolume([], [], (0.0, 1.0)) == 0.0


def test_a_reference_cost_below_every_point_adds_nothing_without_numpy_warnings() -> None:
    """A subnormal reference cost: the points' cost over it overflowed, with numpy's RuntimeWarning."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert hypervolume(OBJECTIVE, COST, (0.0, 1e-320)) == 0.0
        assert hypervolume(OBJECTIVE, COST, (0.0, 100.0)) == pytest.approx(hypervolume(
            [*OBJECTIVE, 9.0], [*COST, 1e308], (0.0, 100.0)), rel=1e-12)  # a point beyond the reference: nothing


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ((0.0, 0.0), "positive finite cost"),
        ((0.0, -5.0), "positive finite cost"),
        ((float("nan"), 1.0), "finite objective"),
        ((0.0, float("inf")), "positive finite cost"),
        ((0.0,), "an objective and a cost"),
        ((0.0, 1.0, 2.0), "an objective and a cost"),
        ((0.0, "3X"), "an objective and a cost"),
        ("0,3G", "an objective and a cost"),
        (None, "an objective and a cost"),
        ((True, 1.0), "an objective and a cost"),  # was read as objective 1.0
        ((np.False_, 1.0), "an objective and a cost"),
    ],
)
def test_bad_reference_point_is_a_library_error(reference: object, message: str) -> None:
    with pytest.raises(MpsolveError, match=message):
        check_reference_point(reference)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: hypervolume([float("nan")], [1.0], (0, 10)), "finite objectives"),  # was 0.0
        (lambda: hypervolume([5.0], [-3.0], (0, 10)), "non-negative costs"),  # was 6.5
        (lambda: hypervolume([1.0, 2.0], [1.0], (0, 10)), "one cost per objective, got 2 and 1"),  # numpy's error
        (lambda: non_dominated(np.array([[1.0, np.nan], [0.0, 0.0]])), "finite numbers.*1 non-finite"),  # row dropped
        (lambda: non_dominated(np.array([1.0, 2.0])), "2-D array"),
    ],
)
def test_bad_points_are_refused(call, message: str) -> None:
    with pytest.raises(MpsolveError, match=message):
        call()
