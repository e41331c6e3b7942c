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

import torch
import torch.nn.functional as F

from .captions import _SEPARATORS, _parse_object
from .model import SPECIAL_TOKENS
from .world import BACKGROUNDS, COLORS, COLUMNS, ROWS, SHAPES, SIZES

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
        elif tok in _SEPARATORS or tok == "background":
            part = []
        elif not framing:
            part.append(tok)
        obj = None if framing or not part else _parse_object(part)
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
