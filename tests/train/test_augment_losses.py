import torch

from masquerade.train.augment import AugmentSettings, augment, sample_indices
from masquerade.train.config import lr_at
from masquerade.train.losses import LossWeights, reconstruction_loss, ssim


def _pixels(n=6, s=32):
    g = torch.Generator().manual_seed(0)
    px = (torch.rand(n, 5, s, s, generator=g) * 255).to(torch.uint8)
    px[:, 3] = 255
    return px


def test_augment_is_reproducible_from_the_generator_state():
    px = _pixels()
    g = torch.Generator().manual_seed(7)
    state = g.get_state()
    first = augment(px, g)
    g.set_state(state)
    second = augment(px, g)
    assert torch.equal(first.inputs, second.inputs) and torch.equal(first.targets, second.targets)
    third = augment(px, g)
    assert not torch.equal(first.inputs, third.inputs)


def test_random_warp_bends_the_input_but_not_the_target():
    px = _pixels()
    g = torch.Generator().manual_seed(1)
    state = g.get_state()
    warped = augment(px, g, AugmentSettings(warp=True))
    g.set_state(state)
    plain = augment(px, g, AugmentSettings(warp=False))
    assert torch.equal(warped.targets, plain.targets)
    assert torch.equal(plain.inputs, plain.targets)
    assert (warped.inputs - warped.targets).abs().mean() > 0.01
    assert warped.inputs.shape == (6, 3, 32, 32) and warped.masks.shape == (6, 1, 32, 32)
    assert 0 <= float(warped.inputs.min()) and float(warped.inputs.max()) <= 1


def test_sample_indices_draws_distinct_faces_within_a_batch():
    g = torch.Generator().manual_seed(0)
    idx = sample_indices(10, 8, g)
    assert len(set(idx.tolist())) == 8
    assert sample_indices(3, 8, g).shape == (8,)


def test_ssim_and_loss_are_zero_for_a_perfect_reconstruction():
    x = torch.rand(2, 3, 32, 32)
    assert torch.allclose(ssim(x, x), torch.ones(2))
    mask = torch.ones(2, 1, 32, 32)
    prio = torch.zeros(2, 1, 32, 32)
    assert float(reconstruction_loss(x, mask, x, mask, prio, LossWeights())) < 1e-6


def test_the_banded_blur_is_the_zero_padded_separable_convolution():
    """SSIM's blur as two banded matrix products (the CPU's fast path) equals the depthwise convolutions it
    replaced, forward and backward, also for a lopsided kernel (orientation) and a non-square image."""
    import torch.nn.functional as F

    from masquerade.train.losses import _blur

    g = torch.tensor([0.1, 0.5, 0.3, 0.07, 0.03])
    x = torch.rand(2, 3, 20, 33, requires_grad=True)
    ref_x = x.detach().clone().requires_grad_()
    c, k = 3, g.numel()
    ref = F.conv2d(ref_x, g.view(1, 1, 1, k).expand(c, 1, 1, k), padding=(0, k // 2), groups=c)
    ref = F.conv2d(ref, g.view(1, 1, k, 1).expand(c, 1, k, 1), padding=(k // 2, 0), groups=c)
    ours = _blur(x, g)
    torch.testing.assert_close(ours, ref)
    w = torch.rand_like(ref)
    (ours * w).sum().backward()
    (ref * w).sum().backward()
    torch.testing.assert_close(x.grad, ref_x.grad)


def test_errors_in_eyes_and_mouth_cost_more_and_errors_outside_the_mask_cost_little():
    target = torch.full((1, 3, 32, 32), 0.5)
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., 8:24, 8:24] = 1
    prio = torch.zeros_like(mask)
    prio[..., 10:14, 10:14] = 1
    w = LossWeights(ssim=0.0, mask=0.0, eye_mouth=3.0, background=0.0)
    in_eye, in_cheek, outside = target.clone(), target.clone(), target.clone()
    in_eye[..., 10:14, 10:14] = 1.0
    in_cheek[..., 18:22, 18:22] = 1.0
    outside[..., 0:4, 0:4] = 1.0
    loss = lambda pred: float(reconstruction_loss(pred, mask, target, mask, prio, w))  # noqa: E731
    assert loss(in_eye) > 2.5 * loss(in_cheek) > 0
    assert loss(outside) == 0
    w = LossWeights(ssim=0.0, mask=0.0, eye_mouth=3.0, background=0.25)
    assert 0 < loss(outside) < loss(in_cheek)


def test_lr_schedule_warms_up_then_decays():
    assert lr_at(0, 1.0, "cosine", 10, 100) == 0.1
    assert lr_at(10, 1.0, "cosine", 10, 100) == 1.0
    assert lr_at(99, 1.0, "cosine", 10, 100) < 0.06
    assert lr_at(99, 1.0, "constant", 10, 100) == 1.0
    assert lr_at(5000, 1.0, "cosine", 10, None) == 1.0


def test_ssim_builds_its_gaussian_matrices_once_and_they_serve_training_after_inference():
    """The banded matrices are cached per (side, window, device, dtype): a loss call builds nothing new, and
    matrices first built under inference mode (a preview's score) still let training backpropagate."""
    from masquerade.train import losses

    losses._gauss.cache_clear()
    losses._gauss_band.cache_clear()
    x, y = torch.rand(2, 3, 24, 40), torch.rand(2, 3, 24, 40)
    with torch.inference_mode():
        scored = ssim(x, y)
    built = losses._gauss_band.cache_info().currsize
    assert built == 2  # one per side: 24 and 40
    x.requires_grad_()
    again = ssim(x, y)
    again.sum().backward()  # would raise if the cached matrices were inference tensors
    assert losses._gauss_band.cache_info().currsize == built and losses._gauss_band.cache_info().hits >= 8
    torch.testing.assert_close(again.detach(), scored, rtol=0, atol=0)
    assert x.grad is not None and torch.isfinite(x.grad).all()
