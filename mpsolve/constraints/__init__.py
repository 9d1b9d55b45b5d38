"""Constraints of the mathematical program: budgets, width order, effectiveness, predicates.

The cost models a budget bounds live in :mod:`mpsolve.costs`.
"""

from mpsolve.constraints._constraints import Budget, Constraint, Effectiveness, NonDecreasingWidths, Predicate

__all__ = ["Budget", "Constraint", "Effectiveness", "NonDecreasingWidths", "Predicate"]
