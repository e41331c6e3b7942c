"""Captions of the shapes world, and their parser (``shapes_world.md``, Captions).

Canonical caption (objects in scene order, joined by "and", background last)::

    a large red circle at the top left and a small blue square at the bottom right, night background

Position phrases: "at the <row> <column>" for the top and bottom rows, "in the middle <column>"
for the middle row, and "in the center" for middle center.

Training captions (:func:`training_caption`) are the captions the miniature model learns from.
They are randomly under-specified, so that the model learns to sample what a caption leaves
open, as Stable Diffusion does: the size may be dropped ("a red circle ..."), the row may be
dropped ("... on the left", a column alone), objects are shuffled and joined by "and" or
commas, shapes may be replaced by a synonym (ball, box, pyramid, ...), and the background is
written ", night background", " with a night background" or " on a night background".

:func:`parse` inverts both: ``parse(caption(scene))`` recovers every attribute, and every
attribute that ``parse(training_caption(scene, rng))`` returns is true of the scene.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import permutations

import numpy as np

from .world import (BACKGROUNDS, COLORS, COLUMNS, ROWS, SHAPE_SYNONYMS, SHAPES, SIZES,
                    VOCABULARY, Obj, Scene, normalize_words)

_SYNONYMS_OF = {s: [w for w, t in SHAPE_SYNONYMS.items() if t == s] for s in SHAPES}
_VOWELS = "aeiou"


def position_phrase(column: str | None, row: str | None) -> str:
    """"at the top left", "in the middle right", "in the center"; "on the left" (no row);
    "at the top" / "in the middle" (no column)."""
    if column is not None and column not in COLUMNS:
        raise ValueError(f"unknown column {column!r}; allowed: {', '.join(COLUMNS)}")
    if row is not None and row not in ROWS:
        raise ValueError(f"unknown row {row!r}; allowed: {', '.join(ROWS)}")
    if row is None:
        return f"on the {column}" if column is not None else ""
    if column is None:
        return "in the middle" if row == "middle" else f"at the {row}"
    if row == "middle":
        return "in the center" if column == "center" else f"in the middle {column}"
    return f"at the {row} {column}"


def object_phrase(obj: Obj, size: bool = True, row: bool = True, column: bool = True,
                  shape_word: str | None = None) -> str:
    """"a large red circle at the top left", leaving out what is switched off."""
    words = ([obj.size] if size else []) + [obj.color, shape_word or obj.shape]
    article = "an" if words[0][0] in _VOWELS else "a"
    pos = position_phrase(obj.column if column else None, obj.row if row else None)
    return " ".join([article, *words] + ([pos] if pos else []))


def caption(scene: Scene) -> str:
    """The canonical caption of ``scene`` (every attribute stated, objects in scene order)."""
    parts = [object_phrase(o) for o in scene.objects]
    return " and ".join(parts) + f", {scene.background} background"


def training_caption(scene: Scene, rng: np.random.Generator, p_drop_size: float = 0.3,
                     p_drop_row: float = 0.25, p_synonym: float = 0.2) -> str:
    """A randomly under-specified, shuffled paraphrase of ``caption(scene)`` (module docstring)."""
    order = rng.permutation(len(scene.objects))
    parts = []
    for i in order:
        obj = scene.objects[int(i)]
        shape_word = None
        if rng.random() < p_synonym:
            syn = _SYNONYMS_OF[obj.shape]
            shape_word = syn[int(rng.integers(len(syn)))]
        parts.append(object_phrase(obj, size=rng.random() >= p_drop_size,
                                   row=rng.random() >= p_drop_row, shape_word=shape_word))
    if len(parts) > 2 and rng.random() < 0.5:
        text = ", ".join(parts[:-1]) + " and " + parts[-1]
    else:
        text = " and ".join(parts)
    u = rng.random()
    if u < 0.6:
        return text + f", {scene.background} background"
    return text + (" with a " if u < 0.8 else " on a ") + f"{scene.background} background"


# --- parser -------------------------------------------------------------------------------
@dataclass
class ParsedObject:
    """One object as a caption states it; ``None`` where the caption says nothing."""

    color: str | None = None
    shape: str | None = None
    size: str | None = None
    column: str | None = None
    row: str | None = None


@dataclass
class ParsedScene:
    objects: list[ParsedObject] = field(default_factory=list)
    background: str | None = None


SEPARATORS = {"and", ",", ".", ";", "with", "while", "then"}
"""Words that end one object's phrase (the parser and the grounding targets split on them)."""
_TWO_WORD_COLUMNS = {tuple(c.split()): c for c in COLUMNS if " " in c}


def parse_object(words: list[str]) -> ParsedObject | None:
    """One object's attributes from the words of its phrase (``None`` when it names neither colour nor shape)."""
    obj = ParsedObject()
    col_at = None
    i = 0
    while i < len(words):
        w = words[i]
        pair = tuple(words[i:i + 2])
        if pair in _TWO_WORD_COLUMNS:
            if obj.column is None:
                obj.column, col_at = _TWO_WORD_COLUMNS[pair], i
            i += 2
            continue
        if w in COLORS and obj.color is None:
            obj.color = w
        elif (w in SHAPES or w in SHAPE_SYNONYMS) and obj.shape is None:
            obj.shape = SHAPE_SYNONYMS.get(w, w)
        elif w in SIZES and obj.size is None:
            obj.size = w
        elif w in ROWS and obj.row is None:
            obj.row = w
        elif w in COLUMNS and obj.column is None:
            obj.column, col_at = w, i
        i += 1
    if obj.color is None and obj.shape is None:
        return None
    # "in the center" / "at the center" is middle center; "on the center" is the column alone
    if obj.column == "center" and obj.row is None:
        j = col_at - 1
        if j >= 0 and words[j] == "the":
            j -= 1
        if j >= 0 and words[j] in ("in", "at"):
            obj.row = "middle"
    return obj


def parse(text: str, strict: bool = False) -> ParsedScene:
    """Parse a caption back into objects and background (``None`` for what is not stated).

    Objects are split on "and", commas and periods (also "with", "while", "then"); a part that
    names neither a colour nor a shape holds no object. Capitals, a trailing period, articles and
    shape synonyms are accepted. Unknown words are ignored, unless ``strict``, which raises
    ``ValueError`` listing the words that are not in ``VOCABULARY``.
    """
    words = normalize_words(text)
    if strict:
        unknown = sorted({w for w in words if w not in _VOCAB_SET})
        if unknown:
            raise ValueError(f"text={text!r} has words outside the shapes vocabulary: {unknown}")
    scene = ParsedScene()
    part: list[str] = []
    for w in words + ["."]:
        if w in BACKGROUNDS and scene.background is None:
            scene.background = w
            continue
        if w in SEPARATORS:
            obj = parse_object(part)
            if obj is not None:
                scene.objects.append(obj)
            part = []
        else:
            part.append(w)
    return scene


_VOCAB_SET = frozenset(VOCABULARY)
_ATTRS = ("color", "shape", "size", "column", "row")


def parsed_matches(parsed: ParsedScene, scene: Scene) -> bool:
    """True when ``parsed`` states nothing false about ``scene``: same number of objects, a
    stated background equal to the scene's, and an assignment of parsed to scene objects under
    which every stated attribute is true."""
    if parsed.background is not None and parsed.background != scene.background:
        return False
    if len(parsed.objects) != len(scene.objects):
        return False
    for perm in permutations(scene.objects):
        if all(getattr(p, a) is None or getattr(p, a) == getattr(o, a)
               for p, o in zip(parsed.objects, perm) for a in _ATTRS):
            return True
    return False
