"""The upscaler's batched degradation (`train.degrade`): its JPEG stand-in looks like the real codec, and the
degradation is reproducible, per image, and on the crops' own device."""

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from masquerade.samples import portrait
from masquerade.train.degrade import degrade_pair, jpeg_like, quant_tables
from masquerade.train.upscaler_config import Degradation


def _faces(n: int = 4, size: int = 64) -> torch.Tensor:
    """Real portraits and their mirror images (not noise: JPEG's loss depends on the picture), float [0, 1]."""
    pics = []
    for name in ("astronaut", "grace_hopper"):
        p = portrait(name)
        side = min(p.shape[:2])
        pics.append(cv2.resize(p[:side, :side], (size, size), interpolation=cv2.INTER_AREA))
    pics += [p[:, ::-1] for p in pics]
    return torch.from_numpy(np.stack((pics * n)[:n])).permute(0, 3, 1, 2).float() / 255


def _opencv_jpeg(x: torch.Tensor, quality: int) -> torch.Tensor:
    out = []
    for img in x:
        rgb = (img * 255).round().byte().permute(1, 2, 0).numpy()
        _, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
        out.append(torch.from_numpy(cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)))
    return torch.stack(out).permute(0, 3, 1, 2).float() / 255


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(10 * torch.log10(1 / ((a - b) ** 2).mean()))


@pytest.mark.parametrize("quality", [40, 70, 92])
def test_the_jpeg_stand_in_loses_what_the_codec_loses(quality):
    faces = _faces()
    clean = (faces * 255).round() / 255
    ours = jpeg_like(faces, torch.full((len(faces),), float(quality)))
    codec = _opencv_jpeg(faces, quality)
    assert torch.equal(ours, (ours * 255).round() / 255)  # 8-bit levels, as a decoded JPEG
    assert abs(_psnr(ours, clean) - _psnr(codec, clean)) < 1.5  # as much loss as the codec at this quality
    assert _psnr(ours, codec) > _psnr(codec, clean) + 2  # and the same loss: closer to the codec than to the input


def test_blocking_grows_as_quality_falls_and_each_image_keeps_its_own_quality():
    faces = _faces()
    clean = (faces * 255).round() / 255
    errors = [_psnr(jpeg_like(faces, torch.full((4,), q)), clean) for q in (20.0, 50.0, 90.0)]
    assert errors[0] < errors[1] < errors[2]
    mixed = jpeg_like(faces, torch.tensor([20.0, 90.0, 20.0, 90.0]))
    assert torch.equal(mixed[1], jpeg_like(faces[1:2], torch.tensor([90.0]))[0])
    assert torch.equal(mixed[2], jpeg_like(faces[2:3], torch.tensor([20.0]))[0])
    assert quant_tables(torch.tensor([50.0]), chroma=False)[0, 0, 0] == 16  # libjpeg's table at quality 50


def test_degradation_draws_on_the_generator_and_stays_on_the_crops_device():
    hr = (_faces(4, 128) * 255).round().byte()
    a = degrade_pair(hr, 32, torch.Generator().manual_seed(3))
    b = degrade_pair(hr, 32, torch.Generator().manual_seed(3))
    c = degrade_pair(hr, 32, torch.Generator().manual_seed(4))
    assert torch.equal(a[0], b[0]) and not torch.equal(a[0], c[0])
    assert a[0].device == hr.device and a[0].dtype == torch.float32
    only_jpeg = Degradation(blur_sigma=(0.0, 0.0), noise=0.0, jpeg_quality=(30, 30), color_gain=0.0, color_offset=0.0)
    many = hr.repeat(4, 1, 1, 1)
    lr, _ = degrade_pair(many, 32, torch.Generator().manual_seed(3), only_jpeg)
    area = F.interpolate(many.float() / 255, size=(32, 32), mode="area")
    untouched = [bool(torch.equal(lr[i], area[i])) for i in range(len(many))]
    assert 3 <= sum(untouched) <= 13  # about half the faces are compressed, each on its own draw
    for i in np.flatnonzero(~np.array(untouched)):
        assert torch.equal(lr[i], (lr[i] * 255).round() / 255) and (lr[i] - area[i]).abs().mean() > 0.002
