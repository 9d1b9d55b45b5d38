"""Search spaces from TOML files (the CLI's ``--space FILE.toml``)."""

from __future__ import annotations

from pathlib import Path

from mpsolve.spaces._presets import SPACES, get_space
from mpsolve.spaces._space import SearchSpace
from mpsolve.utils.errors import SpaceError, shown, shown_name
from mpsolve.utils.files import parse_data, read_text_bounded

__all__ = ["load_space", "space_label"]


#: the top-level keys of a problem file that are no space field
_PROBLEM_KEYS = ("objective", "budget", "budgets", "constraints", "report_costs", "solver")


def space_label(spec: str) -> str:
    """The name a space given as ``spec`` goes by: a preset's own, a TOML file's stem."""
    return Path(spec).stem if spec.lower().endswith(".toml") else spec


def load_space(spec: str) -> SearchSpace:
    """A preset name, or a TOML file with the :class:`SearchSpace` fields (optionally a ``[space]`` table)."""
    if isinstance(spec, str) and spec not in SPACES and not spec.lower().endswith(".toml") and Path(spec).is_file():
        raise SpaceError(f"space file {spec!r} must be a .toml file of SearchSpace fields (or give a preset: "
                         f"{', '.join(SPACES)})")
    if not isinstance(spec, str) or spec in SPACES or not spec.lower().endswith(".toml"):
        return get_space(spec)
    data = parse_data(read_text_bounded(Path(spec), "space file", SpaceError), "toml", SpaceError,
                      f"cannot read space file {spec!r}")
    # a problem file's objective, budgets or solver would be dropped without a word (or, beside a space's own
    # fields, called unknown search-space fields); not every command takes a problem file (pareto does not)
    extra = sorted(shown_name(k) for k in data if k != "space" and ("space" in data or k in _PROBLEM_KEYS))
    if extra:
        raise SpaceError(f"space file {spec!r} holds {', '.join(extra)}{' besides [space]' if 'space' in data else ''}"
                         ", which a space file does not take: keep only the space in it (a whole problem is a "
                         "--problem file, of mpsolve design or sweep)")
    if "space" in data:
        data = data["space"]
    if not data:
        raise SpaceError(f"space file {spec!r} holds no space: give SearchSpace fields (num_blocks, embed_dims, "
                         "ffn_ratios, layers, ...) or a preset, e.g. preset = \"paper\"")
    if not isinstance(data, dict):
        raise SpaceError(f"space file {spec!r}: [space] must be a table of SearchSpace fields, got {shown(data)} "
                         "(for a preset write: preset = \"paper\")")
    preset = data.pop("preset", None)
    if preset is not None and not isinstance(preset, str):
        raise SpaceError(f"space file {spec!r}: preset must be a preset name, got {shown(preset)}")
    base = get_space(preset).to_dict() if preset else {}
    return SearchSpace.from_dict({**base, "name": space_label(spec), **data})
