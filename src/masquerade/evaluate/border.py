"""Colour seam at the edge of a pasted face: does the face's skin match the skin of the frame around it?

A swap whose face is a shade more orange than the neck, or whose forehead is lighter than the skin above
it, shows a line at the paste border even when every other measure is good. Measured on a frame pair:

- the border is the source face's landmark hull (where convert pastes: hull ∩ the model's mask, feathered);
- two rings follow it, one inside (`INSIDE` of the face width in from the edge, past the paste's feather) and
  one outside (`OUTSIDE`), so each side shows only one image's colours;
- only pixels that are skin in the *source* frame count (within `SKIN_DE` of the inner ring's median colour):
  hair, background, glasses and shadowed gaps are not the seam, and the same pixels are read in both frames;
- around the face, in `SECTORS` angular sectors, the mean Lab colour of each ring; the median over sectors
  with enough skin on both sides.

The skin itself changes across that band (light falls off toward a cheek's edge; 5-8 CIEDE2000 on the real
clips), so the seam is read against it: in each sector, the output's inner ring against its outer ring plus
the source's own inner-minus-outer difference (what the inner ring would be if the output's skin continued
as the source's does). Identical frames read 0; a face a shade more orange than the skin around it reads
that shade. The raw difference across the band is returned too, for the output and for the source.
"""

from __future__ import annotations

import numpy as np

from ..faces.masks import hull_mask

INSIDE = (0.08, 0.14)  # inner ring, share of the face width in from the hull (the paste feathers ~0.08 in)
OUTSIDE = (0.04, 0.10)  # outer ring, out from the hull (the feather reaches ~0.04 out)
SECTORS = 12
SKIN_DE = 20.0  # a source pixel within this Lab distance (CIE76) of the inner ring's median colour is skin
MIN_PIXELS = 12  # per ring and sector
NAN = (float("nan"),) * 3


def border_colour(source: np.ndarray, output: np.ndarray, landmarks: np.ndarray) -> tuple[float, float, float]:
    """(seam, raw output, raw source) median CIEDE2000 across the face border of one frame pair (RGB uint8
    H×W×3, the source face's 478×2 frame landmarks); NaN where no sector has skin on both sides."""
    import cv2
    from skimage.color import deltaE_ciede2000

    h, w = source.shape[:2]
    width = float(np.ptp(landmarks[:, 0]))
    if not np.isfinite(width) or width < 8:
        return NAN
    pad = int(OUTSIDE[1] * width) + 2
    x0, y0 = (max(0, int(v) - pad) for v in landmarks.min(0))
    x1, y1 = min(w, int(landmarks[:, 0].max()) + pad + 1), min(h, int(landmarks[:, 1].max()) + pad + 1)
    if x1 - x0 < 8 or y1 - y0 < 8:
        return NAN
    hull = hull_mask(landmarks - (x0, y0), max(x1 - x0, y1 - y0))[: y1 - y0, : x1 - x0] > 127
    d_in = cv2.distanceTransform(hull.astype(np.uint8), cv2.DIST_L2, 5) / width
    d_out = cv2.distanceTransform((~hull).astype(np.uint8), cv2.DIST_L2, 5) / width
    inner = hull & (d_in > INSIDE[0]) & (d_in <= INSIDE[1])
    outer = ~hull & (d_out > OUTSIDE[0]) & (d_out <= OUTSIDE[1])
    lab = {k: cv2.cvtColor(img[y0:y1, x0:x1].astype(np.float32) / 255, cv2.COLOR_RGB2Lab)
           for k, img in (("source", source), ("output", output))}
    if not inner.any():
        return NAN
    skin = np.linalg.norm(lab["source"] - np.median(lab["source"][inner], 0), axis=-1) < SKIN_DE
    yy, xx = np.mgrid[y0:y1, x0:x1]
    cx, cy = landmarks.mean(0)
    sector = ((np.arctan2(yy - cy, xx - cx) + np.pi) / (2 * np.pi) * SECTORS).astype(int) % SECTORS
    pairs = {"output": [], "source": []}
    for s in range(SECTORS):
        a, b = inner & skin & (sector == s), outer & skin & (sector == s)
        if a.sum() < MIN_PIXELS or b.sum() < MIN_PIXELS:
            continue
        for k, img in lab.items():
            pairs[k].append((img[a].mean(0), img[b].mean(0)))
    if not pairs["output"]:
        return NAN
    (o_in, o_out), (s_in, s_out) = (map(np.array, zip(*pairs[k])) for k in ("output", "source"))
    seam = deltaE_ciede2000(o_in, o_out + (s_in - s_out))
    return (float(np.median(seam)), float(np.median(deltaE_ciede2000(o_in, o_out))),
            float(np.median(deltaE_ciede2000(s_in, s_out))))
