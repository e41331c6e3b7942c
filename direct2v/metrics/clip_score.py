"""CLIP score, Avg. Dist. and CLIP-Temp.

* CLIP score of a frame x and a text p (EvalCrafter; the CS236 report, section 4):
  ``100 * max(cos(E_img(x), E_txt(p)), 0)``, in [0, 100]. DirecT2V's Table 1 prints the raw
  cosine (0.31 there is 31 here); each frame is scored against its own frame-level prompt.
* Avg. Dist. (Table 1): (1/F) * sum over f = 1..F of |m_1 - m_f|, on the table's per-frame
  *mean* scores m_f (the mean over videos first); this reproduces the paper's four printed values.
  A method that follows only its first prompt scores well on frame 1 and worse on the rest: a
  large Avg. Dist. :func:`video_avg_dist` is the same distance inside one video (our per-video
  column), which is not the paper's statistic.
* CLIP-Temp (the report): the mean cosine of adjacent frames' image embeddings; 1 for a still video.

:class:`CLIPScorer` wraps a transformers ``CLIPModel``: the shapes world's miniature CLIP (64 x 64
images scaled to [-1, 1], no CLIP normalisation, a word-level tokenizer padded to 48 tokens) or any
CLIP checkpoint with its ``CLIPProcessor``. The miniature is recognised by its vision tower's
``image_size`` of 64.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ..runtime import pick_device
from ..settings import MODELS
from ..video import as_frames, frames_to_tensor

MINIATURE_IMAGE_SIZE = 64


def avg_dist(scores) -> float:
    """Table 1's Avg. Dist.: (1/F) * sum over f = 1..F of |m_1 - m_f| (the f = 1 term is 0).

    ``scores``: the per-frame mean scores m (F,), or per-video per-frame scores (videos, F), whose mean
    over videos is taken first (NaNs ignored), as the paper's table does.
    """
    s = np.asarray(scores, dtype=float)
    if s.ndim == 2:
        s = np.nanmean(s, axis=0)
    if s.ndim != 1 or s.size < 2:
        raise ValueError(f"scores of shape {np.shape(scores)} are not allowed; use (F,) per-frame means or "
                         "(videos, F) with at least 2 frames")
    return float(np.abs(s[0] - s).mean())


def video_avg_dist(scores) -> float:
    """Inside one video: the mean |s_f - s_1| over frames f = 2..F (not the paper's statistic, which is
    :func:`avg_dist` on the mean over videos)."""
    s = np.asarray(scores, dtype=float).ravel()
    if s.size < 2:
        raise ValueError(f"scores of {s.size} frame(s) are not allowed; the distance needs at least 2 frames")
    return float(np.abs(s[1:] - s[0]).mean())


def clip_temp(image_embeds) -> np.ndarray:
    """Cosine similarity of adjacent frames' image embeddings, shape (F - 1,); CLIP-Temp is its mean."""
    e = torch.as_tensor(np.asarray(image_embeds), dtype=torch.float32)
    if e.ndim != 2 or e.shape[0] < 2:
        raise ValueError(f"image_embeds of shape {tuple(e.shape)} are not allowed; use (F, D) with F >= 2")
    e = torch.nn.functional.normalize(e, dim=-1)
    return (e[1:] * e[:-1]).sum(-1).numpy()


class CLIPScorer:
    """Image and text embeddings of a CLIP model, and the scores built on them.

    ``CLIPScorer.from_pretrained("shapes")`` loads the miniature (``clip/`` with ``tokenizer/`` of
    :data:`direct2v.settings.SHAPES_WEIGHTS`); any other folder or hub id loads ``CLIPModel`` and ``CLIPProcessor``
    from it (``tokenizer=`` overrides the text side).
    """

    def __init__(self, model, tokenizer=None, processor=None, device=None):
        self.device = pick_device(device)
        self.model = model.to(self.device, torch.float32).eval()
        self.image_size = int(model.config.vision_config.image_size)
        self.miniature = self.image_size == MINIATURE_IMAGE_SIZE
        if tokenizer is None and processor is None:
            raise ValueError("give a tokenizer (the miniature CLIP) or a CLIPProcessor (any other CLIP)")
        if not self.miniature and processor is None:
            raise ValueError(f"a CLIP with image_size={self.image_size} needs its CLIPProcessor (processor=...)")
        self.tokenizer = tokenizer if tokenizer is not None else processor.tokenizer
        self.processor = processor
        self.max_length = min(int(model.config.text_config.max_position_embeddings),
                              int(getattr(self.tokenizer, "model_max_length", 10 ** 6)))

    def __repr__(self) -> str:
        kind = "miniature" if self.miniature else "CLIP"
        return f"CLIPScorer({kind}, image_size={self.image_size}, device={self.device})"

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike = "shapes", tokenizer=None, device=None):
        """Load ``"shapes"`` (the miniature's ``clip/`` and ``tokenizer/``), a folder or a hub id.

        ``tokenizer``: a tokenizer or a folder to load one from with ``AutoTokenizer``; for the
        miniature it defaults to the ``tokenizer/`` folder beside ``clip/``.
        """
        from transformers import AutoTokenizer, CLIPModel

        path = MODELS[str(name_or_path)] / "clip" if str(name_or_path) in MODELS else name_or_path
        model = CLIPModel.from_pretrained(path, dtype=torch.float32)
        if isinstance(tokenizer, (str, os.PathLike)):
            tokenizer = AutoTokenizer.from_pretrained(tokenizer)
        processor = None
        if int(model.config.vision_config.image_size) == MINIATURE_IMAGE_SIZE:
            if tokenizer is None:
                sibling = Path(path).parent / "tokenizer"
                if not sibling.is_dir():
                    raise ValueError(f"tokenizer=None: no tokenizer folder beside {path}; pass tokenizer=FOLDER")
                tokenizer = AutoTokenizer.from_pretrained(sibling)
        else:
            from transformers import CLIPProcessor
            processor = CLIPProcessor.from_pretrained(path)
        return cls(model, tokenizer=tokenizer, processor=processor, device=device)

    # ------------------------------------------------------------------ embeddings
    def _pixels(self, video: np.ndarray) -> torch.Tensor:
        if self.processor is not None:
            return self.processor(images=list(video), return_tensors="pt").pixel_values
        x = frames_to_tensor(video)  # the miniature was trained on images / 127.5 - 1
        if x.shape[-1] != self.image_size or x.shape[-2] != self.image_size:
            x = torch.nn.functional.interpolate(x, size=(self.image_size,) * 2, mode="area")
        return x

    @torch.no_grad()
    def embed_images(self, frames, batch_size: int = 64) -> torch.Tensor:
        """Unit-norm image embeddings (F, D) of a video or a list of images (CPU tensor)."""
        video = as_frames(frames)
        out = []
        for i in range(0, len(video), batch_size):
            pixels = self._pixels(video[i:i + batch_size]).to(self.device)
            out.append(_features(self.model.get_image_features(pixel_values=pixels)))
        return torch.nn.functional.normalize(torch.cat(out).float(), dim=-1).cpu()

    @torch.no_grad()
    def embed_texts(self, texts, batch_size: int = 64) -> torch.Tensor:
        """Unit-norm text embeddings (N, D) (CPU tensor)."""
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts) or not len(texts):
            raise ValueError(f"texts={texts!r} is not allowed; use a non-empty list of strings")
        out = []
        for i in range(0, len(texts), batch_size):
            ids = self.tokenizer(list(texts[i:i + batch_size]), padding="max_length", max_length=self.max_length,
                                 truncation=True, return_tensors="pt")
            out.append(_features(self.model.get_text_features(input_ids=ids.input_ids.to(self.device),
                                                              attention_mask=ids.attention_mask.to(self.device))))
        return torch.nn.functional.normalize(torch.cat(out).float(), dim=-1).cpu()

    # ------------------------------------------------------------------ scores
    def scores(self, frames, prompts) -> np.ndarray:
        """CLIP score (0-100) of frame f against ``prompts[f]`` (or one string for every frame), shape (F,)."""
        video = as_frames(frames)
        if isinstance(prompts, str):
            prompts = [prompts] * len(video)
        if len(prompts) != len(video):
            raise ValueError(f"{len(prompts)} prompts for {len(video)} frames; give one per frame or one string")
        return self.scores_from_embeddings(self.embed_images(video), self.embed_texts(list(prompts)))

    @staticmethod
    def scores_from_embeddings(image_embeds, text_embeds) -> np.ndarray:
        """100 * max(cos, 0) of matching rows (text rows broadcast when there is one)."""
        cos = (torch.as_tensor(image_embeds) * torch.as_tensor(text_embeds)).sum(-1)
        return (100 * cos.clamp(min=0)).numpy()

    def clip_temp(self, frames) -> float:
        """CLIP-Temp of a video: mean cosine of adjacent frames' image embeddings (1 for a still video)."""
        return float(clip_temp(self.embed_images(frames)).mean())


def _features(out) -> torch.Tensor:
    """transformers 5 may return a model output instead of a tensor from ``get_*_features``."""
    if isinstance(out, torch.Tensor):
        return out
    return out.pooler_output if getattr(out, "pooler_output", None) is not None else out[0]
