"""Initial-noise samplers and motion dynamics (direct2v.noise)."""
import math

import pytest
import torch
from diffusers.utils.torch_utils import randn_tensor

from direct2v import noise

SHAPE = (4, 64, 64)  # 16384 values per frame: correlations to about +-0.01


def corr(x, y):
    x, y = x.flatten().double(), y.flatten().double()
    return float(((x - x.mean()) * (y - y.mean())).mean() / (x.std() * y.std()))


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_random_noise_unit_variance_and_independent():
    eps = noise.random_noise(4, SHAPE, gen())
    assert eps.shape == (4, *SHAPE)
    for f in range(4):
        assert abs(eps[f].var().item() - 1) < 0.05
    assert abs(corr(eps[0], eps[1])) < 0.04
    assert torch.equal(eps, noise.random_noise(4, SHAPE, gen()))


@pytest.mark.parametrize("a", [0.3, 0.5, 0.8])
def test_shared_noise_unit_variance_and_correlation(a):
    eps = noise.shared_noise(5, SHAPE, a, gen(1))
    rho = a * a / (a * a + (1 - a) ** 2)
    for f in range(5):
        assert abs(eps[f].var().item() - 1) < 0.05
    for f, g in [(0, 1), (0, 4), (2, 3)]:
        assert abs(corr(eps[f], eps[g]) - rho) < 0.04


def test_shared_noise_unnormalised_is_the_report_formula():
    a = 0.3
    g = gen(2)
    common = randn_tensor((1, *SHAPE), generator=g)
    own = randn_tensor((3, *SHAPE), generator=g)
    report = a * common + (1 - a) * own
    raw = noise.shared_noise(3, SHAPE, a, gen(2), normalize=False)
    torch.testing.assert_close(raw, report)
    torch.testing.assert_close(noise.shared_noise(3, SHAPE, a, gen(2)), report / math.sqrt(a * a + (1 - a) ** 2))
    assert abs(raw[0].var().item() - (a * a + (1 - a) ** 2)) < 0.05  # the report's variance is below 1


@pytest.mark.parametrize("a", [0.5, 0.8])
def test_autoregressive_noise_unit_variance_and_ar1_correlation(a):
    eps = noise.autoregressive_noise(6, SHAPE, a, gen(3))
    rho = a / math.sqrt(a * a + (1 - a) ** 2)
    for f in range(6):
        assert abs(eps[f].var().item() - 1) < 0.05
    for lag in (1, 2, 3):
        assert abs(corr(eps[1], eps[1 + lag]) - rho ** lag) < 0.04


def test_autoregressive_unnormalised_is_the_report_recursion():
    a = 0.6
    own = randn_tensor((4, *SHAPE), generator=gen(4))
    expected = [own[0]]
    for i in range(1, 4):
        expected.append(a * expected[-1] + (1 - a) * own[i])
    raw = noise.autoregressive_noise(4, SHAPE, a, gen(4), normalize=False)
    torch.testing.assert_close(raw, torch.stack(expected))
    assert raw[3].var().item() < 0.8  # decays towards (1 - a) / (1 + a) = 0.25


def test_sample_noise_dispatch_and_errors():
    torch.testing.assert_close(noise.sample_noise("shared", 3, SHAPE, 0.4, gen(5)),
                               noise.shared_noise(3, SHAPE, 0.4, gen(5)))
    with pytest.raises(ValueError, match="kind='pink'"):
        noise.sample_noise("pink", 3, SHAPE)
    with pytest.raises(ValueError, match="weight=1.5"):
        noise.shared_noise(3, SHAPE, 1.5)
    with pytest.raises(ValueError, match="num_frames=0"):
        noise.autoregressive_noise(0, SHAPE, 0.5)


def test_translation_matches_text2video_zero_at_512():
    from diffusers.pipelines.deprecated.text_to_video_synthesis.pipeline_text_to_video_zero import (
        create_motion_field_and_warp_latents)

    x = torch.randn(3, 4, 64, 64, generator=gen(6))
    for sx, sy in [(12, 12), (5.5, -30)]:
        expected = create_motion_field_and_warp_latents(sx, sy, [1, 2, 5], x)
        torch.testing.assert_close(noise.translate_latents(x, sx, sy, [1, 2, 5], (512, 512)), expected)


def test_translation_scales_with_the_image_size():
    # a 64-pixel image over an 8x8 latent: 8 pixels per frame is one latent cell per frame
    x = torch.randn(3, 4, 8, 8, generator=gen(7))
    y = noise.translate_latents(x, 8.0, 0.0, [0, 1, 2], image_size=(64, 64))
    torch.testing.assert_close(y[0], x[0])
    torch.testing.assert_close(y[1][..., :7], x[1][..., 1:])
    torch.testing.assert_close(y[2][..., :6], x[2][..., 2:])
    torch.testing.assert_close(noise.translate_latents(x, 0, 0), x)
