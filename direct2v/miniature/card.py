"""The model card (``README.md``) of the shipped miniature model, written from its own records.

Two files in the weights folder feed it: ``training_log.json`` (every training run, appended by
``direct2v.miniature.train``) and ``evaluation.json`` (written by ``direct2v.miniature.quality``).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from ..runtime import atomic_path

INTRO = """# shapes-mini: a miniature Stable Diffusion of the shapes world

Trained from scratch by `python -m direct2v.miniature.train` on images rendered on the fly by
`direct2v.world.render` (the world of `shapes_world.md`). A standard diffusers
`StableDiffusionPipeline` folder: 64x64 RGB images, 16x16x4 latents, a word-level tokenizer,
a small CLIP whose text tower conditions the UNet, a PNDM scheduler. `clip/` holds the whole
contrastive model for CLIP-score metrics. Weights are stored in fp16.

Resuming: `python -m direct2v.miniature.train PART --out direct2v/miniature/weights` continues from these
weights (the optimizer state lives in `.train/`, which is not committed).
"""


def write_model_card(folder: str | os.PathLike) -> Path:
    folder = Path(folder)
    lines = [INTRO, "## Training runs", "",
             "| part | steps (total) | batch | lr | seconds | device | threads | final loss | date | note |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    log = folder / "training_log.json"
    runs = json.loads(log.read_text()) if log.exists() else []
    for r in runs:
        lines.append(f"| {r['part']} | {r['steps']} ({r['total_steps']}) | {r['batch']} | {r['lr']:g} | {r['seconds']} | "
                     f"{r['device']} | {r.get('torch_threads', '')} | {r['final_loss']} | {r['date']} | {r.get('note', '')} |")
    total = sum(r["seconds"] for r in runs)
    lines += ["", f"Total training time: {total / 60:.1f} minutes.", ""]
    evaluation = folder / "evaluation.json"
    if evaluation.exists():
        result = json.loads(evaluation.read_text())
        command = f"Command: `{result['command']}` (guidance {result.get('guidance')}, {result.get('steps')} steps)"
        lines += ["## Quality, measured", "", command, "", result["markdown"], ""]
    else:
        lines += ["## Quality, measured", "", "Not evaluated yet: run `python -m direct2v.miniature.quality`.", ""]
    notes = folder / "notes.md"  # hand-written findings about this model, kept beside the records
    if notes.exists():
        lines += [notes.read_text().strip(), ""]
    path = folder / "README.md"
    with atomic_path(path) as tmp:
        Path(tmp).write_text("\n".join(lines))
    return path
