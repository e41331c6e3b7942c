"""The storyboard director: a deterministic, offline director for the shapes world.

It does what the paper asks of the LLM (Fig. 14) with a small grammar instead of a language
model: it decomposes the prompt into events (rule 1), tracks the objects (rule 2) and the
background (rule 3), and writes one self-contained canonical caption per frame, with the
ground-truth :class:`~direct2v.shapes.world.Scene` of every frame (``script.scenes``).

Grammar: clauses joined by "and", "while", commas (same time) or "then" (one after the other);
"later" moves a clause to the second half of its time. Subjects: objects ("a large red ball at
the top left"; "the ball", "it") or backgrounds ("day turns to dusk and night", "at night").
Events: moves/rolls/slides [from A] [to B] [and back] / across, appears, disappears, grows,
shrinks (gets bigger/smaller), turns/becomes <colour>, falls, rises, bounces, stays.

Timing: frame f of F shows time t = (f + 1/2) / F of the story, so lifting to 2F frames
splits each frame's interval in two. A durative event runs over its phase (the second half of
it with "later"); an instant event (appear, disappear, colour) happens in the middle of its phase.

Defaults, for what the prompt leaves open: size medium (small when there are three objects);
one object in the middle row at the center; two objects at the bottom left and the top right;
three at the bottom left, top center and middle right; a mover without a start starts at the
left and ends at the right; a faller starts at the top, a riser and a bouncer at the bottom;
background day. Every frame is validated; a story whose objects would overlap is an error.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

from .base import Director, check_request
from .parsing import DirectorError
from .script import Script
from ..shapes.captions import ParsedObject as Mention  # what a clause says of one object

MOVE = {"moves", "move", "moving", "moved", "rolls", "roll", "rolling", "slides", "slide", "goes",
        "travels", "drifts"}
VERBS = {"appears": "appear", "appear": "appear", "disappears": "disappear", "disappear": "disappear",
         "vanishes": "disappear", "grows": "grow", "grow": "grow", "bigger": "grow",
         "shrinks": "shrink", "shrink": "shrink", "smaller": "shrink", "falls": "fall",
         "fall": "fall", "drops": "fall", "down": "fall", "rises": "rise", "rise": "rise",
         "up": "rise", "bounces": "bounce", "bounce": "bounce", "bouncing": "bounce",
         "stays": "stay", "still": "stay"}
CHANGE = {"turns", "turn", "becomes", "become", "changes", "change"}
FILLER = {"a", "an", "the", "is", "are", "of", "with", "background", "sky", "image", "picture",
          "scene", "frame", "slowly", "quickly", "gets", "its", "again", "into", "towards",
          "toward", "colour", "color", "over", "time", "there", "video", "now"}
SEPARATORS = {"and", "while", ",", ";", ".", "then"}
GROW, SHRINK = 2.5, 0.4
SIDE_RANGE = (8.0, 32.0)


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


def _positions(words, i):
    """Read "top left", "far right", "center" at ``words[i:]``: (column, row, next index)."""
    from direct2v.shapes.world import COLUMNS, ROWS

    column = row = None
    while i < len(words):
        pair = " ".join(words[i:i + 2])
        if pair in COLUMNS and column is None:
            column, i = pair, i + 2
        elif words[i] in COLUMNS and column is None:
            column, i = words[i], i + 1
        elif words[i] in ROWS and row is None:
            row, i = words[i], i + 1
        elif words[i] == "the":
            i += 1
        else:
            break
    return column, row, i


class StoryboardDirector(Director):
    """Deterministic offline director for the shapes world (see the module docstring)."""

    backend = "storyboard"

    def __init__(self):
        super().__init__("shapes-grammar", temperature=0.0, seed=None, target="shapes", cache=False)

    def __repr__(self) -> str:
        return "StoryboardDirector()"

    # --- parsing ------------------------------------------------------------------------
    def plan(self, prompt: str):
        """Parse ``prompt`` into (tracks, backgrounds-with-times). Raises DirectorError."""
        from direct2v.shapes.world import BACKGROUNDS, COLORS, SHAPE_SYNONYMS, SHAPES, SIZES, normalize_words

        words = normalize_words(prompt)
        clauses, joins = [[]], [None]
        for w in words:
            if w in SEPARATORS:
                if clauses[-1]:
                    clauses.append([])
                    joins.append(w)
                elif w == "then":
                    joins[-1] = "then"
            else:
                clauses[-1].append(w)
        if not clauses[-1]:
            clauses.pop(), joins.pop()
        phases = [[]]
        for clause, join in zip(clauses, joins):
            if join == "then" and phases[-1]:
                phases.append([])
            phases[-1].append(clause)

        tracks: list[Track] = []
        chains: list[dict] = []   # background changes: words spread evenly over [a, b]
        unknown: list[str] = []
        last: Track | None = None
        n = len(phases)
        for p, phase in enumerate(phases):
            p0, p1 = p / n, (p + 1) / n
            bg_chain = False
            for clause in phase:
                later = "later" in clause
                a = p0 + (p1 - p0) / 2 if later else p0
                mid = p0 + (p1 - p0) / 2
                mention, subject = Mention(), None
                kinds, bgs, change, color_to = [], [], False, None
                start, to, back, at = (None, None), (None, None), False, (None, None)
                i = 0
                while i < len(clause):
                    w = clause[i]
                    if w in ("it", "later", "and"):
                        subject = last if w == "it" else subject
                        i += 1
                    elif w in SIZES:
                        mention.size, i = w, i + 1
                    elif w in COLORS:
                        if change or mention.shape is not None or subject is not None:
                            color_to = w
                        else:
                            mention.color = w
                        i += 1
                    elif w in SHAPES or w in SHAPE_SYNONYMS:
                        mention.shape, i = SHAPE_SYNONYMS.get(w, w), i + 1
                    elif w in BACKGROUNDS:
                        bgs.append(w)
                        i += 1
                    elif w in MOVE:
                        kinds.append("move")
                        i += 1
                    elif w == "across":
                        kinds.append("move") if "move" not in kinds else None
                        start = ("left", None) if start == (None, None) else start
                        to = ("right", None) if to == (None, None) else to
                        i += 1
                    elif w in VERBS:
                        kinds.append(VERBS[w])
                        i += 1
                    elif w in CHANGE:
                        change, i = True, i + 1
                    elif w == "back":
                        back, i = True, i + 1
                    elif w in ("from", "to", "at", "in", "on"):
                        column, row, j = _positions(clause, i + 1)
                        if column is None and row is None:
                            i += 1       # "turns to night", "on grass": the next word says what
                            continue
                        if w == "from":
                            start = (column, row)
                        elif w == "to":
                            to = (column, row)
                        else:            # "in the center" is the middle center
                            at = (column, "middle" if column == "center" and row is None else row)
                        i = j
                    else:
                        column, row, j = _positions(clause, i)
                        if j > i:        # "left to right" without "from"
                            nxt = clause[j] if j < len(clause) else None
                            if nxt == "to" and start == (None, None):
                                start = (column, row)
                            else:
                                at = (column, row)
                            i = j
                        elif w in FILLER:
                            i += 1
                        else:
                            unknown.append(w)
                            i += 1
                if mention.shape is None and mention.color is not None and subject is None:
                    unknown.append(f"{mention.color} (a colour without a shape)")
                if mention.shape is not None:
                    subject = self._track(tracks, mention, at)
                if subject is None and not bgs and (kinds or color_to or change):
                    subject = last
                if bgs and subject is None:
                    if bg_chain or change or len(bgs) > 1:
                        if not bg_chain:   # a new change: from the current background on
                            before = chains[-1]["words"][-1] if chains else "day"
                            chains.append({"a": a, "b": p1, "words": [] if len(bgs) > 1 else [before]})
                        chains[-1]["words"].extend(bgs)
                        bg_chain = True
                    else:
                        chains.append({"a": a if later else p0, "b": p1, "words": bgs[:1]})
                    continue
                if subject is None and back and not kinds and last is not None:
                    moves = [e for e in last.events if e.kind == "move"]
                    if moves:        # "... moves from left to right and back"
                        moves[-1].back = True
                        continue
                if subject is None:
                    if kinds or color_to or back:
                        raise DirectorError(f"{' '.join(clause)!r} in prompt={prompt!r} names no object to act on; "
                                            "name one first, e.g. 'a red ball'")
                    continue
                for bg in bgs:
                    chains.append({"a": p0, "b": p1, "words": [bg]})
                last = subject
                if color_to:
                    subject.events.append(Event("color", mid, mid, color=color_to))
                for kind in kinds:
                    if kind == "stay":
                        continue
                    if kind == "move":
                        if to == (None, None) and start == (None, None):
                            start, to = ("left", None), ("right", None)
                        subject.events.append(Event("move", a, p1, to=to, start=start, back=back))
                    elif kind in ("appear", "disappear"):
                        subject.events.append(Event(kind, mid, mid))
                    else:
                        subject.events.append(Event(kind, a, p1))
        if unknown:
            raise DirectorError(
                f"the storyboard director did not understand {sorted(set(unknown))} in prompt={prompt!r}. "
                "It knows only the shapes world: colours, circle/square/triangle (ball, box, ...), sizes, "
                "positions, backgrounds, and the events moves from A to B, appears, disappears, grows, "
                "shrinks, turns <colour>, falls, rises, bounces, joined by and, while, then, later. "
                "For free text use an LLM director (OpenAIDirector or TransformersDirector).")
        if not tracks:
            raise DirectorError(f"prompt={prompt!r} names no object (a colour and/or a shape such as "
                                "'a red ball'); the shapes world needs 1 to 3 objects per frame")
        if len(tracks) > 3:
            raise DirectorError(f"prompt={prompt!r} names {len(tracks)} objects; the shapes world holds at most 3")
        backgrounds = [(c["a"] + (c["b"] - c["a"]) * j / len(c["words"]), word)
                       for c in chains for j, word in enumerate(c["words"])]
        backgrounds.sort(key=lambda tb: tb[0])
        if not backgrounds or backgrounds[0][0] > 0:
            backgrounds.insert(0, (0.0, "day"))
        return tracks, backgrounds

    @staticmethod
    def _track(tracks, mention, at) -> Track:
        for track in tracks:
            if track.shape == mention.shape and mention.color in (None, track.color):
                return track
        if mention.color is None:
            raise DirectorError(f"the {mention.shape} has no colour; say which (e.g. 'a red {mention.shape}')")
        track = Track(mention.color, mention.shape, mention.size, at[0], at[1])
        tracks.append(track)
        return track

    # --- rendering the plan into scenes ---------------------------------------------------
    def _initial(self, tracks):
        """Resolve each track's start: (x, y, side) with the documented defaults."""
        from direct2v.shapes.world import COLUMNS, ROWS, SIZES

        n = len(tracks)
        cols = {1: ["center"], 2: ["left", "right"], 3: ["left", "center", "right"]}[n]
        rows = {1: ["middle"], 2: ["bottom", "top"], 3: ["bottom", "top", "middle"]}[n]
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
            out.append([COLUMNS[column or cols[k]], ROWS[row or rows[k]], float(SIZES[size])])
        return out

    def _state(self, track, init, t):
        """(x, y, side, colour, visible) of ``track`` at time ``t``."""
        from direct2v.shapes.world import COLUMNS, ROWS

        x, y, side = init
        color, visible = track.color, not any(e.kind == "appear" for e in track.events)
        for e in sorted(track.events, key=lambda e: e.a):
            if t < e.a and e.kind not in ("appear", "disappear", "color"):
                continue
            p = 1.0 if e.b <= e.a else min(max((t - e.a) / (e.b - e.a), 0.0), 1.0)
            if e.kind == "move":
                x0 = COLUMNS[e.start[0]] if e.start[0] else x
                y0 = ROWS[e.start[1]] if e.start[1] else y
                x1 = COLUMNS[e.to[0]] if e.to[0] else x0
                y1 = ROWS[e.to[1]] if e.to[1] else y0
                q = 1 - abs(1 - 2 * p) if e.back else p
                x, y = x0 + (x1 - x0) * q, y0 + (y1 - y0) * q
            elif e.kind in ("fall", "rise"):
                y1 = ROWS["bottom" if e.kind == "fall" else "top"]
                y = y + (y1 - y) * p
            elif e.kind == "bounce":
                top = ROWS["top"] if y >= ROWS["middle"] else ROWS["bottom"]
                y = y + (top - y) * abs(math.sin(2 * math.pi * p))
            elif e.kind in ("grow", "shrink"):
                target = min(max(side * (GROW if e.kind == "grow" else SHRINK), SIDE_RANGE[0]), SIDE_RANGE[1])
                side = side + (target - side) * p
            elif e.kind == "color" and t >= e.a:
                color = e.color
            elif e.kind == "appear":
                visible = t >= e.a
            elif e.kind == "disappear" and t >= e.a:
                visible = False
        return x, y, side, color, visible

    def scenes(self, prompt: str, num_frames: int) -> list:
        """Ground-truth scene of every frame (frame f at time (f + 1/2) / F)."""
        from direct2v.shapes.world import Obj, Scene, nearest_column, nearest_row, size_class

        tracks, backgrounds = self.plan(prompt)
        inits = self._initial(tracks)
        scenes = []
        for f in range(num_frames):
            t = (f + 0.5) / num_frames
            objects = []
            for track, init in zip(tracks, inits):
                x, y, side, color, visible = self._state(track, init, t)
                if visible:
                    size = size_class(side)
                    obj = Obj(color, track.shape, size, nearest_column(x), nearest_row(y), x=x, y=y)
                    objects.append(obj.with_side(side))
            background = [word for start, word in backgrounds if start <= t + 1e-9][-1]
            scene = Scene(tuple(objects), background)
            if not objects:
                raise DirectorError(f"prompt={prompt!r} leaves frame {f + 1} of {num_frames} without any "
                                    "object; the shapes world draws 1 to 3 objects in every frame")
            try:
                scene.validate()
            except ValueError as err:
                raise DirectorError(f"prompt={prompt!r} gives an impossible frame {f + 1} of {num_frames}: "
                                    f"{err}. Give the objects other rows or columns "
                                    "(e.g. 'at the top left').") from err
            scenes.append(scene)
        return scenes

    # --- the Director interface -------------------------------------------------------------
    def describe_plan(self, prompt: str) -> str:
        """The storyboard in words (stands in for the instruction: nothing is sent anywhere)."""
        tracks, backgrounds = self.plan(prompt)
        lines = [f"storyboard for: {prompt}"]
        for t in tracks:
            events = ", ".join(f"{e.kind}{' ' + e.color if e.color else ''} [{e.a:.2f}-{e.b:.2f}]"
                               for e in t.events) or "stays"
            lines.append(f"- {t.color} {t.shape}: {events}")
        lines.append("- background: " + ", ".join(f"{w} from {s:.2f}" for s, w in backgrounds))
        return "\n".join(lines)

    def direct(self, prompt: str, num_frames: int = 8, fps: float = 1, camera: bool = True) -> Script:
        """One canonical caption per frame and its ground-truth scene (``script.scenes``)."""
        from direct2v.shapes.captions import caption

        check_request(prompt, num_frames, fps, camera)
        scenes = self.scenes(prompt, num_frames)
        frames = [caption(s) for s in scenes]
        return Script(frames=frames, fps=fps, prompt=prompt, instruction=self.describe_plan(prompt),
                      reply=json.dumps(frames), backend=self.backend, model=self.model, messages=[],
                      camera=camera, target="shapes", scenes=scenes)

    def lift(self, script: Script) -> Script:
        """Re-plan at 2F frames and 2R fps (deterministic): each frame's interval splits in two."""
        if not isinstance(script, Script):
            raise ValueError(f"script must be a Script, got {type(script).__name__}")
        return self.direct(script.prompt, 2 * script.num_frames, 2 * script.fps, script.camera)
