"""Register ``model_type="merino"`` with ``transformers``' Auto classes without importing it.

If ``transformers`` is already imported, register now; otherwise a one-shot import hook
registers right after ``transformers`` itself is first imported.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
import warnings
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

__all__ = ["install_registration_hook"]


def install_registration_hook() -> None:
    """Register now if ``transformers`` is imported, else once it is (idempotent; needs torch)."""
    if importlib.util.find_spec("torch") is None:
        return
    if "transformers" in sys.modules:
        _register()
    elif not any(isinstance(finder, _RegisterAfterImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _RegisterAfterImport())


def _register() -> None:
    from mpsolve.merino_model._errors import TRANSFORMERS_MIN, MissingDependencyError, require

    try:
        require("transformers", "hf", TRANSFORMERS_MIN)
    except MissingDependencyError:
        return  # an old transformers stays unregistered; using the HF classes names the upgrade
    # importing the HF module registers its classes (a no-op if it is being imported right now)
    importlib.import_module("mpsolve.merino_model._hf")


class _RegisterAfterImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself; makes the real loader of ``transformers`` register MeRino after running."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname != "transformers":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_then_register(module: ModuleType) -> None:
            exec_module(module)
            try:
                _register()
            except Exception as exc:  # an incompatible transformers must not break `import transformers`
                warnings.warn(
                    f"could not register MeRino with transformers' Auto classes ({exc}); "
                    "load checkpoints with mpsolve.merino_model.MeRinoHFForCausalLM.from_pretrained instead",
                    RuntimeWarning,
                    stacklevel=2,
                )

        spec.loader.exec_module = exec_then_register  # type: ignore[method-assign]
        return spec
