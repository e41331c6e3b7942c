"""Video export (direct2v.video): formats, validation, atomic writes, inline display."""
import os
import re
import subprocess

import imageio.v2 as imageio
import imageio_ffmpeg
import numpy as np
import PIL.Image
import pytest

import direct2v
from direct2v import video as V


def frames(n=3, h=64, w=64, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


def probe(path):
    """(width, height) and frame count of a video, from ffmpeg itself (robust on a loaded machine)."""
    exe = imageio_ffmpeg.get_ffmpeg_exe()
    info = subprocess.run([exe, "-hide_banner", "-i", str(path)], capture_output=True, text=True, timeout=300).stderr
    width, height = re.search(r"Video: h264.*?, (\d+)x(\d+)", info).groups()
    return (int(width), int(height)), imageio_ffmpeg.count_frames_and_secs(str(path))[0]


def leftovers(folder):
    return [p.name for p in folder.iterdir() if ".tmp" in p.name]


def test_mp4_is_upscaled_readable_and_has_every_frame(tmp_path):
    path = direct2v.save_video(frames(3), tmp_path / "a.mp4", fps=4)
    assert probe(path) == ((256, 256), 3)
    assert os.stat(path).st_mode & 0o044  # readable by others: not mkstemp's 0600
    assert not leftovers(tmp_path)


def test_odd_sizes_and_float_frames_and_explicit_scale(tmp_path):
    video = frames(2, 33, 17).astype(np.float32) / 255
    path = V.save_video(video, tmp_path / "odd.mp4", fps=2, scale=1)
    assert probe(path)[0] == (18, 34)  # padded to even sides


def test_gif_from_pil_images_loops(tmp_path):
    images = [PIL.Image.fromarray(f) for f in frames(3)]
    path = V.save_video(images, tmp_path / "a.gif", fps=5, scale=2)
    gif = PIL.Image.open(path)
    assert gif.n_frames == 3 and gif.size == (128, 128) and gif.info["duration"] == 200


def test_png_contact_sheet_with_captions(tmp_path):
    sheet = V.contact_sheet(frames(5), captions=[f"frame {i}" for i in range(5)], cols=3, scale=1)
    assert sheet.width == 3 * 68 + 4 and sheet.height > 2 * 68  # two rows plus caption lines
    path = V.save_video(frames(5), tmp_path / "s.png", fps=1, captions=list("abcde"))
    assert PIL.Image.open(path).size[0] > 256


@pytest.mark.parametrize("call, words", [
    (lambda p: V.save_video(frames(), p / "a.avi", 4), "extension"),
    (lambda p: V.save_video([], p / "a.mp4", 4), "empty"),
    (lambda p: V.save_video(frames(), p / "a.mp4", 0), "fps=0"),
    (lambda p: V.save_video(frames(), p / "a.mp4", -1.0), "fps=-1.0"),
    (lambda p: V.save_video([frames(1)[0], frames(1, 32, 32)[0]], p / "a.gif", 4), "frame 1 is 32x32"),
    (lambda p: V.save_video(frames()[..., :2], p / "a.gif", 4), "RGB"),
    (lambda p: V.save_video(frames().astype(float), p / "a.gif", 4), "[0, 1]"),
    (lambda p: V.save_video(frames(), p / "a.gif", 4, scale=0), "scale=0"),
    (lambda p: V.contact_sheet(frames(3), captions=["x"]), "captions"),
    (lambda p: V.show_video(frames(), format="webm"), "format"),
])
def test_bad_input_is_a_clear_value_error(tmp_path, call, words):
    with pytest.raises(ValueError, match=None) as err:
        call(tmp_path)
    assert words in str(err.value)
    assert not list(tmp_path.iterdir())


def test_writer_failing_midway_leaves_nothing_half_written(tmp_path, monkeypatch):
    target = tmp_path / "a.mp4"
    target.write_bytes(b"old video")
    real = imageio.get_writer

    def failing(*args, **kwargs):
        writer = real(*args, **kwargs)
        calls = {"n": 0}
        append = writer.append_data

        def append_then_fail(frame):
            calls["n"] += 1
            if calls["n"] == 3:
                raise RuntimeError("disk full")
            append(frame)
        writer.append_data = append_then_fail
        return writer

    monkeypatch.setattr(imageio, "get_writer", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        V.save_video(frames(5), target, fps=4)
    assert target.read_bytes() == b"old video"  # the old file is untouched
    assert not leftovers(tmp_path)
    with pytest.raises(RuntimeError):
        V.save_video(frames(5), tmp_path / "new.mp4", fps=4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4"]


def test_show_video_embeds_base64():
    html = V.show_video(frames(2), fps=2).data
    assert html.startswith("<video") and "data:video/mp4;base64," in html
    gif = V.show_video(frames(2), fps=2, format="gif", width=200).data
    assert gif.startswith('<img src="data:image/gif;base64,') and 'width="200"' in gif


def test_as_frames_is_the_one_frame_conversion():
    import torch

    import direct2v.metrics as M

    assert M.as_video is V.as_frames   # the metrics' name for the same function
    video = frames(2)
    floats = video / 255.0
    for given in (video, list(video), [PIL.Image.fromarray(f) for f in video], torch.from_numpy(video),
                  floats, torch.from_numpy(floats)):
        assert np.array_equal(V.as_frames(given), video)
    with pytest.raises(ValueError, match=r"clip of shape \(64, 64, 3\) is not allowed; use \(F, H, W, 3\)"):
        V.as_frames(video[0], name="clip")
    with pytest.raises(ValueError, match="clip is empty"):
        V.as_frames([], name="clip")
    with pytest.raises(ValueError, match="finite"):
        V.as_frames(np.full((1, 8, 8, 3), np.nan))


def test_frames_to_tensor_and_back():
    import torch

    video = frames(3, 16, 24)
    x = V.frames_to_tensor(video)
    assert x.dtype == torch.float32 and x.shape == (3, 3, 16, 24)
    assert x.min() >= -1 and x.max() <= 1
    assert torch.equal(x, torch.from_numpy(video).permute(0, 3, 1, 2).float() / 127.5 - 1)
    assert torch.equal(V.frames_to_tensor(torch.from_numpy(video)), x)   # a tensor in, the same out
    assert np.array_equal(V.tensor_to_frames(x), video)
    assert np.array_equal(V.tensor_to_frames(x.half()), video)                          # fp16 in
    assert (V.tensor_to_frames(torch.tensor([5.0, -5.0]).view(2, 1, 1, 1).expand(2, 3, 2, 2)) ==
            np.array([255, 0]).reshape(2, 1, 1, 1)).all()                                  # clamped
    read_only = video.copy()
    read_only.flags.writeable = False
    assert torch.equal(V.frames_to_tensor(read_only), x)
    with pytest.raises(ValueError, match="uint8 frames"):
        V.frames_to_tensor(video / 255.0)
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        V.tensor_to_frames(x.permute(0, 2, 3, 1))
