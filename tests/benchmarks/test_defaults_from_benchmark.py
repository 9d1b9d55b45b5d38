"""The entropy's default options are the ones the committed proxy benchmark chose (issue #6)."""

from __future__ import annotations

import json
from pathlib import Path

from mpsolve import MeRinoEntropy

RESULT = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "proxy_correlation.json"


def test_library_default_is_the_benchmarks_choice() -> None:
    result = json.loads(RESULT.read_text())
    assert not result["partial"], "the committed proxy benchmark is partial: finish it before choosing defaults"
    chosen = result["chosen_default"]
    assert MeRinoEntropy().options() == MeRinoEntropy(**chosen["options"]).options(), (
        f"MeRinoEntropy's defaults differ from the benchmark's choice {chosen['name']!r}: "
        "set them, or rerun `python benchmarks/proxy_correlation.py --no-train`"
    )
    assert result["library_default"] == chosen["name"]  # the report was made with the defaults in place
