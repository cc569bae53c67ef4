import cv2
import numpy as np
import pytest

from masquerade.convert.color import color, hist, none, rct


def _texture(seed: int, mean, spread, size=256) -> np.ndarray:
    """Smooth random RGB texture with roughly the given per-channel mean and spread."""
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.normal(0, 1, (size, size, 3)).astype(np.float32), (0, 0), 4)
    noise /= noise.std(axis=(0, 1))
    return np.clip(np.asarray(mean) + np.asarray(spread) * noise, 0, 255).astype(np.uint8)


@pytest.fixture
def faces():
    source = _texture(0, (170, 120, 100), (25, 20, 18))  # warm, bright model output
    target = _texture(1, (90, 100, 140), (12, 15, 30))  # dim, bluish original face
    mask = np.zeros((256, 256), np.float32)
    cv2.circle(mask, (128, 128), 100, 1.0, -1)
    target[mask < 0.5] = (0, 255, 0)  # background that must not leak into the statistics
    return source, target, mask


def _lab_stats(image, mask):
    lab = cv2.cvtColor(image.astype(np.float32) / 255, cv2.COLOR_RGB2Lab)[mask >= 0.5]
    return lab.mean(0), lab.std(0)


def test_rct_matches_masked_lab_mean_and_std(faces):
    source, target, mask = faces
    out = rct(source, target, mask)
    assert out.dtype == np.uint8 and out.shape == source.shape
    mu_t, sd_t = _lab_stats(target, mask)
    mu_s, sd_s = _lab_stats(source, mask)
    mu_o, sd_o = _lab_stats(out, mask)
    assert np.abs(mu_s - mu_t).max() > 10 and np.abs(sd_s - sd_t).max() > 3  # the input did not match
    assert np.abs(mu_o - mu_t).max() < 1.0  # < half a just-noticeable difference; gamut clipping costs a little
    assert np.abs(sd_o - sd_t).max() < 1.0


def _cdfs(image, mask):
    return [np.cumsum(np.bincount(image[..., c][mask >= 0.5], minlength=256)) / (mask >= 0.5).sum()
            for c in range(3)]


def test_hist_matches_masked_histograms(faces):
    source, target, mask = faces
    out = hist(source, target, mask)
    ks = lambda a, b: max(np.abs(x - y).max() for x, y in zip(_cdfs(a, mask), _cdfs(b, mask)))  # noqa: E731
    assert ks(source, target) > 0.5
    assert ks(out, target) < 0.03


def test_none_returns_the_input_unchanged(faces):
    source, target, mask = faces
    out = color["none"](source, target, mask)
    assert np.array_equal(out, source) and out is not source


@pytest.mark.parametrize("name", ["rct", "hist"])
def test_outside_the_mask_rule(faces, name):
    """Stats come from inside the mask only; the transform then applies to every source pixel alike."""
    source, target, mask = faces
    match = color[name]
    out = match(source, target, mask)
    other = target.copy()
    other[mask < 0.5] = (255, 0, 255)  # a different background in the original frame changes nothing
    assert np.array_equal(match(source, other, mask), out)
    # the same source colour inside and outside the mask gets the same new colour (no seam in the feather)
    probe = source.copy()
    probe[0:20, 0:20] = source[118:138, 118:138]
    out2 = match(probe, target, mask)
    assert np.array_equal(out2[0:20, 0:20], out2[118:138, 118:138])
    assert not np.array_equal(out2[0:20, 0:20], probe[0:20, 0:20])  # it was recoloured


@pytest.mark.parametrize("name", ["rct", "hist"])
def test_mask_formats_and_empty_mask(faces, name):
    source, target, mask = faces
    match = color[name]
    assert np.array_equal(match(source, target, mask), match(source, target, (mask * 255).astype(np.uint8)))
    assert np.array_equal(match(source, target, np.zeros_like(mask)), source)
    with pytest.raises(ValueError):
        match(source, target[:128], mask)
