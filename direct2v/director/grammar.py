"""The storyboard's grammar: a prompt of the shapes world read into a :class:`~direct2v.director.story.Story`.

The storyboard director (:mod:`direct2v.director.storyboard`) does what the paper asks of the LLM
(Fig. 14) with this small grammar instead of a language model: it decomposes the prompt into events
(rule 1), tracks the objects (rule 2) and the background (rule 3); :func:`read_story` is the reading.

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

This module reads the words (:func:`split_phases`, :func:`read_clause`, :class:`StoryReader`);
the story model (:mod:`direct2v.director.story`) holds the timing, the defaults and the scenes, and
the director (:mod:`direct2v.director.storyboard`) writes one canonical caption per frame.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..world.captions import ParsedObject as Mention  # what a clause says of one object
from ..world.world import BACKGROUNDS, COLORS, COLUMNS, ROWS, SHAPE_SYNONYMS, SHAPES, SIZES, normalize_words
from .parsing import DirectorError, show
from .story import BackgroundChange, Event, Phase, Story, Track, background_schedule

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
PLACES = ("from", "to", "at", "in", "on")
NOWHERE = (None, None)   # (column, row) when a clause says nothing


def _positions(words, i):
    """Read "top left", "far right", "center" at ``words[i:]``: (column, row, next index)."""
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


def split_phases(words: list[str]) -> list[list[list[str]]]:
    """Words -> phases (cut by "then") -> clauses (cut by "and", "while", commas, "then")."""
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
    return phases


@dataclass
class Clause:
    """What one clause says: an object (``mention``, or ``subject`` by "it"), verbs, places, backgrounds."""

    words: list
    later: bool = False
    mention: Mention = field(default_factory=Mention)
    subject: Track | None = None
    kinds: list = field(default_factory=list)         # event kinds, in the order said
    backgrounds: list = field(default_factory=list)
    change: bool = False                               # "turns", "becomes"
    color_to: str | None = None
    start: tuple = NOWHERE
    to: tuple = NOWHERE
    at: tuple = NOWHERE
    back: bool = False
    unknown: list = field(default_factory=list)


def read_clause(words: list[str], last: Track | None) -> Clause:
    """Read one clause word by word ("it" is ``last``, the object of the clause before)."""
    clause, i = Clause(words, later="later" in words), 0
    while i < len(words):
        i = _read_word(clause, words, i, last)
    if clause.mention.shape is None and clause.mention.color is not None and clause.subject is None:
        clause.unknown.append(f"{clause.mention.color} (a colour without a shape)")
    return clause


def _read_word(c: Clause, words: list[str], i: int, last: Track | None) -> int:
    """Read ``words[i]`` (and the place words after it) into ``c``; return the next index."""
    w = words[i]
    if w in ("it", "later", "and"):
        c.subject = last if w == "it" else c.subject
    elif w in SIZES:
        c.mention.size = w
    elif w in COLORS:
        if c.change or c.mention.shape is not None or c.subject is not None:
            c.color_to = w
        else:
            c.mention.color = w
    elif w in SHAPES or w in SHAPE_SYNONYMS:
        c.mention.shape = SHAPE_SYNONYMS.get(w, w)
    elif w in BACKGROUNDS:
        c.backgrounds.append(w)
    elif w in MOVE:
        c.kinds.append("move")
    elif w == "across":
        if "move" not in c.kinds:
            c.kinds.append("move")
        c.start = ("left", None) if c.start == NOWHERE else c.start
        c.to = ("right", None) if c.to == NOWHERE else c.to
    elif w in VERBS:
        c.kinds.append(VERBS[w])
    elif w in CHANGE:
        c.change = True
    elif w == "back":
        c.back = True
    elif w in PLACES:
        return _read_place(c, words, i)
    else:
        column, row, j = _positions(words, i)
        if j > i:        # "left to right" without "from"
            nxt = words[j] if j < len(words) else None
            if nxt == "to" and c.start == NOWHERE:
                c.start = (column, row)
            else:
                c.at = (column, row)
            return j
        if w not in FILLER:
            c.unknown.append(w)
    return i + 1


def _read_place(c: Clause, words: list[str], i: int) -> int:
    """Read "from A", "to B", "at/in/on C" at ``words[i]``; return the next index."""
    column, row, j = _positions(words, i + 1)
    if column is None and row is None:
        return i + 1     # "turns to night", "on grass": the next word says what
    w = words[i]
    if w == "from":
        c.start = (column, row)
    elif w == "to":
        c.to = (column, row)
    else:                # "in the center" is the middle center
        c.at = (column, "middle" if column == "center" and row is None else row)
    return j


def _listed(words: list[str], most: int = 10) -> str:
    """The distinct ``words``, sorted, at most ``most`` of them, for an error message."""
    distinct = sorted(set(words))
    more = f" and {len(distinct) - most} more" if len(distinct) > most else ""
    return repr(distinct[:most]) + more


class StoryReader:
    """Builds a :class:`Story` clause by clause: its objects, their events, the background changes."""

    def __init__(self, prompt: str):
        self.prompt = prompt
        self.tracks: list[Track] = []
        self.changes: list[BackgroundChange] = []
        self.unknown: list[str] = []
        self.last: Track | None = None   # the object the last clause acted on ("it")
        self.chaining = False            # this phase's clauses extend one background change

    def read_phase(self, phase: Phase, clauses: list[list[str]]):
        """Read the clauses of one phase in order."""
        self.chaining = False
        for words in clauses:
            clause = read_clause(words, self.last)
            self.unknown += clause.unknown
            self.add(clause, phase)

    def add(self, clause: Clause, phase: Phase):
        """Give the clause's events to its object, or its backgrounds to the story."""
        subject = self._subject(clause)
        if clause.backgrounds and subject is None:
            self._add_background(clause, phase)
        elif subject is None:
            self._add_to_nothing(clause)
        else:
            self._add_events(subject, clause, phase)

    def _subject(self, clause: Clause) -> Track | None:
        """The object the clause acts on: the one it names, "it", or (a bare verb) the last one."""
        subject = clause.subject
        if clause.mention.shape is not None:
            subject = self._track(clause.mention, clause.at)
        if subject is None and not clause.backgrounds and (clause.kinds or clause.color_to or clause.change):
            subject = self.last
        return subject

    def _track(self, mention: Mention, at: tuple) -> Track:
        """The track ``mention`` names (same shape, colour unsaid or the same), or a new one."""
        for track in self.tracks:
            if track.shape == mention.shape and mention.color in (None, track.color):
                return track
        if mention.color is None:
            raise DirectorError(f"the {mention.shape} has no colour; say which (e.g. 'a red {mention.shape}')")
        track = Track(mention.color, mention.shape, mention.size, at[0], at[1])
        self.tracks.append(track)
        return track

    def _add_background(self, clause: Clause, phase: Phase):
        """A background clause: one background for the phase, or a change ("turns", several words)."""
        bgs, a = clause.backgrounds, phase.begin(clause.later)
        if self.chaining or clause.change or len(bgs) > 1:
            if not self.chaining:   # a new change: from the current background on
                before = self.changes[-1].words[-1] if self.changes else "day"
                self.changes.append(BackgroundChange(a, phase.end, [] if len(bgs) > 1 else [before]))
            self.changes[-1].words.extend(bgs)
            self.chaining = True
        else:
            self.changes.append(BackgroundChange(a, phase.end, bgs[:1]))

    def _add_to_nothing(self, clause: Clause):
        """A clause with no object: "and back" extends the last move; a verb without an object is an error."""
        if clause.back and not clause.kinds and self.last is not None:
            moves = [e for e in self.last.events if e.kind == "move"]
            if moves:        # "... moves from left to right and back"
                moves[-1].back = True
                return
        if clause.kinds or clause.color_to or clause.back:
            text = " ".join(clause.words)
            where = "" if text == " ".join(normalize_words(self.prompt)) else f"{show(text)} in "  # once is enough
            unknown = f" ({_listed(clause.unknown)} unknown to the shapes world)" if clause.unknown else ""
            raise DirectorError(f"{where}prompt={show(self.prompt)} names no object to act on{unknown}; "
                                "name one first, e.g. 'a red ball'")

    def _add_events(self, subject: Track, clause: Clause, phase: Phase):
        """The clause's backgrounds for its phase, then its colour change and its verbs as events of ``subject``."""
        for bg in clause.backgrounds:
            self.changes.append(BackgroundChange(phase.start, phase.end, [bg]))
        self.last = subject
        a, mid = phase.begin(clause.later), phase.middle
        if clause.color_to:
            subject.events.append(Event("color", mid, mid, color=clause.color_to))
        start, to = clause.start, clause.to
        if to == NOWHERE and start == NOWHERE:   # a mover without a place goes left to right
            start, to = ("left", None), ("right", None)
        for kind in clause.kinds:
            if kind == "move":
                subject.events.append(Event("move", a, phase.end, to=to, start=start, back=clause.back))
            elif kind in ("appear", "disappear"):
                subject.events.append(Event(kind, mid, mid))
            elif kind != "stay":
                subject.events.append(Event(kind, a, phase.end))

    def story(self) -> Story:
        """The story read, or a ``DirectorError`` for unknown words and for no or too many objects."""
        prompt = self.prompt
        if self.unknown:
            raise DirectorError(
                f"the storyboard director did not understand {_listed(self.unknown)} in prompt={show(prompt)}. "
                "It knows only the shapes world: colours, circle/square/triangle (ball, box, ...), sizes, "
                "positions, backgrounds, and the events moves from A to B, appears, disappears, grows, "
                "shrinks, turns <colour>, falls, rises, bounces, joined by and, while, then, later. "
                "For free text use an LLM director (OpenAIDirector or TransformersDirector).")
        if not self.tracks:
            raise DirectorError(f"prompt={show(prompt)} names no object (a colour and/or a shape such as "
                                "'a red ball'); the shapes world needs 1 to 3 objects per frame")
        if len(self.tracks) > 3:
            raise DirectorError(f"prompt={show(prompt)} names {len(self.tracks)} objects; "
                                "the shapes world holds at most 3")
        return Story(self.tracks, background_schedule(self.changes))


def read_story(prompt: str) -> Story:
    """Read ``prompt`` into a :class:`~direct2v.director.story.Story` (tracks, backgrounds with times).

    Raises ``DirectorError`` for words outside the grammar, an object without a colour, a verb
    without an object, and no or more than 3 objects."""
    reader = StoryReader(prompt)
    phases = split_phases(normalize_words(prompt))
    for p, clauses in enumerate(phases):
        reader.read_phase(Phase(p, len(phases)), clauses)
    return reader.story()
