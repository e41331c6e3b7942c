"""Constrained (grammar-guided) decoding: a reply that is exactly F frames, in the world's words.

The paper asks the LLM for a JSON list of F descriptions (Fig. 14) and relies on the model to
keep that form; a small model does not (Fig. 13 shows even Bard breaking it). Constrained
decoding keeps the form by construction: at every step of generation the tokens that would leave
a grammar get probability zero, so the model only chooses *among well-formed continuations*.

* :func:`caption_pattern`: a regular expression of the canonical shapes-world caption
  (:func:`direct2v.world.captions.caption`): one to three objects, each "a <size> <colour>
  <shape> <position>", joined by "and", then ", <background> background". Built from the
  world's own tables, so it follows the world.
* :func:`frames_grammar`: a Lark grammar (llguidance's dialect) of a JSON list of exactly F
  strings, each a caption (``target="shapes"``) or any short one-line text (``target=None``).
* :func:`frames_schema`: the same list as a JSON schema, for servers that take an OpenAI
  ``response_format`` (the list sits in an object, ``{"frames": [...]}``, as such servers require).
* :class:`GrammarLogitsProcessor`: the token mask of the `llguidance <https://github.com/guidance-ai/llguidance>`_
  library applied to transformers' ``generate`` logits, for greedy decoding and for sampling alike.

The grammar fixes the form only: which objects, where, and how they change over the frames are
still the model's choice, so a constrained script can be well formed and tell the wrong story.
"""
from __future__ import annotations

import numpy as np
import torch

from ..world.captions import position_phrase
from ..world.world import BACKGROUNDS, COLORS, COLUMNS, ROWS, SHAPES, SIZES
from .parsing import DirectorError

MAX_FREE_CHARS = 300
"""Longest frame description the open-vocabulary grammar allows (characters)."""


def _alternatives(words) -> str:
    return "(" + "|".join(sorted(words, key=len, reverse=True)) + ")"


def caption_pattern() -> str:
    """Regular expression of every canonical caption of the shapes world (module docstring)."""
    positions = {position_phrase(c, r) for c in COLUMNS for r in ROWS}
    sized = {("an " if s[0] in "aeiou" else "a ") + s for s in SIZES}
    obj = f"{_alternatives(sized)} {_alternatives(COLORS)} {_alternatives(SHAPES)} {_alternatives(positions)}"
    return f"{obj}( and {obj}){{0,2}}, {_alternatives(BACKGROUNDS)} background"


def free_pattern() -> str:
    """One line of text without quotes or backslashes: a frame description for any image model."""
    return '[^"\\\\\\n\\r]{1,%d}' % MAX_FREE_CHARS


def _check_frames(num_frames) -> None:
    if isinstance(num_frames, bool) or not isinstance(num_frames, int) or num_frames < 1:
        raise ValueError(f"num_frames={num_frames!r} is not allowed; give an integer >= 1")


def frames_grammar(num_frames: int, target: str | None = "shapes") -> str:
    """Lark grammar of ``["<frame>", "<frame>", ...]`` with exactly ``num_frames`` frames."""
    _check_frames(num_frames)
    if target not in (None, "shapes"):
        raise ValueError(f"target={target!r} is not allowed; use None or 'shapes'")
    pattern = caption_pattern() if target == "shapes" else free_pattern()
    frames = ' ", " '.join(["frame"] * num_frames)
    return (f'start: "[" {frames} "]"\n'
            f'frame: "\\"" TEXT "\\""\n'
            f"TEXT: /{pattern}/\n")


def frames_schema(num_frames: int, target: str | None = "shapes") -> dict:
    """JSON schema of ``{"frames": [...]}`` with exactly ``num_frames`` strings (OpenAI ``response_format``)."""
    _check_frames(num_frames)
    item = {"type": "string"}
    if target == "shapes":
        item["pattern"] = f"^{caption_pattern()}$"
    return {"type": "object", "additionalProperties": False, "required": ["frames"],
            "properties": {"frames": {"type": "array", "items": item,
                                      "minItems": num_frames, "maxItems": num_frames}}}


def response_format(num_frames: int, target: str | None = "shapes") -> dict:
    """The OpenAI chat-completions ``response_format`` that asks for :func:`frames_schema`."""
    return {"type": "json_schema",
            "json_schema": {"name": "frames", "strict": True, "schema": frames_schema(num_frames, target)}}


def llguidance_tokenizer(tokenizer):
    """llguidance's view of a fast Hugging Face tokenizer (about 1 s; keep it)."""
    try:
        import llguidance.hf
    except ImportError as err:
        raise DirectorError("constrained decoding needs the llguidance package: "
                            "pip install 'direct2v[llm]' (or pass constrained=False)") from err
    try:
        return llguidance.hf.from_tokenizer(tokenizer)
    except ValueError as err:
        raise DirectorError(f"constrained decoding needs a fast tokenizer: {err}") from err


class GrammarLogitsProcessor:
    """A transformers logits processor: tokens the grammar forbids get ``-inf`` (batch of one).

    At its first call it records where the prompt ends; at every later call it first feeds the
    token just chosen to the grammar's matcher, then masks the logits with the matcher's bitmask.
    When the grammar is complete the mask allows only the end-of-sequence token.
    """

    def __init__(self, lltokenizer, grammar: str):
        import llguidance

        self.matcher = llguidance.LLMatcher(lltokenizer, grammar)
        if self.matcher.is_error():
            raise DirectorError(f"the grammar does not compile: {self.matcher.get_error()}")
        self._prompt_length: int | None = None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if input_ids.shape[0] != 1:
            raise ValueError(f"constrained decoding takes one sequence at a time, got a batch of {input_ids.shape[0]}")
        if self._prompt_length is None:
            self._prompt_length = input_ids.shape[1]
        elif not self.matcher.consume_token(int(input_ids[0, -1])):
            raise DirectorError(f"the model left the grammar: {self.matcher.get_error()}")
        allowed = self.allowed(scores.shape[-1])
        return scores.masked_fill(~torch.from_numpy(allowed).to(scores.device), float("-inf"))

    def allowed(self, vocab_size: int) -> np.ndarray:
        """Bool mask over the first ``vocab_size`` token ids: which may come next."""
        bits = np.unpackbits(np.frombuffer(self.matcher.compute_bitmask(), dtype=np.uint8), bitorder="little")
        allowed = np.zeros(vocab_size, dtype=bool)
        n = min(vocab_size, bits.size)
        allowed[:n] = bits[:n].astype(bool)
        return allowed
