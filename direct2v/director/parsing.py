"""Reading frame prompts out of an LLM's reply, and repairing the usual ways replies go wrong.

The paper asks for a JSON list (Fig. 14), and Fig. 13 shows what comes back: GPT-4 and GPT-3.5
mostly keep the format, Bard mixes quote styles and drops commas, and chat front-ends show
``Frame #1 (00:00)`` lines. :func:`parse_frames` accepts all of these, and more: code fences,
prose around the list, single quotes, trailing commas, Python lists, numbered or bulleted lines,
lists of objects with a ``description``/``prompt``/``text`` field. Anything it cannot read is a
:class:`DirectorError` that shows the reply; it never raises anything else.
"""
from __future__ import annotations

import ast
import json
import re


class DirectorError(ValueError):
    """A director could not produce frame prompts: bad reply, wrong count, backend failure,
    or (for the storyboard) words outside its grammar."""


class FrameCountError(DirectorError):
    """The reply parsed, but has the wrong number of frames; ``frames`` holds what was read."""

    def __init__(self, message: str, frames: list[str]):
        super().__init__(message)
        self.frames = frames


TEXT_KEYS = ("description", "prompt", "text", "caption", "frame_prompt", "content")
LIST_KEYS = ("frames", "descriptions", "prompts", "images", "scenes", "captions")
_SHOWN = 600  # characters of a reply shown in an error

_FENCE = re.compile(r"```[A-Za-z0-9_+-]*[ \t]*\n?(.*?)(?:```|\Z)", re.S)
_FRAME_PREFIX = re.compile(
    r"^\s*(?:[*_]{1,2})?\s*(?:frame|image|description|shot|scene)\s*#?\s*\d+\s*"
    r"(?:\(\s*[\d:.]+\s*(?:s|sec)?\s*\))?\s*(?:[*_]{1,2})?\s*[:.)\-\u2013\u2014]?\s*(?:[*_]{1,2})?\s*",
    re.I)
_ENUM_PREFIX = re.compile(r"^\s*(?:\d+\s*[.):]|[-*\u2022\u2023\u25e6])\s+")
_QUOTES = "\"'\u201c\u201d\u2018\u2019`"


def show(reply: str) -> str:
    """The reply as an error message shows it (shortened)."""
    reply = str(reply)
    return repr(reply if len(reply) <= _SHOWN else reply[:_SHOWN] + " ...")


def _item_text(item) -> str | None:
    """A list item as frame text: a string, or an object's description field."""
    if isinstance(item, str):
        return item
    if isinstance(item, dict):
        for key in TEXT_KEYS:
            for k, v in item.items():
                if isinstance(k, str) and k.lower() == key and isinstance(v, str):
                    return v
    return None


def _as_frames(value) -> list[str] | None:
    """A decoded JSON/Python value as a list of frame texts, or None when it is not one."""
    if isinstance(value, dict):
        for key in LIST_KEYS:
            for k, v in value.items():
                if isinstance(k, str) and k.lower() == key and isinstance(v, (list, tuple)):
                    return _as_frames(v)
        return None
    if not isinstance(value, (list, tuple)) or not value:
        return None
    if len(value) == 1 and isinstance(value[0], (list, tuple)):  # [[...]]
        return _as_frames(value[0])
    texts = [_item_text(item) for item in value]
    return None if any(t is None for t in texts) else texts


def _decode(body: str):
    """JSON, then JSON without trailing commas, then a Python literal; None if none reads."""
    attempts = (
        lambda s: json.loads(s),
        lambda s: json.loads(re.sub(r",\s*([\]}])", r"\1", s)),
        lambda s: ast.literal_eval(s),
    )
    for attempt in attempts:
        try:
            frames = _as_frames(attempt(body))
        except Exception:  # noqa: BLE001 - any failure just means "try the next repair"
            continue
        if frames is not None:
            return frames
    return None


def _bracketed(text: str) -> list[str]:
    """Candidate list bodies: from each opening bracket to the last closing one (or to the end)."""
    out = []
    for open_, close in (("[", "]"), ("{", "}")):
        start = text.find(open_)
        if start < 0:
            continue
        end = text.rfind(close)
        out.append(text[start:end + 1] if end > start else text[start:])
    return out


_BOUNDARY = re.compile(r"[\"'\u201d\u2019]\s*,?\s*[\"'\u201c\u2018]")


def _loose_items(body: str) -> list[str] | None:
    """Quoted strings in a list whose JSON is broken (mixed quotes, missing commas, cut off).

    Works line by line: a line that opens with a quote is split where one quote closes and the
    next opens (Bard's ``'...." "...",`` in Fig. 13); an item whose closing quote never came
    (a reply cut off by the token budget) is dropped.
    """
    inner = body.strip()
    if inner.startswith("["):
        inner = inner[1:]
    items = []
    for line in inner.splitlines():
        line = line.strip().rstrip(",]").strip()
        if len(line) < 2 or line[0] not in _QUOTES:
            continue
        pieces = _BOUNDARY.split(line[1:])
        if pieces[-1] and pieces[-1][-1] in _QUOTES:
            pieces[-1] = pieces[-1][:-1]
        else:
            pieces.pop()
        items.extend(pieces)
    return items or None


def _lines(text: str) -> list[str] | None:
    """Frames written one per line: ``Frame #1 (00:00): ...``, ``1. ...``, ``- ...``."""
    items = []
    for line in text.splitlines():
        match = _FRAME_PREFIX.match(line) or _ENUM_PREFIX.match(line)
        if match and line[match.end():].strip():
            items.append(line[match.end():])
    return items or None


def _clean(frame: str) -> str:
    frame = _FRAME_PREFIX.sub("", frame, count=1)
    frame = " ".join(frame.split())
    frame = frame.strip().strip(_QUOTES).strip().rstrip(",").strip().strip(_QUOTES).strip()
    return frame.strip("*").strip()


def parse_frames(reply, num_frames: int | None = None) -> list[str]:
    """Frame prompts in ``reply``; raise :class:`DirectorError` when there are none or they are bad.

    With ``num_frames`` a different count raises :class:`FrameCountError` (which carries the
    frames read), so a director can ask once more. Empty frames and replies whose frames are all
    the same are errors.
    """
    if not isinstance(reply, str):
        raise DirectorError(f"the reply is a {type(reply).__name__}, not text: {show(reply)}")
    text = reply.replace("\r\n", "\n")
    fenced = [m.group(1) for m in _FENCE.finditer(text) if m.group(1).strip()]
    frames = None
    for candidate in fenced + [text]:
        for body in _bracketed(candidate):
            frames = _decode(body) or _loose_items(body)
            if frames:
                break
        if not frames:
            frames = _lines(candidate)
        if frames:
            break
    if not frames:
        raise DirectorError(f"no list of frame descriptions found in the reply: {show(reply)}")
    frames = [_clean(f) for f in frames]
    if any(not f for f in frames):
        empty = [i + 1 for i, f in enumerate(frames) if not f]
        raise DirectorError(f"frame(s) {empty} of {len(frames)} are empty in the reply: {show(reply)}")
    if len(frames) > 1 and len(set(f.lower() for f in frames)) == 1:
        raise DirectorError(f"all {len(frames)} frames are the same description in the reply: {show(reply)}")
    if num_frames is not None and len(frames) != num_frames:
        raise FrameCountError(
            f"expected {num_frames} frames, the reply has {len(frames)}: {show(reply)}", frames)
    return frames
