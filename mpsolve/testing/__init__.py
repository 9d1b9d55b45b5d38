"""Test helpers for backend authors: the solver conformance suite (:mod:`mpsolve.testing.pytest_solvers`)."""
