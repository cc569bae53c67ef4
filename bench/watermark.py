"""Watermark benchmark: every attack of `provenance.attacks` on real faces and generated clips. Prints one JSON.

Per attack and per frame source: bit accuracy of the payload (mean and worst over frames), the
detection rate, and false alarms when the same attack is applied to the *unmarked* frames. Also PSNR,
embed/decode time per 720p frame on one core, false alarms on 1,000 unmarked images (and on pseudo-videos
pooled from them), and invisible-watermark's dwtDct on the classic attacks for reference.

Sources: >= 20 frames of the real talking-head clips in ../shared/data/faces at their own size (skipped,
and said so in the JSON, when the folder is absent) and 20 frames of generated 720p clips. Attacks that
leave the picture at its new size carry `unrestored` in their key; rotations carry `rotate`. H.264 is
measured on clips, decoded as `verify` does (evidence pooled over the frames); the per-frame numbers are
given too. `decode_ms_720p_1core` is the per-core decode budget's measure: mean and p95 over 60 pictures
that are 720p when read back (see `timing_1core`). Run from the repository root:
`.venv/bin/python bench/watermark.py` (one core; 5-8 min on a busy 2-core box). `--only PART` runs one part;
`--version 2` marks with payload version 2 (files made before version 3), for comparison;
`--only tradeoff` (not in the full run) marks the real clips at several strengths and reads the re-uploads
that blind reading loses at the shipped one (strength against PSNR against detection).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # one core: the decode budget is per core

import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from masquerade.provenance import attacks, corpus  # noqa: E402
from masquerade.provenance import watermark as wm  # noqa: E402

cv2.setNumThreads(1)
try:
    import torch  # noqa: E402

    torch.set_num_threads(1)
except ImportError:  # the watermark needs no torch; set it only so nothing it pulls in uses more cores
    pass
MODEL_HASH = "c0ffee42d00dfeed"
NONCE = 0x5A17  # a version-3 nonce (16 bits); `--version 2` marks with version 2's layout, for comparison
VERSION = int(sys.argv[sys.argv.index("--version") + 1]) if "--version" in sys.argv else wm.VERSION
if VERSION == 2:
    NONCE = 0x5A17C0FFE
FACES = Path("../shared/data/faces")
FRAMES_PER_SOURCE = 21

ATTACKS = {
    "none": lambda x: x,
    # classic: the picture keeps its size
    "jpeg_q50": lambda x: attacks.jpeg(x, 50),
    "rescale_0.5_restored": lambda x: attacks.rescale(x, 0.5),
    "brightness_+20%": lambda x: attacks.brightness(x, 1.2),
    "brightness_-20%": lambda x: attacks.brightness(x, 0.8),
    "crop_10%_left": lambda x: attacks.crop(x, 0.1, "left"),
    "crop_10%_top": lambda x: attacks.crop(x, 0.1, "top"),
    "crop_10%_right": lambda x: attacks.crop(x, 0.1, "right"),
    "crop_10%_bottom": lambda x: attacks.crop(x, 0.1, "bottom"),
    # re-uploads: the geometry changes for good
    **{f"rescale_{f}_unrestored_{i}": (lambda x, f=f, i=i: attacks.resize(x, f, i))
       for f in (0.5, 0.75, 1.5) for i in ("area", "bilinear", "lanczos")},
    **{f"rotate_{d:+d}": (lambda x, d=d: attacks.rotate(x, d)) for d in (2, -2, 5, -5)},
    "crop_25%_then_rescale_0.75_unrestored": lambda x: attacks.crop_then_resize(x, 0.25, 0.75),
    "stretch_0.9x_horizontal_unrestored": lambda x: attacks.stretch(x, 0.9),
    "jpeg_q50_then_rescale_0.5_unrestored_then_brightness_0.8": lambda x: attacks.jpeg_resize_brightness(x),
    # issue #28: mirrored, placed in a larger frame, upscaled 2x, a strong JPEG at under half size
    "mirror": attacks.mirror,
    "mirror_then_rescale_0.75_unrestored": lambda x: attacks.resize(attacks.mirror(x), 0.75),
    "letterbox_1080p_1.8x": lambda x: attacks.letterbox(x, 1.8),
    "rescale_2.0_unrestored_bilinear": lambda x: attacks.resize(x, 2.0, "bilinear"),
    "small_jpeg_q30_0.45_unrestored": lambda x: attacks.small_jpeg(x, 0.45, 30),
    "small_jpeg_q30_0.4_unrestored": lambda x: attacks.small_jpeg(x, 0.4, 30),
}
# Whole videos re-uploaded (issue #28): a converted 5 s clip (marked, H.264 CRF 18 as the writer leaves it)
# re-encoded by x264 at its default preset, decoded as `verify` does (60 frames, every second one)
REUPLOADS = {
    **{f"reupload_{f}x_crf{c}": {"factor": f, "crf": c} for f in (0.5, 0.75) for c in (23, 30, 35)},
    "reupload_letterboxed_crf30": {"factor": 1.0, "crf": 30, "box": "other_aspect"},
    "reupload_mirrored_crf30": {"factor": 1.0, "crf": 30, "flip": True},
    # cropped about the centre to a phone's vertical 9:16, then made smaller: a landscape clip re-posted as a story
    "reupload_cropped_9x16_0.75x_crf30": {"factor": 0.75, "crf": 30, "aspect": 9 / 16},
}
CLIP_SECONDS = 5
# The trade-off the re-uploads that blind reading loses need (`--only tradeoff`): the mark embedded at these
# strengths (PSNR; 42.4 dB is what the writer uses), the same re-uploads, read blind and with the store
TRADEOFF_PSNR_DB = (42.4, 41.0, 40.0, 38.0)
TRADEOFF_REUPLOADS = ("reupload_0.5x_crf30", "reupload_0.5x_crf35", "reupload_0.75x_crf35")
# the store-informed match (`known`): the true id among 999 others, half of them from the same model
rng = np.random.default_rng(28)
TRUE_ID = wm.mark_id(MODEL_HASH, NONCE, VERSION)
KNOWN = [wm.mark_id(MODEL_HASH if i % 2 else f"{int(h):08x}", int(n), VERSION) for i, (h, n) in
         enumerate(zip(rng.integers(0, 2**32, 999), rng.integers(0, 2**wm.FORMATS[VERSION].nonce_bits, 999)))]
CHAIN = "resolution_chain_1080p_720p_480p_unrestored"


def mark(rgb: np.ndarray, **kwargs) -> np.ndarray:
    """The bench's mark (MODEL_HASH, NONCE, payload VERSION) on one frame."""
    return wm.embed(rgb, MODEL_HASH, nonce=NONCE, version=VERSION, **kwargs)


def cover(img: np.ndarray, w: int, h: int) -> np.ndarray:
    """Scale to cover w x h, then centre-crop."""
    s = max(w / img.shape[1], h / img.shape[0])
    big = cv2.resize(img, (round(img.shape[1] * s) + 1, round(img.shape[0] * s) + 1), interpolation=cv2.INTER_CUBIC)
    y, x = (big.shape[0] - h) // 2, (big.shape[1] - w) // 2
    return np.ascontiguousarray(big[y : y + h, x : x + w])


def read_clip(path: Path, start: int = 0, n: int = 24, step: int = 1) -> list[np.ndarray]:
    import av

    out = []
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i >= start and (i - start) % step == 0:
                out.append(frame.to_ndarray(format="rgb24"))
            if len(out) >= n:
                break
    return out


def face_sources() -> tuple[list[np.ndarray], list[list[np.ndarray]]] | None:
    clips = sorted(FACES.glob("*.mp4")) if FACES.is_dir() else []
    if not clips:
        return None
    per = -(-FRAMES_PER_SOURCE // len(clips))
    stills = [f for c in clips for f in read_clip(c, n=per, step=15)]
    videos = [read_clip(c, start=60, n=24) for c in clips]
    return stills, videos


def face_clips() -> list[list[np.ndarray]]:
    """The first 5 s (30 fps) of each real clip."""
    return [read_clip(c, n=30 * CLIP_SECONDS) for c in sorted(FACES.glob("*.mp4"))] if FACES.is_dir() else []


def generated_clips() -> list[list[np.ndarray]]:
    """Two generated 720p clips of 5 s (25 fps)."""
    from masquerade.samples import make_clip

    return [make_clip(name, frames=25 * CLIP_SECONDS, size=(1280, 720), fps=25, seed=seed).frames
            for name, seed in (("astronaut", 3), ("grace_hopper", 4))]


def generated_sources() -> tuple[list[np.ndarray], list[list[np.ndarray]]]:
    from masquerade.samples import make_clip

    stills = [f for name, seed in (("astronaut", 1), ("grace_hopper", 2))
              for f in make_clip(name, frames=11, size=(1280, 720), fps=25, seed=seed).frames]
    videos = [make_clip(name, frames=24, size=(1280, 720), fps=25, seed=seed).frames
              for name, seed in (("astronaut", 3), ("grace_hopper", 4))]
    return stills[:FRAMES_PER_SOURCE], videos


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255.0**2 / np.mean((a.astype(np.float64) - b) ** 2)))


def score(detections: list[wm.Detection], truth: np.ndarray) -> dict:
    # a mark not read is reported in the current version's layout: against another version's truth, 0
    acc = [float((d.bits == truth).mean()) if d.bits.size == truth.size else 0.0 for d in detections]
    return {"bit_accuracy_mean": round(float(np.mean(acc)), 4), "bit_accuracy_worst": round(float(min(acc)), 4),
            "detection_rate": round(float(np.mean([d.detected for d in detections])), 3),
            "right_mark_id_rate": round(float(np.mean([d.detected and d.mark_id == TRUE_ID
                                                       for d in detections])), 3)}


def score_known(detections: list[wm.Detection]) -> dict:
    """The same pictures decoded with `known` (the true id among 999 others, as verify does with the store)."""
    return {"detection_rate_with_store": round(float(np.mean([d.detected and d.mark_id == TRUE_ID
                                                               for d in detections])), 3),
            "wrong_id_with_store": int(sum(d.detected and d.mark_id != TRUE_ID for d in detections))}


def run_reuploads(clips: list[list[np.ndarray]], fps: int) -> dict:
    """Each REUPLOADS variant of each clip: blind and with the store, and the same on the unmarked clip."""
    known = KNOWN + [TRUE_ID]
    out: dict = {}
    converted = [attacks.h264([mark(f) for f in clip], crf=18, fps=fps) for clip in clips]
    plain = [attacks.h264(clip, crf=18, fps=fps) for clip in clips]
    for name, how in REUPLOADS.items():
        kwargs = {k: v for k, v in how.items() if k not in ("factor", "crf")}
        if kwargs.get("box") == "other_aspect":  # a square picture pillarboxed in 720p, a wide one boxed in a square
            wide = clips[0][0].shape[1] > clips[0][0].shape[0]
            kwargs["box"] = (1080, 1080) if wide else (1280, 720)
        blind, informed, alarms, seconds = [], [], 0, []
        for marked, unmarked in zip(converted, plain):
            frames = attacks.reupload(marked, how["factor"], how["crf"], fps=fps, **kwargs)[::2][:60]
            t = time.perf_counter()
            blind.append(wm.decode_frames(frames))
            seconds.append(time.perf_counter() - t)
            informed.append(blind[-1] if blind[-1].detected else wm.decode_frames(frames, known=known))
            ref = attacks.reupload(unmarked, how["factor"], how["crf"], fps=fps, **kwargs)[::2][:60]
            alarms += wm.decode_frames(ref, known=known).detected
        out[name] = {"clips": len(clips), "frame_size": f"{frames[0].shape[1]}x{frames[0].shape[0]}",
                     **score(blind, wm.payload_bits(MODEL_HASH, NONCE, VERSION)), **score_known(informed),
                     "scores_z": [round(d.score, 1) for d in informed],
                     "false_alarms_unmarked_clips_with_store": int(alarms),
                     "decode_s_per_clip_blind": round(float(np.mean(seconds)), 1)}
    return out


def run_tradeoff(clips: list[list[np.ndarray]], fps: int) -> dict:
    """Mark strength against detection on the re-uploads that blind reading loses at the shipped strength:
    each clip marked at each of TRADEOFF_PSNR_DB, converted (H.264 CRF 18), re-uploaded and read as
    `run_reuploads` reads it. What a stronger mark would buy, for the issue's closing note."""
    known = KNOWN + [TRUE_ID]
    truth = TRUE_ID
    out: dict = {}
    for psnr_db in TRADEOFF_PSNR_DB:
        rows = {name: {"blind": 0, "with_store": 0, "scores_z": []} for name in TRADEOFF_REUPLOADS}
        psnrs = []
        for clip in clips:
            marked = [mark(f, psnr_db=psnr_db) for f in clip]
            psnrs += [psnr(m, f) for m, f in zip(marked[::15], clip[::15])]
            converted = attacks.h264(marked, crf=18, fps=fps)
            for name, row in rows.items():
                how = REUPLOADS[name]
                frames = attacks.reupload(converted, how["factor"], how["crf"], fps=fps)[::2][:60]
                blind = wm.decode_frames(frames)
                found = blind.detected and blind.mark_id == truth
                informed = blind if found else wm.decode_frames(frames, known=known)
                row["blind"] += int(found)
                row["with_store"] += int(informed.detected and informed.mark_id == truth)
                row["scores_z"].append(round(blind.score, 1))
        n = len(clips)
        counted = {name: {**row, "blind": f"{row['blind']}/{n}", "with_store": f"{row['with_store']}/{n}"}
                   for name, row in rows.items()}
        out[f"psnr_{psnr_db}"] = {"psnr_db_mean": round(float(np.mean(psnrs)), 2), "clips": len(clips), **counted}
    return out


def run_source(stills: list[np.ndarray], videos: list[list[np.ndarray]]) -> dict:
    truth = wm.payload_bits(MODEL_HASH, NONCE, VERSION)
    marked = [mark(f) for f in stills]
    out: dict = {"frames": len(stills), "frame_size": f"{stills[0].shape[1]}x{stills[0].shape[0]}",
                 "psnr_db_mean": round(float(np.mean([psnr(m, f) for m, f in zip(marked, stills)])), 2),
                 "psnr_db_min": round(float(min(psnr(m, f) for m, f in zip(marked, stills))), 2), "attacks": {}}
    known = KNOWN + [TRUE_ID]
    for name, attack in ATTACKS.items():
        attacked = [attack(m) for m in marked]
        detections = [wm.decode(a) for a in attacked]
        result = score(detections, truth)
        result["false_alarms_unmarked"] = int(sum(wm.decode(attack(f)).detected for f in stills))
        if result["detection_rate"] < 1.0:
            result.update(score_known([d if d.detected else wm.decode(a, known=known) for d, a in zip(detections, attacked)]))
            result["false_alarms_unmarked_with_store"] = int(sum(wm.decode(attack(f), known=known).detected for f in stills))
        out["attacks"][name] = result
    big = [cover(f, 1920, 1080) for f in stills]
    result = score([wm.decode(attacks.resolution_chain(mark(b))) for b in big], truth)
    result["false_alarms_unmarked"] = int(sum(wm.decode(attacks.resolution_chain(b)).detected for b in big))
    out["attacks"][CHAIN] = result
    for crf in (28, 35):
        pooled, per_frame, alarms = [], [], 0
        for clip in videos:
            decoded = attacks.h264([mark(f) for f in clip], crf=crf)
            pooled.append(wm.decode_frames(decoded))
            per_frame += [wm.decode(f) for f in decoded]
            alarms += wm.decode_frames(attacks.h264(clip, crf=crf)).detected
        result = {"clips": len(videos), "frames_per_clip": len(videos[0]), **score(pooled, truth),
                  "false_alarms_unmarked_clips": int(alarms), "per_frame": score(per_frame, truth)}
        out["attacks"][f"h264_crf{crf}_video_pooled"] = result
    worst = {k: v["bit_accuracy_worst"] for k, v in out["attacks"].items()}
    out["worst_attack"] = min(worst, key=worst.get)
    out["bit_accuracy_worst_over_attacks"] = min(worst.values())
    out["false_alarms_total"] = int(sum(v.get("false_alarms_unmarked", 0) + v.get("false_alarms_unmarked_clips", 0)
                                        for v in out["attacks"].values()))
    return out


def ms_per_call(fn, arg, repeat: int = 10) -> float:
    fn(arg)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn(arg)
        times.append(time.perf_counter() - t)
    return round(1000 * float(np.median(times)), 1)


def timing(frame: np.ndarray) -> dict:
    marked = mark(frame)
    result = {"embed_ms_720p": ms_per_call(mark, frame)}
    cold = []
    for i in range(5):  # a new output file: its mark is computed once, then cached for every frame
        wm._delta.cache_clear()
        wm._payload_tile.cache_clear()
        t = time.perf_counter()
        wm.embed(frame, MODEL_HASH, nonce=i, version=VERSION)
        cold.append(time.perf_counter() - t)
    result["embed_ms_720p_first_frame_of_a_file"] = round(1000 * float(np.median(cold)), 1)
    result["decode_ms_720p_marked"] = ms_per_call(wm.decode, marked)
    result["decode_ms_720p_unmarked"] = ms_per_call(wm.decode, frame)
    result["decode_ms_720p_rotated_2deg"] = ms_per_call(wm.decode, attacks.rotate(marked, 2))
    result["decode_ms_720p_rescaled_1.5"] = ms_per_call(wm.decode, attacks.resize(marked, 1.5))
    return result


def timing_1core(stills: list[np.ndarray], n: int = 10) -> dict:
    """Decode time for pictures that *are* 720p when read back, as a platform serves them: our 720p output
    (marked, JPEG 50), the same unmarked (every geometry is tried), rotated 2 degrees and cropped (about
    1203x676), a 1080p output served at 720p, and a 480p output served at 720p. Mean and p95 over all of
    them; wall time and CPU time (the box is shared, so CPU time is the steadier figure)."""
    frames = stills[:n]
    kinds = {
        "marked": [mark(f) for f in frames],
        "marked_jpeg_q50": [attacks.jpeg(mark(f), 50) for f in frames],
        "unmarked": frames,
        "rotated_2deg": [attacks.rotate(mark(f), 2) for f in frames],
        "from_1080p": [attacks.to_height(mark(cover(f, 1920, 1080)), 720) for f in frames],
        "from_480p": [attacks.to_height(mark(cover(f, 854, 480)), 720, "bilinear")
                      for f in frames],
    }
    wall, cpu, per_kind, found = [], [], {}, {}
    for kind, pictures in kinds.items():
        wm.decode(pictures[0])  # warm caches (FFT plans, layouts)
        times = []
        hits = 0
        for picture in pictures:
            t, c = time.perf_counter(), time.process_time()
            d = wm.decode(picture)
            wall.append(1000 * (time.perf_counter() - t))
            cpu.append(1000 * (time.process_time() - c))
            times.append(wall[-1])
            hits += d.detected
        per_kind[kind] = round(float(np.median(times)), 1)
        found[kind] = f"{hits}/{len(pictures)}"
    return {"pictures": len(wall), "mean": round(float(np.mean(wall)), 1), "p95": round(float(np.percentile(wall, 95)), 1),
            "cpu_mean": round(float(np.mean(cpu)), 1), "cpu_p95": round(float(np.percentile(cpu, 95)), 1),
            "median_by_kind": per_kind, "detected_by_kind": found}


def false_positives(n: int = 1000, per_video: int = 30) -> dict:
    return _false_positives(n, per_video)


def _false_positives(n: int, per_video: int) -> dict:
    """Single images at the shipped threshold, then the same images pooled as pseudo-videos.

    Pooling unrelated frames is the worst case for `decode_frames`, which keeps the best of several pools.
    """
    images = list(corpus.unmarked_images(n, seed=0))
    detections = [wm.decode(img) for img in images]
    scores = [d.score for d in detections]
    videos = [wm.decode_frames(images[i : i + per_video]) for i in range(0, n - per_video + 1, per_video)]
    known = KNOWN + [TRUE_ID]
    with_store = [wm.decode(img, known=known) for img in images]
    videos_with_store = [wm.decode_frames(images[i : i + per_video], known=known)
                         for i in range(0, n - per_video + 1, per_video)]
    return {
        "images": len(scores),
        "flagged": int(sum(d.detected for d in detections)),
        "threshold_z": wm.DETECT_THRESHOLD,
        "also_required": "CRC-16 of the decoded payload (either version's)",
        "crc_passed_by_chance": int(sum(d.crc_ok for d in detections)),
        "max_score_z": round(float(max(scores)), 2),
        "p99_score_z": round(float(np.percentile(scores, 99)), 2),
        "pooled_videos": len(videos),
        "pooled_frames_each": per_video,
        "pooled_videos_flagged": int(sum(v.detected for v in videos)),
        "pooled_max_score_z": round(float(max(v.score for v in videos)), 2),
        "known_ids_tested": len(known),
        "flagged_with_store": int(sum(d.detected for d in with_store)),
        "pooled_videos_flagged_with_store": int(sum(v.detected for v in videos_with_store)),
    }


def dwtdct_reference() -> dict:
    """invisible-watermark 0.2.0 (dwtDct) with the same 88 bits on the classic attacks, for reference."""
    try:
        from imwatermark import WatermarkDecoder, WatermarkEncoder
    except ImportError:
        return {"skipped": "invisible-watermark is not installed"}
    truth = wm.payload_bits(MODEL_HASH, NONCE, VERSION)
    enc = WatermarkEncoder()
    enc.set_watermark("bits", truth.tolist())
    dec = WatermarkDecoder("bits", truth.size)
    photos = corpus.named_natural_images()
    frames = [cover(photos[n], 1280, 720) for n in ("astronaut", "camera", "chelsea", "coffee", "rocket", "grace_hopper")]
    marked = [np.clip(enc.encode(np.ascontiguousarray(f[:, :, ::-1]), "dwtDct"), 0, 255).astype(np.uint8)[:, :, ::-1]
              for f in frames]
    out = {"psnr_db_mean": round(float(np.mean([psnr(m, f) for m, f in zip(marked, frames)])), 2)}
    for name in ("jpeg_q50", "rescale_0.5_restored", "rescale_0.5_unrestored_area", "rotate_+2"):
        acc = [float((np.asarray(dec.decode(np.ascontiguousarray(ATTACKS[name](m)[:, :, ::-1]), "dwtDct")) == truth).mean())
               for m in marked]
        out[f"bit_accuracy_{name}"] = round(float(np.mean(acc)), 3)
    return out


def main() -> None:
    only = sys.argv[sys.argv.index("--only") + 1] if "--only" in sys.argv else None
    started = time.perf_counter()
    faces = face_sources()
    gen_stills, gen_videos = generated_sources()
    if only:
        part = {"reuploads_real": lambda: {"reuploads_real_faces": run_reuploads(face_clips(), 30) if faces else None},
                "reuploads_generated": lambda: {"reuploads_generated_720p": run_reuploads(generated_clips(), 25)},
                "tradeoff": lambda: {"tradeoff_real_faces": run_tradeoff(face_clips(), 30) if faces else None},
                "stills_real": lambda: {"real_faces": run_source(*faces) if faces else None},
                "stills_generated": lambda: {"generated_720p": run_source(gen_stills, gen_videos)},
                "timing": lambda: {"timing": timing(gen_stills[0]), "decode_ms_720p_1core": timing_1core(gen_stills)},
                "false_positives": lambda: false_positives()}[only]()
        part["seconds"] = round(time.perf_counter() - started, 1)
        print(json.dumps(part, indent=2))
        return
    out = {
        "payload_version": VERSION,
        "payload_bits": wm.FORMATS[VERSION].total_bits,
        "payload": {2: "4-bit version + 32-bit model hash prefix + 36-bit per-file nonce + CRC-16",
                    3: "16-bit model hash prefix + 16-bit per-file nonce + CRC-16"}[VERSION] + "; K=7 rate-1/3 code",
        "target_psnr_db": wm.TARGET_PSNR_DB,
        "single_core": True,
        "real_faces": run_source(*faces) if faces else {"skipped": f"{FACES} not found"},
        "generated_720p": run_source(gen_stills, gen_videos),
        "reuploads_real_faces": run_reuploads(face_clips(), 30) if faces else {"skipped": f"{FACES} not found"},
        "reuploads_generated_720p": run_reuploads(generated_clips(), 25),
        "timing": timing(gen_stills[0]),
        "decode_ms_720p_1core": timing_1core(gen_stills),
        "false_positives_1000_unmarked": false_positives(),
        "reference_dwtDct_classic_attacks": dwtdct_reference(),
    }
    out["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
