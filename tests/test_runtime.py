"""Devices, size knobs and atomic writes (direct2v.runtime)."""
import os
from pathlib import Path

import pytest

from direct2v import runtime


def test_knob_reads_mode_and_environment(monkeypatch):
    monkeypatch.delenv("DIRECT2V_FRAMES", raising=False)
    monkeypatch.setenv("DIRECT2V_MODE", "ci")
    assert runtime.knob("frames", ci=2, full=8) == 2
    monkeypatch.setenv("DIRECT2V_MODE", "full")
    assert runtime.knob("frames", ci=2, full=8) == 8
    monkeypatch.setenv("DIRECT2V_FRAMES", "5")
    assert runtime.knob("frames", ci=2, full=8) == 5
    monkeypatch.setenv("DIRECT2V_GPU", "yes")
    assert runtime.knob("gpu", ci=False, full=False) is True
    monkeypatch.setenv("DIRECT2V_FRAMES", "five")
    with pytest.raises(ValueError, match="DIRECT2V_FRAMES='five'"):
        runtime.knob("frames", ci=2, full=8)
    monkeypatch.setenv("DIRECT2V_MODE", "huge")
    with pytest.raises(ValueError, match="DIRECT2V_MODE='huge'"):
        runtime.mode()


def test_atomic_path_moves_into_place_or_leaves_nothing(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    with runtime.atomic_path(target) as tmp:
        Path(tmp).write_text("new")
        assert not target.exists() and Path(tmp).parent == target.parent
    assert target.read_text() == "new" and os.listdir(target.parent) == ["out.txt"]
    with pytest.raises(RuntimeError):
        with runtime.atomic_path(target) as tmp:
            Path(tmp).write_text("half")
            raise RuntimeError("boom")
    assert target.read_text() == "new" and os.listdir(target.parent) == ["out.txt"]


def test_atomic_paths_keep_permissions_and_write_together(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.png"
    a.write_text("old")
    a.chmod(0o600)
    with runtime.atomic_paths(a, b) as (ta, tb):
        Path(ta).write_text("A")
        Path(tb).write_text("B")
    assert (a.read_text(), b.read_text()) == ("A", "B") and (a.stat().st_mode & 0o777) == 0o600
    runtime.write_text_atomic(a, "text")
    assert a.read_text() == "text" and sorted(os.listdir(tmp_path)) == ["a.json", "b.png"]


# --- issue 27: never over a file that appeared meanwhile, and no folder left by a failed write
def test_atomic_paths_without_replace_never_replace_a_file_that_appeared(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.png"
    with pytest.raises(FileExistsError) as info:
        with runtime.atomic_paths(a, b, replace=False) as (ta, tb):
            Path(ta).write_text("mine")
            Path(tb).write_text("mine")
            b.write_text("theirs")  # another run, after this one checked
    assert info.value.filename == str(b)
    assert sorted(os.listdir(tmp_path)) == ["b.png"] and b.read_text() == "theirs"  # a.json was taken back
    with runtime.atomic_paths(a, tmp_path / "c.png", replace=False) as (ta, tc):
        Path(ta).write_text("A")
        Path(tc).write_text("C")
    assert a.read_text() == "A" and sorted(os.listdir(tmp_path)) == ["a.json", "b.png", "c.png"]


def test_atomic_paths_without_hard_links_copy_into_an_exclusive_file(tmp_path, monkeypatch):
    def no_links(src, dst):
        raise PermissionError(1, "Operation not permitted")  # as FAT or some network file systems answer

    monkeypatch.setattr(os, "link", no_links)
    a = tmp_path / "a.txt"
    with runtime.atomic_paths(a, replace=False) as (ta,):
        Path(ta).write_text("A")
    assert a.read_text() == "A" and os.listdir(tmp_path) == ["a.txt"]
    with pytest.raises(FileExistsError):
        with runtime.atomic_paths(a, replace=False) as (ta,):
            Path(ta).write_text("B")
    assert a.read_text() == "A" and os.listdir(tmp_path) == ["a.txt"]


def test_a_failed_write_leaves_no_folder_it_made(tmp_path):
    (tmp_path / "old").mkdir()
    with pytest.raises(KeyboardInterrupt):
        with runtime.atomic_paths(tmp_path / "new" / "deeper" / "v.mp4", tmp_path / "old" / "v.json"):
            raise KeyboardInterrupt
    assert os.listdir(tmp_path) == ["old"] and not os.listdir(tmp_path / "old")


def test_atomic_folder_saves_never_share_a_temporary_folder(tmp_path):
    seen = []

    def save(obj, path):
        seen.append(path)
        path.mkdir()
        (path / "config.json").write_text(obj)
        if obj == "broken":
            raise RuntimeError("disk full")

    runtime.atomic_folder("one", tmp_path / "unet", save)
    with pytest.raises(RuntimeError):
        runtime.atomic_folder("broken", tmp_path / "unet", save)
    runtime.atomic_folder("two", tmp_path / "unet", save)
    assert len(set(seen)) == 3 and sorted(os.listdir(tmp_path)) == ["unet"]
    assert (tmp_path / "unet" / "config.json").read_text() == "two"


def test_devices_are_checked_up_front(monkeypatch):
    import torch

    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(ValueError, match="device='mps'.*Metal"):
        runtime.pick_device("mps")
    with pytest.raises(ValueError, match="device='meta' is not allowed"):
        runtime.pick_device("meta")
    assert runtime.pick_device("cpu").type == "cpu"
