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
    ([PROMPT, "--device", "cuda:7"], "--device 'cuda:7'") if not torch.cuda.is_available()
    else ([PROMPT, "--steps", "0"], "--steps 0"),
    ([PROMPT, "--rvm-period", "0"], "--rvm-period 0"),
    ([PROMPT, "--attention", "sparse_causal", "--dsf-quantile", "0", "--max-batch-frames", "4"], "sparse_causal"),
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


# --- issue 17: every check before compute, no silent overwrite, one run's files together, no key anywhere
def all_files(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.fixture
def no_model(monkeypatch):
    """Fails the test if the model would load (the checks must come first)."""
    def load(*args, **kwargs):
        raise AssertionError("the model was loaded")
    monkeypatch.setattr("direct2v.pipeline.load_pipeline", load)


@pytest.mark.parametrize("extra, words", [
    (["--guidance", "inf"], "--guidance inf"),
    (["--guidance", "nan"], "--guidance nan"),
    (["--guidance", "1e30"], "--guidance 1e+30: use a finite number in [0, 100.0]"),  # black frames before
    (["--fps", "1e308"], "--fps 1e+308"),
    (["--scale", "1000"], "--scale 1000"),
    (["--steps", "1"], "--steps 1"),
    (["--max-batch-frames", "1"], "--max-batch-frames 1"),
    (["--mapping-start", "-1"], "--mapping-start -1"),
    (["--seed", str(2 ** 70)], "--seed"),
    (["--lift", "1000000000000"], "--lift 1000000000000"),
    (["--device", "banana"], "--device 'banana'"),
    (["--device", "mps"], "--device 'mps' asked for Apple's Metal") if not torch.backends.mps.is_available()
    else (["--device", "cuda:99"], "--device 'cuda:99'"),
    (["--motion", "nan", "0"], "--motion nan"),
    (["--director", "openai", "--timeout", "0"], "--timeout 0"),
])
def test_every_flag_is_checked_before_the_model_loads(tiny_model, no_model, tmp_path, capsys, extra, words):
    code = cli.main([PROMPT, "--model", tiny_model, "-o", str(tmp_path / "v.mp4")] + extra)
    err = capsys.readouterr().err
    assert code == 2 and words in err and "Traceback" not in err, err
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("output, words", [
    ("/proc/x.mp4", "does not take new files"),
    ("{tmp}/a-file/x.mp4", "is a file, not a folder"),
    ("{tmp}/out.mp4", "is a folder"),  # out.png is a folder
])
def test_output_paths_are_checked_before_the_model_loads(no_model, tmp_path, capsys, output, words):
    (tmp_path / "a-file").write_text("")
    (tmp_path / "out.png").mkdir()
    assert cli.main([PROMPT, "-o", output.format(tmp=tmp_path)]) == 2
    assert words in capsys.readouterr().err
    assert all_files(tmp_path) == ["a-file", "out.png"]


def test_existing_files_are_replaced_only_with_force_and_keep_their_mode(tiny_model, tmp_path, capsys):
    old = tmp_path / "package.json"
    old.write_text("precious")
    old.chmod(0o600)
    argv = [PROMPT, "--frames", "2", "--steps", "2", "--model", tiny_model, "-q", "-o", str(tmp_path / "package.gif")]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "package.gif" in err and "package.png" in err and "already exist" in err and "--force" in err
    assert old.read_text() == "precious" and all_files(tmp_path) == ["package.json"]
    assert cli.main(argv + ["--force"]) == 0
    assert json.loads(old.read_text())["frames"] and (old.stat().st_mode & 0o777) == 0o600
    assert all_files(tmp_path) == ["package.gif", "package.json", "package.png"]


def test_upper_case_png_is_written_under_its_own_name(tiny_model, tmp_path):
    assert cli.main([PROMPT, "--frames", "2", "--steps", "2", "--model", tiny_model, "-q",
                     "-o", str(tmp_path / "OUT.PNG")]) == 0
    assert all_files(tmp_path) == ["OUT.PNG", "OUT.json"]


def test_sigterm_while_writing_leaves_nothing_and_prints_one_line(tiny_model, tmp_path, capsys, monkeypatch):
    import os
    import signal

    def killed(video, path, fps):
        open(path, "wb").write(b"half a video")
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr("direct2v.video._write_mp4", killed)
    before = signal.getsignal(signal.SIGTERM)
    code = cli.main([PROMPT, "--frames", "2", "--steps", "2", "--model", tiny_model, "-q", "-o", str(tmp_path / "v.mp4")])
    assert code == 143 and capsys.readouterr().err.splitlines()[-1] == "direct2v: terminated"
    assert not list(tmp_path.iterdir())  # no hidden .v.*.tmp.mp4 either
    assert signal.getsignal(signal.SIGTERM) == before


def test_interrupt_between_files_leaves_none_of_them(tiny_model, tmp_path, capsys, monkeypatch):
    def interrupted(self, path):
        raise KeyboardInterrupt

    monkeypatch.setattr("direct2v.director.Script.save", interrupted)
    code = cli.main([PROMPT, "--frames", "2", "--steps", "2", "--model", tiny_model, "-q", "-o", str(tmp_path / "v.mp4")])
    assert code == 130 and capsys.readouterr().err.splitlines()[-1] == "direct2v: interrupted"
    assert not list(tmp_path.iterdir())
    code = cli.main([PROMPT, "--frames", "2", "--steps", "2", "--model", tiny_model, "-q",
                     "-o", str(tmp_path / "new" / "deeper" / "v.mp4")])
    assert code == 130 and not list(tmp_path.iterdir())  # nor the folders made for the files (issue 27)


def test_an_early_ctrl_c_prints_one_line(tmp_path):
    import signal
    import time

    check = subprocess.run([sys.executable, "-c", "import sys, direct2v.cli; print(sorted({'torch', 'numpy'} & "
                            "set(sys.modules)))"], capture_output=True, text=True, timeout=120)
    assert check.stdout.strip() == "[]", "the command must import nothing heavy before its handlers"
    proc = subprocess.Popen([sys.executable, "-m", "direct2v", PROMPT, "-o", str(tmp_path / "v.mp4")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and err == "direct2v: interrupted\n", err
    assert not list(tmp_path.iterdir())


# --- the openai director through the command, against the test server of test_director
@pytest.fixture
def chat(monkeypatch, tmp_path):
    from test_director import ChatServer

    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("DIRECT2V_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr("direct2v.director.OpenAIDirector._delay", lambda self, attempt, err: 0.0)  # no backoff
    server = ChatServer()
    yield server
    server.close()


KEY = "sk-cli-DO-NOT-LEAK-0987654321"
TWO = json.dumps(["a red ball at the left", "a red ball at the right"])


def openai_argv(chat, tiny_model, tmp_path, *extra):
    return [PROMPT, "--director", "openai", "--base-url", chat.url, "--frames", "2", "--steps", "2",
            "--model", tiny_model, "-o", str(tmp_path / "out" / "v.mp4"), *extra]


def test_cache_replay_is_said_and_no_cache_asks_again(chat, tiny_model, tmp_path, capsys):
    chat.reply(TWO).reply(TWO)
    assert cli.main(openai_argv(chat, tiny_model, tmp_path)) == 0
    assert "reply cache" not in capsys.readouterr().err
    assert cli.main(openai_argv(chat, tiny_model, tmp_path, "--force")) == 0
    assert "replayed from the reply cache" in capsys.readouterr().err and len(chat.requests) == 1
    assert cli.main(openai_argv(chat, tiny_model, tmp_path, "--force", "--no-cache")) == 0
    assert "reply cache" not in capsys.readouterr().err and len(chat.requests) == 2


def test_unwritable_cache_warns_and_the_run_goes_on(chat, tiny_model, tmp_path, capsys, monkeypatch):
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("DIRECT2V_CACHE", str(tmp_path / "a-file" / "cache"))
    chat.reply(TWO)
    assert cli.main(openai_argv(chat, tiny_model, tmp_path, "-q")) == 0
    err = capsys.readouterr().err
    assert "direct2v: warning: could not write the reply cache" in err and "Traceback" not in err
    assert (tmp_path / "out" / "v.json").exists()


def test_a_hanging_server_is_announced_and_bounded_by_timeout(chat, tiny_model, no_model, tmp_path, capsys):
    for _ in range(4):
        chat.reply(TWO, delay=2.0)
    assert cli.main(openai_argv(chat, tiny_model, tmp_path, "--timeout", "0.2")) == 2
    err = capsys.readouterr().err
    assert f"asking 'gpt-4o-mini' at {chat.url} (timeout 0.2s" in err
    assert err.count("trying again") == 3 and "timed out after 0.2s" in err and chat.url in err


# --- issue 27: no secret in any byte a run writes or prints, whatever route the server echoes it by
KEY2 = "pw-in-the-url-0123456789"
ROUTES = {  # what the server answers, in turn; the exit code
    "error body": ([(401, "invalid key: {AUTH}")], 2),
    "prose": ([(200, "I cannot do that. You sent {AUTH}.")] * 2, 2),
    "frames": ([(200, json.dumps(["a red ball at the left {AUTH}", "a red ball at the right, {AUTH}"]))], 0),
    "no choices": ([(0, '{"echo": "{AUTH}"}')], 2),
    "not json": ([(0, "{AUTH} is not JSON")], 2),
    "retries": ([(500, "overloaded; you are {AUTH}")] * 4, 2),
}


def leaks(produced: bytes) -> list[bytes]:
    import base64

    secrets = [KEY, KEY2, base64.b64encode(f"user:{KEY2}".encode()).decode()]
    return [s.encode() for s in secrets if s.encode() in produced]


@pytest.mark.parametrize("address", ["plain", "credentials"])
@pytest.mark.parametrize("route", sorted(ROUTES))
def test_no_secret_in_any_byte_of_a_run(chat, tiny_model, tmp_path, capsys, caplog, monkeypatch, route, address):
    import direct2v.video

    answers, code = ROUTES[route]
    for status, content in answers:
        chat.reply(content, status=status)
    url = chat.url if address == "plain" else chat.url.replace("http://", f"http://user:{KEY2}@")
    drawn = []
    save = direct2v.video.save_video
    monkeypatch.setattr("direct2v.video.save_video",
                        lambda *a, captions=None, **k: drawn.append(repr(captions)) or save(*a, captions=captions, **k))
    argv = openai_argv(chat, tiny_model, tmp_path, "--traceback")
    argv[argv.index(chat.url)] = url
    assert cli.main(argv) == code
    assert chat.auth[-1].startswith("Basic " if address == "credentials" else "Bearer ")  # the server saw a secret
    captured = capsys.readouterr()
    produced = (captured.out + captured.err + caplog.text + "".join(drawn)).encode()
    produced += b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())  # outputs and reply cache
    assert not leaks(produced) and (b"***" in produced or route == "not json")  # its error shows no body
    if code == 2:
        assert "Traceback" in captured.err and chat.url.split("//")[1] in captured.err  # names the server
    else:
        echo = chat.auth[-1].split()[0]  # "Bearer" or "Basic": the echo, less its secret
        assert (tmp_path / "cache").exists() and len(drawn) == 2 and echo in drawn[-1]


def test_no_secret_from_a_query_in_the_address(chat, tiny_model, tmp_path, capsys):
    chat.reply("unused")
    argv = openai_argv(chat, tiny_model, tmp_path)
    argv[argv.index(chat.url)] = f"{chat.url}?key={KEY2}"
    assert cli.main(argv) == 2  # the client puts the query before the route: the server's 404 echoes it
    captured = capsys.readouterr()
    assert "HTTP 404" in captured.err and not leaks((captured.out + captured.err).encode())


def test_no_secret_in_notebook_outputs(chat, tmp_path, monkeypatch):
    """The director in a kernel, as a chapter runs it: the frames and the error it shows hold no key."""
    import os
    from pathlib import Path

    import nbformat
    from nbclient import NotebookClient

    root = Path(__file__).resolve().parents[1]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])))
    chat.reply(ROUTES["frames"][0][0][1])
    for status, content in ROUTES["prose"][0]:
        chat.reply(content, status=status)
    cells = ["import direct2v as d2v\n"
             f"director = d2v.OpenAIDirector(base_url={chat.url!r}, cache={str(tmp_path / 'nbcache')!r})",
             f"print(director.direct({PROMPT!r}, num_frames=2))\ndirector",
             "director.direct('a blue square appears', num_frames=2)"]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True).execute()
    text = nbformat.writes(nb)
    assert "Bearer ***" in text and "DirectorError" in text and chat.url in text and not leaks(text.encode())


# --- issue 17, also: training resumes read tensors only, and the weights folder never disappears
class NotATensor:
    pass


def test_training_state_is_loaded_with_weights_only(tmp_path):
    import pickle

    from direct2v.miniature.train import State

    state = State(tmp_path, "unet")
    state.save({"step": 3, "opt": {"lr": torch.ones(1)}})
    assert state.load()["step"] == 3
    state.save({"evil": NotATensor()})
    with pytest.raises(pickle.UnpicklingError):
        state.load()


def test_weights_folder_swap_keeps_the_folder_at_every_moment(tmp_path, monkeypatch):
    from pathlib import Path

    from direct2v.runtime import atomic_folder

    folder = tmp_path / "unet"
    folder.mkdir()
    (folder / "config.json").write_text("old")
    (folder / "stale.bin").write_text("old")
    seen = []
    real = Path.replace

    def replace(self, target):
        seen.append(folder.is_dir() and (folder / "config.json").exists())
        return real(self, target)

    monkeypatch.setattr(Path, "replace", replace)

    def save(obj, path):
        path.mkdir()
        (path / "config.json").write_text(obj)
        (path / "weights.safetensors").write_text(obj)

    atomic_folder("new", folder, save)
    assert seen and all(seen)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["unet"]
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "weights.safetensors"]
    assert (folder / "config.json").read_text() == "new"


# --- issue 27: two runs writing the same files; the smaller cases of a newcomer's first runs
def test_a_run_never_replaces_files_another_run_wrote_after_its_check(tiny_model, tmp_path, capsys, monkeypatch):
    import direct2v.video

    argv = [PROMPT, "--frames", "2", "--steps", "2", "--model", tiny_model, "-q", "-o", str(tmp_path / "v.gif")]
    save, runs, b_extra = direct2v.video.save_video, [], []

    def interleaved(*args, **kwargs):  # run A has checked its outputs and generated: run B now runs whole
        if not runs:
            runs.append("B")
            runs[0] = cli.main(argv + ["--seed", "1"] + b_extra)
        return save(*args, **kwargs)

    monkeypatch.setattr("direct2v.video.save_video", interleaved)
    assert cli.main(argv) == 2 and runs == [0]
    err = capsys.readouterr().err
    assert "appeared while this run worked" in err and "none of this run's files were written" in err
    b_files = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert sorted(b_files) == ["v.gif", "v.json", "v.png"]  # B's files, whole, and no temporary file of A
    runs.clear()
    b_extra.append("--force")
    assert cli.main(argv + ["--force"]) == 0 and runs == [0]  # with --force A replaces them
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} != b_files and len(list(tmp_path.iterdir())) == 3


def test_traceback_keeps_the_exit_code(tiny_model, tmp_path, capsys):
    assert cli.main([PROMPT, "--frames", "0", "--traceback"]) == 2
    assert cli.main(["a purple dragon breathes fire", "--traceback", "-o", str(tmp_path / "v.mp4")]) == 2
    (tmp_path / "empty").mkdir()
    assert cli.main([PROMPT, "--model", str(tmp_path / "empty"), "--traceback", "-o", str(tmp_path / "v.mp4")]) == 1
    err = capsys.readouterr().err
    assert err.count("Traceback (most recent call last)") >= 3 and "UsageError: --frames 0" in err


@pytest.fixture
def model_copy(tiny_model, tmp_path):
    import shutil

    return shutil.copytree(tiny_model, tmp_path / "model")


def test_a_model_folder_without_safetensors_is_refused_not_unpickled(model_copy, tmp_path, capsys, monkeypatch):
    from safetensors.torch import load_file

    weights = model_copy / "unet" / "diffusion_pytorch_model.safetensors"
    torch.save(load_file(weights), model_copy / "unet" / "diffusion_pytorch_model.bin")
    weights.unlink()

    def unpickle(*args, **kwargs):
        raise AssertionError("a pickle file was loaded")

    monkeypatch.setattr(torch, "load", unpickle)
    assert cli.main([PROMPT, "--model", str(model_copy), "-q", "-o", str(tmp_path / "v.mp4")]) == 1
    err = capsys.readouterr().err
    assert f"{model_copy / 'unet'} has no weights as .safetensors" in err and "diffusion_pytorch_model.bin" in err
    assert "unsafe" not in err and not (tmp_path / "v.mp4").exists()


def test_an_empty_safetensors_file_is_named(model_copy, tmp_path, capsys):
    weights = model_copy / "vae" / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(b"")
    assert cli.main([PROMPT, "--model", str(model_copy), "-q", "-o", str(tmp_path / "v.mp4")]) == 1
    assert f"{weights} is not a readable safetensors file (0 bytes" in capsys.readouterr().err


def test_a_long_unreadable_prompt_gives_a_short_error(capsys):
    prompt = "a dog runs across a park " * 400  # 10,000 characters
    assert cli.main([prompt]) == 2
    err = capsys.readouterr().err
    assert len(err) < 1500 and "'dog'" in err and err.count("a dog runs") < 30


def test_unknown_object_words_are_named(capsys):
    assert cli.main(["a dog runs across a park"]) == 2
    err = capsys.readouterr().err
    assert "names no object" in err and "'dog'" in err and "unknown to the shapes world" in err


def test_prose_reply_error_names_the_server(chat, tiny_model, no_model, tmp_path, capsys):
    chat.reply("Sure! Here is a lovely video idea.").reply("Happy to help.")
    assert cli.main(openai_argv(chat, tiny_model, tmp_path)) == 2
    err = capsys.readouterr().err
    assert f"the chat server at {chat.url} (model 'gpt-4o-mini') did not give 2 usable frames" in err


def test_help_says_each_default_once_with_every_exit_code_and_a_version(capsys):
    parser = cli.build_parser()
    formatter = parser._get_formatter()
    for action in parser._actions:
        assert (formatter._expand_help(action) if action.help else "").count("(default") <= 1, action.option_strings
    text = parser.format_help()
    assert all(code in text for code in ("0 done", "2 bad", "1 runtime", "130", "143"))
    with pytest.raises(SystemExit):
        parser.parse_args(["--version"])
    assert cli.main(["--version"]) == 0
    from direct2v import __version__

    assert capsys.readouterr().out.strip().endswith(f"direct2v {__version__}")


def test_a_first_run_shows_only_its_own_lines(tiny_model, tmp_path):
    """As a newcomer sees it (a fresh process): no library warnings or loading bars, the bar's count
    explained, and one frame said as one frame."""
    run = subprocess.run([sys.executable, "-m", "direct2v", "a red ball in the middle", "--frames", "1", "--steps", "3",
                          "--model", tiny_model, "-o", str(tmp_path / "v.gif")],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "[transformers]" not in run.stderr and "Loading" not in run.stderr and "warning" not in run.stderr.lower()
    assert ("denoising 1 frame in 3 steps (the bar counts UNet passes, a few more: the warm start denoises frame 1 "
            "alone for its first steps; the PNDMScheduler takes 1 timestep more)") in run.stderr
    assert "/4 [" in run.stderr  # 3 steps + PNDM's one more (one frame: no warm start passes alone)
    assert "1 frame at" in run.stdout and "1 frames" not in run.stdout + run.stderr


def test_the_readme_introduces_the_command():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("## Command line", 1)[1].split("\n## ", 1)[0]
    assert "direct2v --help" in section and "direct2v \"" in section and "--force" in section
    for code in ("0", "1", "2", "130", "143"):
        assert f"`{code}`" in section, code
