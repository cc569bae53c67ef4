"""What the pages show a person (issue 30): the Jobs log follows the running job, job lines in words, the
verdict as a short table, faces captioned by frame and clip."""

from __future__ import annotations

from masquerade.provenance.verify import Verdict
from masquerade.ui.context import job_html
from masquerade.ui.faces import caption
from masquerade.ui.jobs import Job
from masquerade.ui.jobs_tab import shown_job
from masquerade.ui.verify_tab import verdict_table


class Queue:
    def __init__(self, jobs):
        self.jobs = jobs

    def list(self, kind=None):
        return sorted((j for j in self.jobs if kind in (None, j.kind)), key=lambda j: -j.seq)


def _job(seq, status, kind="train", **progress):
    return Job(id=f"{seq:05d}-x", kind=kind, params={}, title=f"job {seq}", seq=seq, status=status,
               progress={"task": kind, "done": 0, "total": None, "stats": {}, **progress})


def test_the_jobs_log_follows_the_running_job_unless_another_is_picked():
    q = Queue([_job(1, "done"), _job(2, "running"), _job(3, "queued")])
    assert shown_job(q, None).id == "00002-x"  # running beats a newer queued one
    assert shown_job(q, "00001-x").id == "00001-x"
    assert shown_job(Queue([_job(1, "done"), _job(2, "failed")]), None).id == "00002-x"  # else the newest
    assert shown_job(Queue([]), None) is None


def test_a_job_line_is_in_words():
    line = job_html(_job(1, "running", done=3, total=12))
    assert "running</span> training 3 of 12 steps" in line and "<progress max='1000' value='250'>" in line
    done = job_html(_job(2, "done", kind="extract", done=12, total=12))
    assert "finished</span>" in done and "12 of 12 frames" in done and "<progress" not in done
    assert "No faces found yet." in job_html(None, empty="No faces found yet.")


def test_the_verdict_is_a_short_table_with_a_short_hash_and_the_date():
    v = Verdict(path="/srv/ws/outputs/x.mp4", status="synthetic", manifest_present=True, manifest_valid=True,
                signer_trusted=True, model_hash="ab" * 32, watermark_found=True,
                stored_manifest={"signed_at": "2026-12-06T23:22:01Z"})
    table = verdict_table(v, "x.mp4")
    assert "SYNTHETIC" in table and "abababababab" in table and "ab" * 32 not in table
    assert "2026-12-06 23:22 UTC" in table and "this computer&#x27;s key" in table and "/srv/ws" not in table
    none = verdict_table(Verdict(path="y.png", status="none"), "y.png")
    assert "NO MARKS" in none and "does not prove it is real" in none


def test_faces_are_captioned_by_frame_and_clip():
    assert caption({"source": "/ws/uploads/alice.mp4", "frame_index": 7, "frame_name": ""}) == "frame 7 · alice.mp4"
    assert caption({"source": "/ws/uploads/alice.jpg", "frame_index": 0, "frame_name": ""}) == "alice.jpg"
