"""Pareto fronts across budgets: per-budget optima, NSGA-II's native front, exports, plot, CLI."""

from __future__ import annotations

import argparse
import csv
import json

import numpy as np
import pytest

import mpsolve
from mpsolve.cli.pareto import add_subcommands
from mpsolve.workflows.pareto import plot_fronts

BUDGETS = ["20G", "40G", "110G"]


@pytest.fixture(scope="module")
def cpsat_front() -> mpsolve.ParetoFront:
    return mpsolve.pareto(mpsolve.Problem("small"), over="flops", budgets=BUDGETS, solver="cpsat", workers=1)


def test_one_proved_point_per_budget(cpsat_front: mpsolve.ParetoFront) -> None:
    pts = cpsat_front.points
    assert [p["budget"] for p in pts] == [20e9, 40e9, 110e9]
    assert all(p["status"] == "optimal" and p["cost"] <= p["budget"] for p in pts)
    objectives = [p["objective"] for p in pts]
    assert objectives == sorted(objectives)  # a larger budget never buys less
    assert cpsat_front.front() and cpsat_front.native == []


def test_infeasible_budget_is_a_point_not_an_error() -> None:
    fr = mpsolve.pareto(mpsolve.Problem("small"), budgets=["1M", "40G"], solver="exhaustive")
    assert fr.points[0]["status"] == "infeasible" and fr.points[0]["architecture"] is None
    assert fr.points[1]["status"] == "optimal"


def test_nsga2_contributes_its_native_front() -> None:
    fr = mpsolve.pareto(mpsolve.Problem("small"), budgets=["40G", "110G"], solver="nsga2", seed=0, generations=20)
    assert len(fr.native) > 3
    F = np.array([[-p["objective"], p["costs"]["flops"]] for p in fr.native])
    for i, row in enumerate(F):
        assert not np.any(np.all(F <= row, axis=1) & np.any(F < row, axis=1)), f"native point {i} is dominated"


def test_exports_and_plot(cpsat_front: mpsolve.ParetoFront, tmp_path) -> None:
    data = json.loads(cpsat_front.to_json(tmp_path / "front.json"))
    assert data["over"] == "flops" and len(data["points"]) == 3
    assert json.loads((tmp_path / "front.json").read_text()) == data
    cpsat_front.to_csv(tmp_path / "front.csv")
    rows = list(csv.DictReader(open(tmp_path / "front.csv")))
    assert len(rows) == 3 and rows[0]["kind"] == "budget" and float(rows[0]["flops"]) <= 20e9
    plot_fronts([cpsat_front], tmp_path / "front.png", mpsolve.Problem("small"))
    assert (tmp_path / "front.png").stat().st_size > 1000


def _cli() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mpsolve")
    add_subcommands(parser.add_subparsers(dest="command"))
    return parser


def test_cli_prints_one_json_object_and_writes_files(tmp_path, capsys) -> None:
    args = _cli().parse_args(
        [
            "pareto",
            "--budgets",
            "20G,40G",
            "--space",
            "small",
            "--json",
            "--csv",
            str(tmp_path / "f.csv"),
            "--plot",
            str(tmp_path / "f.png"),
        ]
    )
    assert args.func(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["solver"] == "cpsat" and [p["status"] for p in out["points"]] == ["optimal", "optimal"]
    assert (tmp_path / "f.csv").exists() and (tmp_path / "f.png").exists()


def test_cli_rejects_bad_budgets_with_a_library_error() -> None:
    args = _cli().parse_args(["pareto", "--budgets", "40X", "--space", "small"])
    with pytest.raises(mpsolve.MpsolveError, match="unit"):
        args.func(args)
