"""Plots the chapters share: frame strips with the detector's verdicts, and attention overlays.

Short matplotlib helpers, so that chapters show the idea and not the plotting. Frames are anything
:func:`direct2v.video.as_frames` takes (PIL images, arrays ``(F, H, W, 3)``).
"""
from __future__ import annotations

import math

import numpy as np

from .attention import FrameInteraction
from .settings import renamed
from .video import as_frames

OK, BAD = "#1a7f37", "#cf222e"
VERDICT_KEYS = ("background", "count", "color", "shape", "size", "column", "row")
SHORT = {"background": "bg", "column": "col"}


def verdict_label(verdict: dict | None) -> tuple[str, str]:
    """``(text, colour)`` for one frame's verdict of :func:`direct2v.world.detect.judge`:
    ``"ok"`` in green, or the failed attributes (``"x color, col"``, three per line) in red."""
    if verdict is None:
        return "", "black"
    failed = [SHORT.get(k, k) for k in VERDICT_KEYS if verdict.get(k) is False]
    lines = [", ".join(failed[i:i + 3]) for i in range(0, len(failed), 3)]  # short lines fit under a frame
    return ("ok", OK) if not failed else ("x " + "\n".join(lines), BAD)


def frame_strip(frames, captions=None, verdicts=None, title: str | None = None, axes=None, size: float = 1.6):
    """Draw the frames left to right; ``captions`` (one per frame) above, ``verdicts`` below in colour.

    ``axes``: a row of matplotlib axes to draw in (else a new figure). Returns the axes.
    """
    import matplotlib.pyplot as plt

    video = as_frames(frames)
    if axes is None:
        _, axes = plt.subplots(1, len(video), figsize=(size * len(video), size * 1.25), squeeze=False)
        axes = axes[0]
    for f, (ax, frame) in enumerate(zip(axes, video)):
        ax.imshow(frame, interpolation="nearest")
        ax.set_xticks([]), ax.set_yticks([])
        if captions is not None:
            ax.set_title(captions[f], fontsize=7, wrap=True)
        if verdicts is not None:
            text, colour = verdict_label(verdicts[f])
            ax.set_xlabel(text, fontsize=7, color=colour)
    if title:
        axes[0].set_ylabel(title, fontsize=9, rotation=0, ha="right", va="center")
    return axes


def strip_grid(videos: dict, verdicts: dict | None = None, captions=None, size: float = 1.5):
    """One :func:`frame_strip` per row: ``videos`` maps a row name (e.g. an attention mode) to frames,
    ``verdicts`` the same names to per-frame verdicts; ``captions`` go above the first row. Returns the figure."""
    import matplotlib.pyplot as plt

    names = list(videos)
    cols = len(as_frames(videos[names[0]]))
    fig, axes = plt.subplots(len(names), cols, figsize=(size * cols + 1.5, size * 1.2 * len(names)), squeeze=False)
    for r, name in enumerate(names):
        frame_strip(videos[name], captions if r == 0 else None, None if verdicts is None else verdicts[name],
                    title=name, axes=axes[r])
    fig.tight_layout()
    return fig


def token_grid(values) -> np.ndarray:
    """A per-token vector of a square latent (N = s * s, row-major as diffusers flattens) as an ``(s, s)`` map."""
    values = np.asarray(values, dtype=np.float32)
    side = math.isqrt(values.size)
    if side * side != values.size:
        raise ValueError(f"{values.size} tokens do not form a square latent; give N = s * s values")
    return values.reshape(side, side)


def token_at(x: float, y: float, n_tokens: int, image_size: int = 64) -> int:
    """The token index of the image point ``(x, y)`` (pixels) in a square latent of ``n_tokens`` tokens."""
    side = math.isqrt(n_tokens)
    col = min(side - 1, max(0, int(x * side / image_size)))
    row = min(side - 1, max(0, int(y * side / image_size)))
    return row * side + col


def token_center(token: int, n_tokens: int, image_size: int = 64) -> tuple[float, float]:
    """The image point ``(x, y)`` at the centre of ``token`` (inverse of :func:`token_at`)."""
    side = math.isqrt(n_tokens)
    cell = image_size / side
    return (token % side + 0.5) * cell - 0.5, (token // side + 0.5) * cell - 0.5


def overlay(ax, image, values, alpha: float = 0.55, cmap: str = "magma", title: str | None = None, **imshow):
    """Draw ``image`` with a per-token map (``values``, N = s * s) stretched over it, nearest neighbour."""
    frame = as_frames([image])[0]
    h, w = frame.shape[:2]
    ax.imshow(frame, interpolation="nearest")
    im = ax.imshow(token_grid(values), extent=(-0.5, w - 0.5, h - 0.5, -0.5), alpha=alpha, cmap=cmap,
                   interpolation="nearest", **imshow)
    ax.set_xticks([]), ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)
    return im


# ---- diagrams drawn by code (the book's architecture pictures) ----

SD15_UNET = {"sample_size": 64, "layers_per_block": 2, "block_out_channels": [320, 640, 1280, 1280],
             "down_block_types": ["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"],
             "up_block_types": ["UpBlock2D"] + ["CrossAttnUpBlock2D"] * 3}
"""The Stable Diffusion 1.5 U-Net's layout (the fields of its ``unet/config.json`` that :func:`unet_map` reads)."""


def unet_blocks(config=None) -> list[dict]:
    """The U-Net's blocks in execution order: ``name``, latent ``side`` (tokens = side**2), ``channels`` and
    ``attention`` (transformer layers, each with ``attn1`` self- and ``attn2`` cross-attention) per block."""
    c = dict(SD15_UNET if config is None else config)
    n, side = len(c["down_block_types"]), int(c["sample_size"])
    per = int(c.get("layers_per_block", 2))
    blocks = []
    for i, kind in enumerate(c["down_block_types"]):
        blocks.append(dict(name=f"down_blocks.{i}", side=side >> i, channels=c["block_out_channels"][i],
                           attention=per if "CrossAttn" in kind else 0))
    blocks.append(dict(name="mid_block", side=side >> (n - 1), channels=c["block_out_channels"][-1], attention=1))
    for j, kind in enumerate(c["up_block_types"]):
        blocks.append(dict(name=f"up_blocks.{j}", side=side >> (n - 1 - j),
                           channels=c["block_out_channels"][n - 1 - j], attention=per + 1 if "CrossAttn" in kind else 0))
    return blocks


def unet_map(config=None, touched=("up_blocks.2", "up_blocks.3"), ax=None, title=None):
    """Draw the U-Net as a 'U': one box per block at the height of its resolution, with its self-attention
    (``attn1``, the layers the frame-interaction processors replace) and cross-attention (``attn2``, text)
    counts. Blocks in ``touched`` (default: the authors' released code) are drawn in orange.
    ``config``: a ``unet.config`` (or dict with the same fields); default Stable Diffusion 1.5."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    blocks = unet_blocks(config)
    if ax is None:
        _, ax = plt.subplots(figsize=(12.5, 4))
    sides = sorted({b["side"] for b in blocks}, reverse=True)
    level = {s: -i for i, s in enumerate(sides)}
    xs = []
    for x, b in enumerate(blocks):
        y = level[b["side"]]
        hit = any(b["name"].startswith(t) for t in touched) and b["attention"]
        colour = "#f0a030" if hit else ("#9ecae1" if b["attention"] else "#dddddd")
        ax.add_patch(FancyBboxPatch((x - 0.42, y - 0.36), 0.84, 0.72, boxstyle="round,pad=0.02", fc=colour, ec="black"))
        attn = f"{b['attention']}x attn1+attn2" if b["attention"] else "no attention"
        ax.text(x, y + 0.16, b["name"], ha="center", va="center", fontsize=7.5, weight="bold")
        ax.text(x, y - 0.06, f"{b['side']}x{b['side']} = {b['side'] ** 2} tok", ha="center", va="center", fontsize=6.5)
        ax.text(x, y - 0.24, attn, ha="center", va="center", fontsize=6.5)
        xs.append((x, y))
    for (x0, y0), (x1, y1) in zip(xs, xs[1:]):
        ax.annotate("", (x1 - 0.42, y1), (x0 + 0.42, y0), arrowprops=dict(arrowstyle="->", lw=1))
    n = sum(b["name"].startswith("down") for b in blocks)
    for i in range(n):   # skip connections: down_blocks.i feeds up_blocks.(n-1-i)
        x0, y0 = xs[i]
        x1, _ = xs[2 * n - i]
        ax.plot([x0, x1], [y0 + 0.42, y0 + 0.42], ls=":", color="grey", lw=1)
    ax.set_xlim(-0.6, len(blocks) - 0.4)
    ax.set_ylim(-len(sides) + 0.4, 0.75)
    ax.axis("off")
    ax.set_title(title or "U-Net blocks (dotted: skip connections; orange: self-attention replaced)", fontsize=9)
    return ax


def pipeline_overview(ax=None, frames: int = 4):
    """The DirecT2V pipeline (the paper's Fig. 1) as boxes and arrows: prompt, LLM director, frame prompts,
    text encoder, the U-Net denoising all frames in one batch with modified self-attention, VAE decoder, video."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    if ax is None:
        _, ax = plt.subplots(figsize=(12.5, 3.2))
    boxes = [("abstract prompt\n\"a red ball rolls right,\nlater a blue square\nappears\"", "#eeeeee"),
             ("LLM director\n(instruction: actions,\nobjects, setting, camera)", "#c7e9c0"),
             (f"{frames} frame prompts\n(JSON list, R fps)", "#eeeeee"),
             ("text encoder\n(CLIP), one\nembedding per frame", "#9ecae1"),
             ("U-Net x T steps\nall frames in one batch\nself-attn: RVM + DSF", "#f0a030"),
             ("VAE decoder\nlatents -> pixels", "#9ecae1"), ("video\n(F frames)", "#eeeeee")]
    for i, (text, colour) in enumerate(boxes):
        ax.add_patch(FancyBboxPatch((i * 1.5, 0), 1.25, 1.1, boxstyle="round,pad=0.04", fc=colour, ec="black"))
        ax.text(i * 1.5 + 0.625, 0.55, text, ha="center", va="center", fontsize=6.5)
        if i:
            ax.annotate("", (i * 1.5 - 0.04, 0.55), (i * 1.5 - 0.21, 0.55), arrowprops=dict(arrowstyle="->", lw=1.2))
    ax.text(1.5 * 1 + 0.625, -0.25, "step 1: direct", ha="center", fontsize=8, style="italic")
    ax.text(1.5 * 4 + 0.625, -0.25, "step 2: generate (zero-shot, no training)", ha="center", fontsize=8, style="italic")
    ax.annotate("", (1.5 * 4 + 0.35, 1.18), (1.5 * 4 + 0.9, 1.18),
                arrowprops=dict(arrowstyle="->", connectionstyle="arc3,rad=-1.6", lw=1))
    ax.text(1.5 * 4 + 0.625, 1.5, "z_t -> z_(t-1)", ha="center", fontsize=7)
    ax.set_xlim(-0.1, len(boxes) * 1.5 - 0.2)
    ax.set_ylim(-0.45, 1.75)
    ax.axis("off")
    return ax


FORMER_NAMES = {"mode": "attention", "period": "rvm_period", "start_step": "mapping_start", "seed": "random_seed"}
"""The diagrams' former argument names (one release, with a ``DeprecationWarning``)."""


def attended_frames(attention: str, frame: int, step: int, num_frames: int, rvm_period: int = 4,
                    mapping_start: int = 0, random_seed: int = 0, **former) -> list[int]:
    """The distinct frames whose keys and values frame ``frame`` attends at denoising ``step`` under ``attention``,
    for diagrams: :meth:`direct2v.attention.FrameInteraction.attended_frames`, the one rule, each frame once."""
    keywords = dict(attention=attention, num_frames=num_frames, rvm_period=rvm_period, mapping_start=mapping_start,
                    random_seed=random_seed)
    keywords.update(renamed("attended_frames", former, FORMER_NAMES))
    return sorted(set(FrameInteraction(**keywords).attended_frames(frame, step)))


def interaction_diagram(modes=("self", "cross_frame", "sparse_causal", "rvm"), num_frames: int = 4, step: int = 5,
                        rvm_period: int = 4, axes=None, **former):
    """Who attends to whom (the paper's Fig. 4): per mode, the frames as nodes in a row, an arrow from each
    frame (query, bottom) to the frames whose keys/values it reads (top) at denoising ``step``."""
    import matplotlib.pyplot as plt

    rvm_period = renamed("interaction_diagram", former, {"period": "rvm_period"}).get("rvm_period", rvm_period)
    if axes is None:
        _, axes = plt.subplots(1, len(modes), figsize=(2.6 * len(modes), 2.4), squeeze=False)
        axes = axes[0]
    for ax, mode in zip(axes, modes):
        for f in range(num_frames):
            ax.scatter([f], [0], s=260, c="#9ecae1", ec="black", zorder=3)
            ax.scatter([f], [1], s=260, c="#f0a030", ec="black", zorder=3)
            ax.text(f, 0, str(f + 1), ha="center", va="center", fontsize=8, zorder=4)
            ax.text(f, 1, str(f + 1), ha="center", va="center", fontsize=8, zorder=4)
            for g in attended_frames(mode, f, step, num_frames, rvm_period):
                ax.annotate("", (g, 0.88), (f, 0.12), arrowprops=dict(arrowstyle="->", lw=1, color="#444444"))
        ax.text(-0.7, 0, "Q", ha="center", va="center", fontsize=8)
        ax.text(-0.7, 1, "K,V", ha="center", va="center", fontsize=8)
        ax.set_xlim(-1, num_frames - 0.4), ax.set_ylim(-0.35, 1.35)
        ax.set_title(f"{mode} (step {step})", fontsize=9)
        ax.axis("off")
    return axes


def interaction_schedule(modes=("self", "cross_frame", "sparse_causal", "rvm", "random"), num_frames: int = 4,
                         num_steps: int = 20, rvm_period: int = 4, mapping_start: int = 0, axes=None, **former):
    """Frames x steps heatmaps: the cell (frame f, step i) holds the frame f attends to at step i
    (for ``sparse_causal`` the previous frame, besides the first that every frame also reads)."""
    import matplotlib.pyplot as plt

    given = renamed("interaction_schedule", former, {"period": "rvm_period", "start_step": "mapping_start"})
    rvm_period, mapping_start = given.get("rvm_period", rvm_period), given.get("mapping_start", mapping_start)
    if axes is None:
        _, axes = plt.subplots(1, len(modes), figsize=(2.8 * len(modes), 2.3), squeeze=False, sharey=True)
        axes = axes[0]
    cmap = plt.get_cmap("tab10", num_frames)
    for ax, mode in zip(axes, modes):
        grid = np.array([[attended_frames(mode, f, i, num_frames, rvm_period, mapping_start)[-1]
                          for i in range(num_steps)] for f in range(num_frames)])
        im = ax.imshow(grid + 1, cmap=cmap, vmin=0.5, vmax=num_frames + 0.5, aspect="auto", interpolation="nearest")
        ax.set_title(mode, fontsize=9)
        ax.set_xlabel("denoising step", fontsize=8)
        ax.set_yticks(range(num_frames), [str(f + 1) for f in range(num_frames)], fontsize=7)
        ax.tick_params(labelsize=7)
    axes[0].set_ylabel("query frame", fontsize=8)
    cbar = plt.colorbar(im, ax=list(axes), ticks=range(1, num_frames + 1), fraction=0.02)
    cbar.set_label("key/value frame", fontsize=8)
    return axes


# ---- explorers that work in the built HTML (no kernel) ----

def _png(item) -> str:
    """base64 PNG of a matplotlib figure (closed afterwards) or an image array / PIL image."""
    import base64
    import io

    buf = io.BytesIO()
    if hasattr(item, "savefig"):
        import matplotlib.pyplot as plt

        item.savefig(buf, format="png", dpi=80, bbox_inches="tight")
        plt.close(item)
    else:
        from PIL import Image

        Image.fromarray(as_frames([item])[0]).save(buf, format="png")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def html_explorer(render, axes: dict, title: str = ""):
    """A kernel-free explorer for the built book: ``render(**values)`` (a matplotlib figure or an image) is
    drawn for every combination of ``axes`` ({name: list of values}) and embedded as PNG, with one HTML
    slider per axis. Returns an ``IPython.display.HTML``; in Jupyter, ipywidgets does the same live."""
    import itertools
    import json
    import uuid

    from IPython.display import HTML

    names = list(axes)
    if not names or any(len(axes[n]) == 0 for n in names):
        raise ValueError(f"axes={axes!r}: give every axis at least one value")
    images = [_png(render(**dict(zip(names, combo)))) for combo in itertools.product(*(axes[n] for n in names))]
    uid = "d2v" + uuid.uuid4().hex[:8]
    sliders = "".join(
        f'<label>{n} <input type="range" min="0" max="{len(axes[n]) - 1}" value="0" data-axis="{i}" '
        f'oninput="{uid}_show()"> <span>{axes[n][0]}</span></label>' for i, n in enumerate(names))
    script = f"""<script>
const {uid}_img = {json.dumps(images)};
const {uid}_val = {json.dumps([[str(v) for v in axes[n]] for n in names])};
function {uid}_show() {{
  const root = document.getElementById("{uid}");
  let index = 0;
  root.querySelectorAll("input").forEach((s, i) => {{
    index = index * {uid}_val[i].length + Number(s.value);
    s.nextElementSibling.textContent = {uid}_val[i][Number(s.value)];
  }});
  root.querySelector("img").src = "data:image/png;base64," + {uid}_img[index];
}}
</script>"""
    heading = f"<div><b>{title}</b></div>" if title else ""
    return HTML(f'<div class="d2v-explorer" id="{uid}">{heading}<div>{sliders}</div>'
                f'<img alt="{title or "explorer"}" src="data:image/png;base64,{images[0]}"/></div>{script}')


__all__ = ["attended_frames", "frame_strip", "html_explorer", "interaction_diagram", "interaction_schedule", "overlay",
           "pipeline_overview", "strip_grid", "token_at", "token_center", "token_grid", "unet_blocks",
           "unet_map", "verdict_label"]
