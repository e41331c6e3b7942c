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
