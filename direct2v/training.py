"""The one optimisation loop of the package: the miniature's parts (``direct2v.miniature.train``) and the
few-shot motion tuning (``direct2v.motion.train``) both run it.

A step is: set the learning rate of the step, compute the loss, back-propagate, clip the gradient norm
at 1, take an AdamW step. What differs between trainers (data, loss, learning-rate schedule, what is
saved and how) comes in as a loss function and :class:`Hooks`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from tqdm.auto import tqdm


@dataclass
class Hooks:
    """What a trainer adds to :func:`optimize`.

    ``lr(step)``: the learning rate of step ``step`` (0-based, counted over this run's ``steps``).
    ``after_step()``: after each optimizer step (for example an EMA update).
    ``save(done)``: every ``save_every`` steps and after the last, with the number of steps done.
    """

    lr: Callable[[int], float]
    after_step: Callable[[], None] | None = None
    save: Callable[[int], None] | None = None


def optimize(opt: torch.optim.Optimizer, params: list, loss_fn: Callable[[int], torch.Tensor], *, steps: int,
             hooks: Hooks, start: int = 0, save_every: int = 250, losses: list | None = None,
             desc: str = "train", progress: bool = True) -> list[float]:
    """Run steps ``start .. steps - 1`` of ``loss_fn(step)``; return the losses (``losses`` extended).

    The progress bar shows the mean loss of the last 50 steps.
    """
    losses = [] if losses is None else losses
    bar = tqdm(range(start, steps), initial=start, total=steps, desc=desc, disable=not progress, dynamic_ncols=True)
    for step in bar:
        for group in opt.param_groups:
            group["lr"] = hooks.lr(step)
        loss = loss_fn(step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if hooks.after_step is not None:
            hooks.after_step()
        losses.append(float(loss.detach()))
        if step % 10 == 0 or step + 1 == steps:
            recent = losses[-50:]
            bar.set_postfix(loss=f"{sum(recent) / len(recent):.4f}")
        if hooks.save is not None and ((step + 1) % save_every == 0 or step + 1 == steps):
            hooks.save(step + 1)
    return losses
