"""The one optimisation loop (direct2v.training): hooks called when they should be, and it optimises."""
import torch

from direct2v.training import Hooks, optimize


def test_optimize_calls_its_hooks_and_reduces_the_loss():
    w = torch.nn.Parameter(torch.tensor([3.0, -2.0]))
    opt = torch.optim.AdamW([w], lr=0.1, weight_decay=0.0)
    lrs, saves, after = [], [], []

    def lr(step):
        lrs.append(step)
        return 0.1

    losses = optimize(opt, [w], lambda step: (w ** 2).sum(), steps=10, start=2, save_every=4, progress=False,
                      hooks=Hooks(lr=lr, after_step=lambda: after.append(1), save=saves.append), losses=[99.0])
    assert lrs == list(range(2, 10)) and len(after) == 8
    assert saves == [4, 8, 10]           # every save_every steps counted from 0, and after the last
    assert losses[0] == 99.0 and len(losses) == 9 and losses[-1] < losses[1]


def test_optimize_clips_the_gradient_norm_at_one():
    w = torch.nn.Parameter(torch.zeros(4))
    opt = torch.optim.SGD([w], lr=1.0)
    optimize(opt, [w], lambda step: (1000.0 * w).sum(), steps=1, hooks=Hooks(lr=lambda step: 1.0), progress=False)
    assert torch.allclose(w.detach().norm(), torch.tensor(1.0))
