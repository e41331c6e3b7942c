"""Token grounding: make every text-token state say what its words say, position included.

Stable Diffusion's UNet reads the prompt only through the per-token states of the CLIP text tower
(cross-attention, paper Sec. 3.1). A contrastive CLIP learns only what separates the images of a
batch: in the shapes world colour, shape and background already do, so the first miniature CLIP
left its token states almost unchanged by position words ("top far left" against "bottom far
right": largest state change 0.4, against about 3 for a colour change), and the UNet trained on
those states put objects anywhere. CLIP's web-scale data teach the real text tower such words; our
128-scene batches do not.

The remedy here is an auxiliary loss while CLIP trains: small linear heads read each token's state
and must name the attributes its object phrase has stated *so far* (the text tower is causal, so a
token cannot know words after it), and the background once it is named. The heads are discarded
after training; the text tower, still trained contrastively, keeps the information.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..world.captions import SEPARATORS, caption, parse_object, training_caption
from ..world.world import BACKGROUNDS, COLORS, COLUMNS, ROWS, SHAPES, SIZES, random_scene
from .model import SPECIAL_TOKENS

ATTRIBUTES = {"color": tuple(COLORS), "shape": SHAPES, "size": tuple(SIZES), "column": tuple(COLUMNS),
              "row": tuple(ROWS), "background": tuple(BACKGROUNDS)}
IGNORE = -100
_FRAMING = {SPECIAL_TOKENS[k] for k in ("bos", "eos", "pad")}


def token_targets(tokens: list[str]) -> dict[str, list[int]]:
    """Class index per token and attribute (``IGNORE`` where not yet stated), for one token sequence.

    >>> t = token_targets(["<|startoftext|>", "a", "red", "circle", "at", "the", "top", "left"])
    >>> [ATTRIBUTES["row"][i] if i >= 0 else None for i in t["row"]]
    [None, None, None, None, None, None, 'top', 'top']
    """
    out = {a: [] for a in ATTRIBUTES}
    part: list[str] = []
    background = None
    for tok in tokens:
        framing = tok in _FRAMING
        if tok in BACKGROUNDS:
            background, part = tok, []
        elif tok in SEPARATORS or tok == "background":
            part = []
        elif not framing:
            part.append(tok)
        obj = None if framing or not part else parse_object(part)
        for attr, classes in ATTRIBUTES.items():
            if attr == "background":
                value = None if tok == SPECIAL_TOKENS["pad"] else background
            else:
                value = getattr(obj, attr, None)
            out[attr].append(classes.index(value) if value is not None else IGNORE)
    return out


def batch_targets(tokenizer, ids: torch.Tensor) -> dict[str, torch.Tensor]:
    """``token_targets`` for a batch of token ids (n, L), as long tensors of the same shape."""
    rows = [token_targets(tokenizer.convert_ids_to_tokens(r)) for r in ids.tolist()]
    return {a: torch.tensor([r[a] for r in rows], device=ids.device) for a in ATTRIBUTES}


class GroundingHeads(torch.nn.Module):
    """One linear classifier per attribute over the text tower's token states."""

    def __init__(self, width: int):
        super().__init__()
        self.heads = torch.nn.ModuleDict({a: torch.nn.Linear(width, len(c)) for a, c in ATTRIBUTES.items()})

    def loss(self, states: torch.Tensor, targets: dict[str, torch.Tensor]) -> torch.Tensor:
        """Mean over attributes of the token-level cross-entropy (ignored tokens excluded)."""
        losses = [F.cross_entropy(head(states).flatten(0, 1), targets[a].flatten(), ignore_index=IGNORE)
                  for a, head in self.heads.items() if (targets[a] != IGNORE).any()]
        return torch.stack(losses).mean()

    @torch.no_grad()
    def accuracy(self, states: torch.Tensor, targets: dict[str, torch.Tensor]) -> dict[str, float]:
        out = {}
        for a, head in self.heads.items():
            keep = targets[a] != IGNORE
            out[a] = float((head(states).argmax(-1)[keep] == targets[a][keep]).float().mean())
        return out


@torch.no_grad()
def _token_states(text_encoder, tokenizer, texts):
    ids = tokenizer(texts, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                    return_tensors="pt").input_ids.to(text_encoder.device)
    return text_encoder(ids)[0].float(), ids


def probe(text_encoder, tokenizer, steps: int = 200, seed: int = 0) -> dict[str, float]:
    """What a text encoder's token states tell the UNet, measured two ways.

    ``probe_<attribute>``: accuracy of fresh linear heads trained for ``steps`` steps on the frozen
    states (half canonical, half training captions), tested on 512 new canonical captions, token by
    token as :func:`token_targets` asks. ``position_over_colour``: how far the states move when
    "top far left" becomes "bottom far right", relative to when "red" becomes "blue" (largest
    per-token distance; near 0 means the UNet is not told where objects are).
    """
    base = "a large red circle at the top far left, night background"
    s = _token_states(text_encoder, tokenizer, [base, base.replace("top far left", "bottom far right"),
                                                base.replace("red", "blue")])[0]
    moved, recoloured = ((s[0] - s[i]).norm(dim=-1).max().item() for i in (1, 2))
    rng = np.random.default_rng(seed)
    heads = GroundingHeads(s.shape[-1]).to(s.device)
    opt = torch.optim.Adam(heads.parameters(), 3e-3)
    for _ in range(steps):
        scenes = [random_scene(rng) for _ in range(64)]
        texts = [caption(x) if rng.random() < 0.5 else training_caption(x, rng) for x in scenes]
        states, ids = _token_states(text_encoder, tokenizer, texts)
        with torch.enable_grad():
            loss = heads.loss(states, batch_targets(tokenizer, ids))
            opt.zero_grad()
            loss.backward()
            opt.step()
    states, ids = _token_states(text_encoder, tokenizer, [caption(random_scene(rng)) for _ in range(512)])
    accuracy = heads.accuracy(states, batch_targets(tokenizer, ids))
    return {**{f"probe_{a}": v for a, v in accuracy.items()}, "position_over_colour": moved / recoloured}
