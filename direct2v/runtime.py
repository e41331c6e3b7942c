"""Where code runs and how big the book's examples are.

Every entry point takes a ``device`` and defaults to CUDA when present, the CPU otherwise
(DESIGN.md, conventions). Chapters read their size knobs through :func:`knob`, so that CI
runs them small (``DIRECT2V_MODE=ci``) and ``make book`` runs them at full size.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import torch


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """Return ``device`` as a ``torch.device``; ``None`` or ``"auto"`` picks CUDA when available."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={str(device)!r} asked for CUDA, but no CUDA device is available; use 'cpu' or 'auto'")
    return device


def pick_dtype(device: torch.device, dtype: torch.dtype | None = None) -> torch.dtype:
    """fp16 on a GPU, fp32 on the CPU, unless ``dtype`` says otherwise."""
    if dtype is not None:
        return dtype
    return torch.float16 if device.type == "cuda" else torch.float32


def mode() -> str:
    """``"ci"`` (small sizes, minutes on a CPU) or ``"full"``, from ``DIRECT2V_MODE`` (default: ``ci`` when ``CI`` is set)."""
    value = os.environ.get("DIRECT2V_MODE") or ("ci" if os.environ.get("CI") else "full")
    if value not in ("ci", "full"):
        raise ValueError(f"DIRECT2V_MODE={value!r} is not allowed; use 'ci' or 'full'")
    return value


def knob(name: str, ci, full):
    """A chapter's size knob: ``DIRECT2V_<NAME>`` if set, else ``ci`` or ``full`` by :func:`mode`.

    The environment value is converted to the type of ``full`` (int, float, bool or str).
    """
    raw = os.environ.get(f"DIRECT2V_{name.upper()}")
    default = ci if mode() == "ci" else full
    if raw is None:
        return default
    kind = type(full)
    if kind is bool:
        return raw.strip().lower() in ("1", "true", "yes", "on")
    try:
        return kind(raw)
    except ValueError as err:
        raise ValueError(f"DIRECT2V_{name.upper()}={raw!r} is not a valid {kind.__name__}") from err


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path next to ``path``; on success move it into place, on failure remove it.

    Nothing half-written is ever left at ``path``. The file gets the usual permissions (the
    process umask), not the private 0600 of ``tempfile.mkstemp``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    try:
        yield tmp
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
