"""The story model of the storyboard director: objects, their events in time, and a scene per frame.

Nothing here reads words; :mod:`direct2v.director.storyboard` reads a prompt into a :class:`Story`
and this module turns the story into the ground-truth :class:`~direct2v.world.world.Scene` of every
frame. Time runs from 0 to 1 over the whole story:

- the story is cut into phases by "then" (:class:`Phase`); a durative event (move, grow, fall, ...)
  runs over its phase, or over the phase's second half with "later"; an instant event (appear,
  disappear, colour) happens in the middle of its phase;
- frame f of F shows time t = (f + 1/2) / F (:func:`frame_time`), so lifting to 2F frames splits
  each frame's interval in two (Sec. 3.3 of the paper, frame-rate lifting);
- a background change spreads its words evenly over its time (:class:`BackgroundChange`).

:func:`start_states` places each object where the prompt leaves it open, with the defaults the
storyboard's docstring lists (:mod:`direct2v.director.storyboard`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

from ..world.world import COLUMNS, ROWS, SIZES, Obj, Scene, nearest_column, nearest_row, size_class
from .parsing import DirectorError, show

GROW, SHRINK = 2.5, 0.4          # how much "grows" / "shrinks" scale an object's side
SIDE_RANGE = (8.0, 32.0)         # px: the sides growth and shrinking stay within
DEFAULT_COLUMNS = {1: ["center"], 2: ["left", "right"], 3: ["left", "center", "right"]}
DEFAULT_ROWS = {1: ["middle"], 2: ["bottom", "top"], 3: ["bottom", "top", "middle"]}
"""Where the k-th of n objects stands when the prompt does not say."""
INSTANT = ("appear", "disappear", "color")
"""Events that happen at one moment (the middle of their phase), not over a span."""


@dataclass
class Event:
    kind: str            # move, appear, disappear, grow, shrink, color, fall, rise, bounce
    a: float             # start (fraction of the story)
    b: float             # end
    to: tuple = (None, None)   # (column, row) target of a move
    start: tuple = (None, None)
    back: bool = False
    color: str | None = None


@dataclass
class Track:
    """One object across the story: its first appearance and its events."""

    color: str
    shape: str
    size: str | None = None
    column: str | None = None
    row: str | None = None
    events: list = field(default_factory=list)


@dataclass(frozen=True)
class Phase:
    """Part ``index`` of ``count`` parts of the story (parts are cut by "then"): [start, end)."""

    index: int
    count: int

    @property
    def start(self) -> float:
        return self.index / self.count

    @property
    def end(self) -> float:
        return (self.index + 1) / self.count

    @property
    def middle(self) -> float:
        """When an instant event of this phase happens."""
        return self.start + (self.end - self.start) / 2

    def begin(self, later: bool) -> float:
        """When a durative event of this phase starts: at the start, or in the middle with "later"."""
        return self.middle if later else self.start


@dataclass
class BackgroundChange:
    """Background ``words`` one after the other, spread evenly over [a, b]."""

    a: float
    b: float
    words: list

    def times(self) -> list[tuple[float, str]]:
        """(time, word): when each word takes over."""
        return [(self.a + (self.b - self.a) * j / len(self.words), word) for j, word in enumerate(self.words)]


class Story(NamedTuple):
    """What the storyboard read: the objects, and (time, word) of every background, day at time 0."""

    tracks: list
    backgrounds: list


def background_schedule(changes: list[BackgroundChange]) -> list[tuple[float, str]]:
    """Every change's (time, word) in time order (stable), starting with day when nothing is said at 0."""
    backgrounds = [tw for change in changes for tw in change.times()]
    backgrounds.sort(key=lambda tb: tb[0])
    if not backgrounds or backgrounds[0][0] > 0:
        backgrounds.insert(0, (0.0, "day"))
    return backgrounds


def frame_time(f: int, num_frames: int) -> float:
    """Time of the story that frame ``f`` of ``num_frames`` shows: the middle of its interval."""
    return (f + 0.5) / num_frames


def start_states(tracks: list[Track]) -> list[list[float]]:
    """[x, y, side] of each track at time 0: its place, its first move's start, or the defaults."""
    n = len(tracks)
    out = []
    for k, t in enumerate(tracks):
        column, row = t.column, t.row
        first_move = next((e for e in t.events if e.kind == "move"), None)
        if first_move is not None:
            column = column or first_move.start[0]
            row = row or first_move.start[1]
        vertical = next((e.kind for e in t.events if e.kind in ("fall", "rise", "bounce")), None)
        if row is None and vertical:
            row = "top" if vertical == "fall" else "bottom"
        size = t.size or ("small" if n == 3 else "medium")
        out.append([COLUMNS[column or DEFAULT_COLUMNS[n][k]], ROWS[row or DEFAULT_ROWS[n][k]], float(SIZES[size])])
    return out


def _progress(event: Event, t: float) -> float:
    """How far ``event`` has run at time ``t``: 0 to 1 (1 for an instant)."""
    return 1.0 if event.b <= event.a else min(max((t - event.a) / (event.b - event.a), 0.0), 1.0)


def _move(event: Event, x: float, y: float, p: float) -> tuple[float, float]:
    """Position at progress ``p`` of a move from ``event.start`` (or (x, y)) to ``event.to`` [and back]."""
    x0 = COLUMNS[event.start[0]] if event.start[0] else x
    y0 = ROWS[event.start[1]] if event.start[1] else y
    x1 = COLUMNS[event.to[0]] if event.to[0] else x0
    y1 = ROWS[event.to[1]] if event.to[1] else y0
    q = 1 - abs(1 - 2 * p) if event.back else p
    return x0 + (x1 - x0) * q, y0 + (y1 - y0) * q


def _resize(event: Event, side: float, p: float) -> float:
    """Side at progress ``p`` of growing (x GROW) or shrinking (x SHRINK), kept within SIDE_RANGE."""
    target = min(max(side * (GROW if event.kind == "grow" else SHRINK), SIDE_RANGE[0]), SIDE_RANGE[1])
    return side + (target - side) * p


def state_at(track: Track, start: list[float], t: float) -> tuple[float, float, float, str, bool]:
    """(x, y, side, colour, visible) of ``track`` at time ``t``: its events applied in order of start."""
    x, y, side = start
    color, visible = track.color, not any(e.kind == "appear" for e in track.events)
    for e in sorted(track.events, key=lambda e: e.a):
        if t < e.a and e.kind not in INSTANT:
            continue
        p = _progress(e, t)
        if e.kind == "move":
            x, y = _move(e, x, y, p)
        elif e.kind in ("fall", "rise"):
            y1 = ROWS["bottom" if e.kind == "fall" else "top"]
            y = y + (y1 - y) * p
        elif e.kind == "bounce":
            top = ROWS["top"] if y >= ROWS["middle"] else ROWS["bottom"]
            y = y + (top - y) * abs(math.sin(2 * math.pi * p))
        elif e.kind in ("grow", "shrink"):
            side = _resize(e, side, p)
        elif e.kind == "color" and t >= e.a:
            color = e.color
        elif e.kind == "appear":
            visible = t >= e.a
        elif e.kind == "disappear" and t >= e.a:
            visible = False
    return x, y, side, color, visible


def background_at(backgrounds: list[tuple[float, str]], t: float) -> str:
    """The background word shown at time ``t`` (the last one that has started)."""
    return [word for start, word in backgrounds if start <= t + 1e-9][-1]


def scene_at(story: Story, starts: list[list[float]], t: float) -> Scene:
    """The scene at time ``t``: every visible track in track order, and the background."""
    objects = []
    for track, start in zip(story.tracks, starts):
        x, y, side, color, visible = state_at(track, start, t)
        if visible:
            obj = Obj(color, track.shape, size_class(side), nearest_column(x), nearest_row(y), x=x, y=y)
            objects.append(obj.with_side(side))
    return Scene(tuple(objects), background_at(story.backgrounds, t))


def story_scenes(story: Story, num_frames: int, prompt: str) -> list[Scene]:
    """The validated scene of every frame; a ``DirectorError`` naming ``prompt`` and the frame otherwise."""
    starts = start_states(story.tracks)
    scenes = []
    for f in range(num_frames):
        scene = scene_at(story, starts, frame_time(f, num_frames))
        if not scene.objects:
            raise DirectorError(f"prompt={show(prompt)} leaves frame {f + 1} of {num_frames} without any "
                                "object; the shapes world draws 1 to 3 objects in every frame")
        try:
            scene.validate()
        except ValueError as err:
            raise DirectorError(f"prompt={show(prompt)} gives an impossible frame {f + 1} of {num_frames}: "
                                f"{err}. Give the objects other rows or columns "
                                "(e.g. 'at the top left').") from err
        scenes.append(scene)
    return scenes
