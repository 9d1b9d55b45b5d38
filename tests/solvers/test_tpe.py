"""The TPE backend's persistent studies: continued, counted, and tied to one problem."""

from __future__ import annotations

import pytest

import mpsolve
from mpsolve.utils.errors import SolverError

optuna = pytest.importorskip("optuna")

OPTIONS = {"n_startup_trials": 4, "polish": False}


def _problem(budget: str = "40G") -> mpsolve.Problem:
    return mpsolve.Problem("small", constraints=[mpsolve.Budget("flops", budget)])


def test_a_stored_study_is_continued_and_its_trials_count(tmp_path):
    url, problem = f"sqlite:///{tmp_path / 'study.db'}", _problem()
    first = mpsolve.solve(problem, "tpe", seed=0, storage=url, n_trials=6, **OPTIONS)
    again = mpsolve.solve(problem, "tpe", seed=1, storage=url, n_trials=6, **OPTIONS)
    # the study holds its 6 trials already: none run, the stored ones re-scored and the best returned
    assert again.status == "feasible" and again.objective == first.objective and again.n_evals == 6
    more = mpsolve.solve(problem, "tpe", seed=2, storage=url, n_trials=9, **OPTIONS)
    assert more.objective >= first.objective and more.n_evals == 9
    study = optuna.load_study(study_name=f"mpsolve-{problem.fingerprint()}", storage=url)
    assert len(study.trials) == 9 and study.user_attrs["mpsolve_fingerprint"] == problem.fingerprint()


def test_a_study_of_another_problem_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    mpsolve.solve(_problem(), "tpe", seed=0, storage=url, study_name="s", n_trials=3, **OPTIONS)
    with pytest.raises(SolverError, match=r"study 's' .* holds trials of problem \w+, not of this .*study_name"):
        mpsolve.solve(_problem("30G"), "tpe", seed=0, storage=url, study_name="s", n_trials=3, **OPTIONS)
    foreign = optuna.create_study(study_name="foreign", storage=url)
    foreign.optimize(lambda trial: trial.suggest_int("x", 0, 3), n_trials=1)
    with pytest.raises(SolverError, match="a problem it does not name"):
        mpsolve.solve(_problem(), "tpe", seed=0, storage=url, study_name="foreign", n_trials=3, **OPTIONS)


def test_a_stored_studys_result_reruns_only_with_allow_storage(tmp_path):
    from mpsolve.workflows import load_problem_file
    from mpsolve.workflows.problem_file import ProblemFileError

    url, problem = f"sqlite:///{tmp_path / 'study.db'}", _problem()
    first = mpsolve.solve(problem, "tpe", seed=0, storage=url, n_trials=6, **OPTIONS)
    (tmp_path / "result.json").write_text(first.to_json())
    with pytest.raises(ProblemFileError, match="pass --allow-storage"):
        load_problem_file(tmp_path / "result.json")
    spec = load_problem_file(tmp_path / "result.json", allow_storage=True)  # before: refused even so
    assert spec.solver_options["storage"] == url and spec.solve().objective == first.objective


def test_a_storage_that_cannot_be_opened_is_one_line(tmp_path):
    """Before: SQLAlchemy's second line ("(Background on this error at: ...)") followed the error."""
    (tmp_path / "folder").mkdir()
    url = f"sqlite:///{tmp_path / 'folder'}"  # a folder is no database file
    with pytest.raises(SolverError, match=r"^tpe: cannot open storage .*: OperationalError: .*unable to open") as info:
        mpsolve.solve(_problem(), "tpe", seed=0, storage=url, n_trials=3, **OPTIONS)
    assert "\n" not in str(info.value)
