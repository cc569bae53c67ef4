"""Split one video at keyframes, decode one piece, write a watermarked piece, and join pieces losslessly.

Why keyframes: a closed GOP starts at an IDR frame, so a worker that seeks to it decodes exactly the same
pixels as a reader that started at frame 0 (tested). Pieces are re-joined by stream copy (no re-encode),
with the source's audio copied in, so the join costs a remux, not a second lossy pass.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import MediaError
from ..records import Frame


@dataclass(frozen=True)
class Segment:
    """Frames [start, end) of a video; `start_pts`/`end_pts` locate them in the stream (None: file edge).

    Decoding starts earlier, at keyframe `warm_start` (`warm_pts`): those frames only warm up face tracking
    and landmark smoothing, so the first output frames match a run that started at frame 0 more closely.
    """

    index: int
    start: int
    end: int
    start_pts: int | None
    end_pts: int | None
    warm_start: int = 0
    warm_pts: int | None = None

    @property
    def frames(self) -> int:
        return self.end - self.start

    def to_dict(self) -> dict:
        return asdict(self)


def _packet_times(path: str | Path) -> list[tuple[int, bool]]:
    """(pts, keyframe) of every video packet in presentation order; demuxing only, no decoding."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        times = [(int(p.pts), bool(p.is_keyframe)) for p in container.demux(stream) if p.pts is not None and p.size]
    return sorted(times)


def plan_segments(path: str | Path, target_frames: int, warmup_frames: int = 0) -> list[Segment]:
    """Cut the video at the first keyframe at least `target_frames` after the previous cut.

    A cut is skipped when it would leave a tail shorter than half a segment. A video without usable
    timestamps (or with one keyframe) is one segment read from the start. Each later segment warms up from
    the last keyframe at least `warmup_frames` before its start.
    """
    times = _packet_times(path)
    if not times:
        raise MediaError(f"{path}: the video has no packets; it may be corrupt or truncated")
    total, target = len(times), max(1, int(target_frames))
    cuts = [0]
    for i, (_, key) in enumerate(times):
        if key and i - cuts[-1] >= target and total - i >= max(1, target // 2):
            cuts.append(i)
    if len(cuts) == 1:
        return [Segment(0, 0, total, None, None)]
    keys = [i for i, (_, key) in enumerate(times) if key]
    bounds = cuts + [total]
    segments = []
    for k, (a, b) in enumerate(zip(bounds, bounds[1:])):
        warm = max([i for i in keys if i <= a - warmup_frames] or [0]) if warmup_frames and a else a
        segments.append(Segment(k, a, b, times[a][0], times[b][0] if b < total else None, warm, times[warm][0]))
    return segments


def read_segment(path: str | Path, segment: Segment) -> Iterator[Frame]:
    """Yield frames `warm_start`..`end` as `media.read_frames` would (same index, timestamp and pixels)."""
    import av
    from av.video.reformatter import VideoReformatter

    from ..media.reader import to_rgb

    if segment.start_pts is None:
        from ..media import read_frames

        for frame in read_frames(path):
            if frame.index >= segment.end:
                break
            yield frame
        return
    source = str(Path(path))
    with av.open(source) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        first = segment.start_pts if segment.warm_pts is None else segment.warm_pts
        container.seek(first, stream=stream, backward=True, any_frame=False)
        index = segment.warm_start if segment.warm_pts is not None else segment.start
        reformatter = VideoReformatter()
        for frame in container.decode(stream):
            if frame.pts is None or frame.pts < first:
                continue
            if segment.end_pts is not None and frame.pts >= segment.end_pts or index >= segment.end:
                break
            yield Frame(index, float(frame.time), to_rgb(frame, reformatter), source)
            index += 1
    if index != segment.end:
        raise MediaError(f"{path}: segment {segment.index} ended at frame {index}, not {segment.end} "
                         "frames; the video's timestamps are irregular, convert it without --ray")


def join_segments(parts: list[Path], dst: Path, audio_from: str | None) -> int:
    """Concatenate H.264 pieces by stream copy (timestamps kept: each frame has its source's), add the audio.

    Pieces come from the same encoder settings, so their codec headers match; that is checked, since a
    mismatch would make a file that plays wrongly after the first cut. Returns the number of video packets.
    """
    import av

    inputs = [av.open(str(p)) for p in parts]
    audio_in = av.open(str(audio_from)) if audio_from else None
    try:
        first = inputs[0].streams.video[0]
        for c in inputs[1:]:
            s = c.streams.video[0]
            if bytes(s.codec_context.extradata or b"") != bytes(first.codec_context.extradata or b"") \
                    or s.time_base != first.time_base:
                raise MediaError(f"{c.name}: this piece was encoded differently from the first; "
                                 "delete the job folder and convert again")
        with av.open(str(dst), "w", format="mp4") as out:
            video = out.add_stream_from_template(first)
            audio = out.add_stream_from_template(audio_in.streams.audio[0]) if audio_in and audio_in.streams.audio else None
            count, last_dts = 0, None
            for c in inputs:  # each piece carries its frames' source timestamps: copied as they are
                for packet in c.demux(c.streams.video[0]):
                    if packet.dts is None:
                        continue
                    if last_dts is not None and packet.dts <= last_dts:
                        raise MediaError(f"{c.name}: this piece overlaps the one before it; "
                                         "delete the job folder and convert again")
                    last_dts = packet.dts
                    packet.stream = video
                    out.mux(packet)
                    count += 1
            if audio is not None:
                for packet in audio_in.demux(audio_in.streams.audio[0]):
                    if packet.dts is None:
                        continue
                    packet.stream = audio
                    out.mux(packet)
        return count
    finally:
        for c in inputs:
            c.close()
        if audio_in is not None:
            audio_in.close()
