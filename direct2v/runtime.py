"""Where code runs and how big the book's examples are.

Every entry point takes a ``device`` and defaults to CUDA when present, the CPU otherwise
(DESIGN.md, conventions). Chapters read their size knobs through :func:`knob`, so that CI
runs them small (``DIRECT2V_MODE=ci``) and ``make book`` runs them at full size.
"""
from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import stat
import uuid
from pathlib import Path


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """Return ``device`` as a ``torch.device``; ``None`` or ``"auto"`` picks CUDA when available."""
    import torch  # here, not at import: the command installs its interrupt handling first

    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device={device!r} is not allowed; use 'cpu', 'cuda', 'cuda:N', 'mps' or 'auto'") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={str(device)!r} asked for CUDA, but no CUDA device is available; use 'cpu' or 'auto'")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device={str(device)!r} asked for Apple's Metal (MPS), which this machine does not have; "
                         "use 'cpu' or 'auto'")
    if device.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device={str(device)!r} is not allowed; use 'cpu', 'cuda', 'cuda:N', 'mps' or 'auto'")
    return device


def pick_dtype(device: torch.device, dtype: torch.dtype | None = None) -> torch.dtype:
    """fp16 on a GPU, fp32 on the CPU, unless ``dtype`` says otherwise."""
    import torch

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


def _temporary_file(path: Path) -> str:
    """Create an empty file next to ``path`` with the usual permissions (0666 less the umask, applied by
    the kernel, so the process umask is never changed), or those of the file it will replace."""
    while True:
        tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.tmp{path.suffix}")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        try:
            if path.exists():
                os.chmod(fd, stat.S_IMODE(os.stat(path).st_mode))
        finally:
            os.close(fd)
        return str(tmp)


@contextlib.contextmanager
def _signals_held():
    """Hold SIGINT and SIGTERM back (delivered on exit) while files are moved into place."""
    held = {signal.SIGINT, signal.SIGTERM}
    try:
        old = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    except (AttributeError, ValueError, OSError):  # not POSIX
        yield
        return
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _make_folders(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; return the ones this call created, outermost first."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    created = []
    for path in reversed(missing):
        try:
            path.mkdir()
        except FileExistsError:  # made meanwhile by someone else: not ours to remove
            continue
        created.append(path)
    return created


def _place_new(tmp: str, path: Path) -> None:
    """Give the whole file ``tmp`` the name ``path`` only if no file has it (FileExistsError otherwise):
    a hard link, which the kernel refuses over an existing name; a copy into a file created exclusively
    where the file system has no hard links. ``tmp`` itself stays, removed by the caller."""
    taken = FileExistsError(errno.EEXIST, "exists already; not replaced", str(path))
    try:
        os.link(tmp, path)
        return
    except FileExistsError:
        raise taken from None
    except OSError as err:
        if err.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS):
            raise
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IMODE(os.stat(tmp).st_mode))
    except FileExistsError:
        raise taken from None
    try:
        with open(fd, "wb") as dst, open(tmp, "rb") as src:
            shutil.copyfileobj(src, dst)
    except BaseException:
        os.unlink(path)
        raise


def _ours(path: Path, tmp: str) -> bool:
    """Whether ``path`` is still the file this process placed from ``tmp`` (same inode or same bytes)."""
    try:
        return os.path.samefile(path, tmp) or Path(path).read_bytes() == Path(tmp).read_bytes()
    except OSError:
        return False


@contextlib.contextmanager
def atomic_paths(*paths: str | os.PathLike, replace: bool = True):
    """Yield one temporary path next to each of ``paths``; when the block succeeds, move them all into
    place together (interrupts held back meanwhile), on any failure or interrupt remove them all, and
    the folders this call created for them.

    The outputs of one step appear together or not at all, and nothing half-written is ever left.
    ``replace=False``: a path that exists when the files are moved into place (say, written by another
    run after this one checked it) is never replaced: :class:`FileExistsError` naming it, and none of
    the files appear. A replaced file keeps its permissions; a new one gets the usual ones (0666 less
    the umask).
    """
    paths = [Path(p) for p in paths]
    tmps: list[str] = []
    folders: list[Path] = []
    placed: list[tuple[Path, str]] = []
    try:
        for path in paths:
            folders += _make_folders(path.parent)
            tmps.append(_temporary_file(path))
        yield tmps
        with _signals_held():
            for tmp, path in zip(tmps, paths):
                if replace:
                    os.replace(tmp, path)
                else:
                    _place_new(tmp, path)
                    placed.append((path, tmp))
            for tmp in tmps:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
    except BaseException:
        for path, tmp in placed:
            if _ours(path, tmp):
                with contextlib.suppress(OSError):
                    os.unlink(path)
        for tmp in tmps:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        for folder in reversed(folders):
            with contextlib.suppress(OSError):  # only while empty
                folder.rmdir()
        raise


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path next to ``path``; on success move it into place, on failure remove it
    (one file of :func:`atomic_paths`)."""
    with atomic_paths(path) as (tmp,):
        yield tmp


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through :func:`atomic_path`; return the path."""
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
    return Path(path)


def atomic_folder(obj, folder: str | os.PathLike, save) -> None:
    """The folder counterpart of :func:`atomic_path`: save with ``save(obj, tmp_folder)``, then move its
    files into ``folder`` one ``os.replace`` each and drop the files it no longer has: ``folder`` always
    exists and every file in it is whole (a model folder of diffusers or transformers)."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.with_name(f".{folder.name}.{uuid.uuid4().hex[:8]}.tmp")  # one per call: saves never share it
    try:
        save(obj, tmp)
        folder.mkdir(exist_ok=True)
        new = {p.relative_to(tmp) for p in tmp.rglob("*") if p.is_file()}
        for name in sorted(new, key=lambda n: n.suffix == ".json"):  # weights first, configs last
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp / name).replace(folder / name)
        for path in folder.rglob("*"):
            if path.is_file() and path.relative_to(folder) not in new:
                path.unlink()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
