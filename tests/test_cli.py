"""The ``direct2v`` command (direct2v.cli), in-process on a random-weight shapes-sized model."""
import json
import subprocess
import sys

import pytest
import torch

from direct2v import cli

PROMPT = "a red ball moves from left to right and a blue square appears later"


def test_generates_video_script_and_contact_sheet(tiny_model, tmp_path, capsys):
    out = tmp_path / "ball.mp4"
    code = cli.main([PROMPT, "--frames", "3", "--fps", "2", "--steps", "2", "--model", tiny_model,
                     "--device", "cpu", "-o", str(out)])
    assert code == 0
    assert out.stat().st_size > 0 and (tmp_path / "ball.png").exists()
    script = json.loads((tmp_path / "ball.json").read_text())
    assert len(script["frames"]) == 3 and script["fps"] == 2 and "red circle" in script["frames"][0]
    stdout = capsys.readouterr().out
    assert "3 frames at 2 fps" in stdout and "ball.mp4" in stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ball.json", "ball.mp4", "ball.png"]


def test_gif_lifting_and_baseline_attention(tiny_model, tmp_path):
    out = tmp_path / "sub" / "x.gif"
    code = cli.main([PROMPT, "--frames", "2", "--lift", "1", "--steps", "2", "--attention", "self",
                     "--dsf-quantile", "0", "--noise", "independent", "--model", tiny_model, "-q", "-o", str(out)])
    assert code == 0 and out.exists()
    assert len(json.loads(out.with_suffix(".json").read_text())["frames"]) == 4


@pytest.mark.parametrize("argv, words", [
    ([PROMPT, "-o", "x.avi"], "--output"),
    ([PROMPT, "--frames", "0"], "--frames 0"),
    ([PROMPT, "--fps", "-2"], "--fps"),
    ([PROMPT, "--dsf-quantile", "1.5"], "--dsf-quantile"),
    ([PROMPT, "--attention", "self"], "value-mapping attention"),
    ([PROMPT, "--noise", "shared", "--motion", "2", "0"], "--motion"),
    ([PROMPT, "--llm-model", "gpt-4o"], "--llm-model"),
    ([PROMPT, "--model", "./no/such/folder"], "no such folder"),
    ([PROMPT, "--device", "cuda:7"] if not torch.cuda.is_available() else [PROMPT, "--steps", "0"], ""),
    (["a purple dragon breathes fire"], "did not understand"),
    (["   "], "prompt is empty"),
])
def test_user_errors_exit_2_with_a_message_and_no_traceback(argv, words, tmp_path, capsys):
    assert cli.main(argv + ["-o", str(tmp_path / "v.mp4")] if "-o" not in argv else argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("direct2v: ") and words in err and "Traceback" not in err
    assert not list(tmp_path.iterdir())


def test_storyboard_error_suggests_an_llm_director(capsys):
    assert cli.main(["a purple dragon breathes fire"]) == 2
    err = capsys.readouterr().err
    assert "director error" in err and "OpenAIDirector" in err


def test_argparse_errors_and_help():
    assert cli.main(["--attention", "diagonal", PROMPT]) == 2
    assert cli.main([]) == 2
    assert cli.main(["--help"]) == 0


def test_runtime_failure_exits_1(tmp_path, capsys):
    (tmp_path / "empty").mkdir()  # a folder, but not a diffusers pipeline
    assert cli.main([PROMPT, "--model", str(tmp_path / "empty"), "-o", str(tmp_path / "v.mp4")]) == 1
    err = capsys.readouterr().err
    assert "could not load the model" in err and "--traceback" in err and "Traceback" not in err
    assert not (tmp_path / "v.mp4").exists()


def test_openai_key_is_never_printed(monkeypatch, tmp_path, capsys):
    secret = "sk-test-123456789-secret"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    monkeypatch.setattr("direct2v.director.openai_backend.time.sleep", lambda seconds: None)  # no backoff waits
    code = cli.main([PROMPT, "--director", "openai", "--base-url", "http://127.0.0.1:9/v1",
                     "--steps", "1", "-o", str(tmp_path / "v.mp4")])
    captured = capsys.readouterr()
    assert code == 2 and secret not in captured.out + captured.err


def test_python_dash_m_runs_the_same_main():
    run = subprocess.run([sys.executable, "-m", "direct2v", "--help"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and "--dsf-quantile" in run.stdout
