"""Named search spaces and the published MeRino architectures."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from mpsolve.spaces._architecture import Architecture, Block
from mpsolve.spaces._space import SearchSpace
from mpsolve.utils.errors import ArchitectureError, SpaceError, shown
from mpsolve.utils.files import parse_data, read_text_bounded
from mpsolve.utils.registry import Registry

__all__ = [
    "SPACES", "ARCHITECTURES", "get_space", "get_architecture", "read_architecture_json", "register_space",
    "resolve_architecture",
]

#: every named search space (presets and ``register_space``-ed ones)
SPACES: Registry[SearchSpace] = Registry("search space", SpaceError, plural="spaces")


def register_space(space: SearchSpace, *, replace: bool = False) -> SearchSpace:
    """Make a search space available by its ``name`` (``get_space``, problem files, the CLI);
    a taken name (a built-in's included) is refused unless ``replace``."""
    if not isinstance(space, SearchSpace):
        raise SpaceError(f"register_space expects a SearchSpace, got {space!r}")
    SPACES.add(space.name, space, replace)
    return space


for _preset in (
    # Spec section 5: 4 blocks, E in 128..1024, r in 1..4, L in 1..4 (about 2e8 designs).
    SearchSpace(name="default"),
    # The grid of the published designs: E 512..1024, r in {1, 1.5}, L in {1, 2, 3}.
    SearchSpace(
        embed_dims=(512, 640, 768, 896, 1024), ffn_ratios=(1.0, 1.5), layers=(1, 2, 3), name="paper"
    ),
    # Small enough to enumerate in a blink: the ground truth of the tests.
    SearchSpace(
        num_blocks=3, embed_dims=(128, 256, 384, 512), ffn_ratios=(1.0, 2.0, 4.0), layers=(1, 2, 3), name="small"
    ),
    # Eight blocks with the default grids: about 2.4e15 designs, far past enumeration.
    SearchSpace(num_blocks=8, name="large8"),
    # A tiny byte-level member of the family, trainable on a CPU (benchmarks).
    SearchSpace(
        num_blocks=4,
        embed_dims=(64, 128, 192, 256),
        ffn_ratios=(1.0, 2.0, 3.0, 4.0),
        layers=(1, 2, 3),
        vocab_size=256,
        embed_proj_dim=128,
        max_positions=512,
        name="byte-tiny",
    ),
):
    register_space(_preset)


def _published(widths, ratios, layers) -> Architecture:
    return Architecture(blocks=tuple(Block(e, float(r), n) for e, r, n in zip(widths, ratios, layers)))


ARCHITECTURES: dict[str, Callable[[], Architecture]] = {
    "merino-52m": lambda: _published((512, 512, 640, 896), (1, 1, 1, 1), (2, 3, 2, 1)),
    "merino-61m": lambda: _published((640, 768, 896, 1024), (1, 1.5, 1, 1), (2, 2, 2, 2)),
    "merino-64m": lambda: _published((640, 896, 1024, 1024), (1.5, 1.5, 1, 1), (3, 3, 2, 3)),
}


def get_space(name: str) -> SearchSpace:
    """A registered search space by name (a fresh copy)."""
    return SearchSpace.from_dict(SPACES[name].to_dict())


def get_architecture(name: str) -> Architecture:
    """A published architecture by name (``merino-52m``, ``merino-61m``, ``merino-64m``)."""
    if not isinstance(name, str) or name not in ARCHITECTURES:
        raise ArchitectureError(f"unknown architecture preset {name!r}; known: {', '.join(ARCHITECTURES)}")
    return ARCHITECTURES[name]()


def read_architecture_json(path: str | Path) -> dict[str, Any]:
    """The JSON object of an architecture or design-result file; another JSON value (a string,
    which would be taken for a preset name or another file) is refused."""
    data = parse_data(read_text_bounded(Path(path), "architecture JSON", ArchitectureError), "json",
                      ArchitectureError, f"cannot read architecture JSON {str(path)!r}")
    if not isinstance(data, dict):
        kind = {str: "a string", list: "a list", bool: "a boolean", type(None): "null"}.get(type(data), "a number")
        raise ArchitectureError(f"architecture JSON {str(path)!r} holds {kind}, not an object: give an architecture "
                                '({"blocks": [...], ...}) or a design result (mpsolve design --json)')
    return data


def resolve_architecture(architecture: Architecture | str | Path | Mapping[str, Any]) -> Architecture:
    """An :class:`Architecture` from itself, a preset name, a JSON file, or its JSON object.

    A JSON object (or file) may also be a design result holding the architecture under an
    ``"architecture"`` key.
    """
    if isinstance(architecture, Architecture):
        return architecture
    if isinstance(architecture, (str, Path)):
        if str(architecture) in ARCHITECTURES:
            return get_architecture(str(architecture))
        path = Path(architecture)
        if not path.is_file():
            raise ArchitectureError(
                f"{str(architecture)!r} is neither an architecture preset ({', '.join(ARCHITECTURES)}) "
                "nor an existing JSON file"
            )
        return resolve_architecture(read_architecture_json(path))
    if isinstance(architecture, Mapping):
        if "architecture" in architecture:
            if architecture["architecture"] is None and "status" in architecture:  # a result without a design
                raise ArchitectureError(f"the result holds no design (status {architecture['status']!r}): give a "
                                        "result that found one, a preset or an architecture")
            return Architecture.from_dict(architecture["architecture"])
        if "points" in architecture or "fronts" in architecture:  # mpsolve pareto --json
            raise ArchitectureError("this is a Pareto front (mpsolve pareto --json), not one design: give the "
                                    "'architecture' of one of its points, or solve that budget with mpsolve design")
        if "blocks" not in architecture and isinstance(architecture.get("format"), str):  # a profile, a checkpoint
            raise ArchitectureError(f"this is a {shown(architecture['format'])} file, not a design: give an "
                                    'architecture ({"blocks": [...], ...}) or a design result (mpsolve design --json)')
        return Architecture.from_dict(architecture)
    raise ArchitectureError(
        f"expected an Architecture, a preset name, a JSON file or a JSON object, got {type(architecture).__name__}"
    )
