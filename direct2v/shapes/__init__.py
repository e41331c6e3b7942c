"""Deprecated for one release: ``direct2v.shapes`` was split into two packages.

The world (``world``, ``render``, ``captions``, ``detect``) is :mod:`direct2v.world`; the miniature
model's making and judging (``model``, ``train``, ``grounding``, ``quality``, ``stage``, ``card``,
``recipe`` and ``weights/``) is :mod:`direct2v.miniature`. ``import direct2v.shapes.X`` warns
(``DeprecationWarning``) and gives the new module itself; ``python -m direct2v.shapes.train``
(``quality``, ``recipe``) runs the new command. This package stands outside the import layers
(CONTRIBUTING): nothing in direct2v imports it.
"""
import importlib
import runpy
import sys
import warnings

from ..world import *  # noqa: F401,F403 - the old package's names (the world's)
from ..world import __all__  # noqa: F401

MOVED = {**{name: f"direct2v.world.{name}" for name in ("world", "render", "captions", "detect")},
         **{name: f"direct2v.miniature.{name}"
            for name in ("model", "train", "grounding", "quality", "stage", "card", "recipe")}}
"""Old module name -> the module that holds it now."""

warnings.warn("direct2v.shapes is deprecated: use direct2v.world (the world) and direct2v.miniature (the model)",
              DeprecationWarning, stacklevel=2)


def redirect(spec_name: str, name: str) -> None:
    """Run by each old module: warn, then stand in for the new module (or run it, under ``python -m``)."""
    new = MOVED[spec_name.rpartition(".")[2]]
    if name == "__main__":  # python -m direct2v.shapes.X: attributed to __main__, so shown by default
        warnings.warn(f"python -m {spec_name} is deprecated: use python -m {new}", DeprecationWarning, stacklevel=2)
        runpy.run_module(new, run_name="__main__", alter_sys=True)
    else:
        warnings.warn(f"{spec_name} is deprecated: use {new}", DeprecationWarning, stacklevel=3)
        sys.modules[spec_name] = importlib.import_module(new)
