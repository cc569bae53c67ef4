import json
import math

import numpy as np
import pytest

from masquerade.train.plan import PlanConfig, TrainingPlan, manual_phases


def curve(step: int, floor: float = 0.1, rate: float = 2000.0) -> float:
    """A held-out error that falls fast, then flattens towards `floor`."""
    return floor + 0.5 * math.exp(-step / rate)


def run(plan: TrainingPlan, steps: range, error=curve):
    events = []
    for s in steps:
        events += plan.observe(s, error(s))
    return events


def test_phases_advance_in_order_on_plateaus_and_finish_once():
    plan = TrainingPlan.auto(gan=True, config=PlanConfig(patience=5, min_improvement=0.01, min_steps=500))
    events = run(plan, range(100, 60_000, 100), error=lambda s: curve(s % 20_000))
    phases = [e["phase"] for e in events]
    assert phases == ["lr_dropout", "no_warp", "gan", "gan"]
    assert [e.get("previous") for e in events[:3]] == ["warp", "lr_dropout", "no_warp"]
    assert events[-1]["finished"] and plan.state.finished
    assert all(e["reason"] == "plateau" and e["improvement"] < 0.01 for e in events)
    assert events[2]["gan"] and not events[1]["gan"] and not events[1]["warp"] and events[0]["lr_dropout"]
    # the first switch comes once the curve has flattened, not while it still falls steeply
    assert 5_000 < events[0]["step"] < 15_000
    json.dumps(events)  # loggable as metrics.jsonl lines


def test_no_gan_phase_without_a_gan_weight():
    plan = TrainingPlan.auto(gan=False, config=PlanConfig(min_steps=0))
    assert [p.name for p in plan.phases] == ["warp", "lr_dropout", "no_warp"]


def test_a_steadily_improving_curve_never_switches():
    plan = TrainingPlan.auto(config=PlanConfig(patience=5, min_improvement=0.01, min_steps=0))
    assert run(plan, range(100, 20_000, 100), error=lambda s: 1.0 / (1 + s / 100)) == []
    assert plan.phase.name == "warp"


def test_min_steps_holds_a_phase_even_on_a_flat_curve():
    plan = TrainingPlan.auto(config=PlanConfig(patience=3, min_steps=2_000))
    events = run(plan, range(100, 10_000, 100), error=lambda s: 0.2)
    assert [e["step"] for e in events[:2]] == [2_000, 4_000]


def test_noise_does_not_count_as_progress_only_new_bests_do():
    rng = np.random.default_rng(0)
    noise = {s: 0.2 + 0.01 * rng.standard_normal() for s in range(100, 5_000, 100)}
    plan = TrainingPlan.auto(config=PlanConfig(patience=8, min_improvement=0.02, min_steps=0))
    events = run(plan, range(100, 5_000, 100), error=noise.__getitem__)
    assert events and events[0]["phase"] == "lr_dropout"


def test_max_steps_ends_a_phase_that_never_settles():
    plan = TrainingPlan.auto(config=PlanConfig(min_steps=0, max_steps=1_000))
    events = run(plan, range(100, 1_500, 100), error=lambda s: 1.0 / s)
    assert events[0]["reason"] == "max_steps" and events[0]["step"] == 1_000


def test_non_finite_errors_are_ignored():
    plan = TrainingPlan.auto(config=PlanConfig(patience=2, min_steps=0))
    assert plan.observe(100, float("nan")) == [] and plan.state.history == []


def test_manual_plan_keeps_one_phase():
    plan = TrainingPlan(manual_phases(warp=False), PlanConfig(min_steps=0, patience=2))
    events = run(plan, range(100, 2_000, 100), error=lambda s: 0.3)
    assert [e["phase"] for e in events] == ["manual"] and events[0]["finished"]
    assert not plan.phase.warp and plan.start_event(0)["phase"] == "manual"


def test_state_round_trips_through_json_and_continues_identically():
    cfg = PlanConfig(patience=4, min_improvement=0.01, min_steps=300)
    a = TrainingPlan.auto(gan=True, config=cfg)
    first = run(a, range(100, 12_000, 100))
    b = TrainingPlan.from_json(json.loads(json.dumps(a.to_json())))
    assert b.phase == a.phase and b.state == a.state
    assert run(a, range(12_000, 40_000, 100)) == run(b, range(12_000, 40_000, 100))
    assert first  # something happened before the save, so the round trip carried real state


def test_bad_plans_are_refused():
    with pytest.raises(ValueError):
        TrainingPlan([])
    with pytest.raises(ValueError):
        TrainingPlan.auto(config=PlanConfig(patience=0))


def test_curves_mark_the_plan_switches(tmp_path):
    from masquerade.train.curves import phase_switches, read_metrics, render_png, series, write_html

    plan = TrainingPlan.auto(config=PlanConfig(patience=3, min_steps=0))
    lines = [plan.start_event(0)]
    for s in range(100, 3_000, 100):
        lines.append({"step": s, "loss_a": 0.1, "val_ssim_gauss11_a": 0.5 + s / 10_000, "val_ssim_gauss11_b": min(0.7, 0.4 + s / 5_000)})
        lines += plan.observe(s, 1 - lines[-1]["val_ssim_gauss11_b"])
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in lines) + '{"step": 31')  # a torn last line
    lines = read_metrics(path)
    switches = phase_switches(lines)
    assert switches[0] == (0.0, "warp") and [p for _, p in switches[1:]] == ["lr_dropout", "no_warp"]
    xs, ys = series(lines, "val_ssim_gauss11_a")
    assert len(xs) == 29 and ys[0] == pytest.approx(0.51)  # plan events are not data points
    png = render_png(lines)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    preview = tmp_path / "step_0000100.png"
    preview.write_bytes(png)
    page = write_html(tmp_path / "report.html", lines, [preview]).read_text()
    assert page.count("data:image/png;base64,") == 2 and "<td>lr_dropout</td>" in page


def test_a_bounded_run_gives_its_last_share_to_the_warp_off_phases_in_order():
    plan = TrainingPlan.auto(gan=True, config=PlanConfig(min_steps=10_000, detail_share=0.3))
    events = []
    for step in range(10, 101, 10):  # a flat curve that min_steps keeps from ending any phase on its own
        events += plan.observe(step, 0.2, used=step / 100)
    assert [(e["step"], e["phase"], e["previous"], e["reason"]) for e in events] == [
        (70, "no_warp", "warp", "budget"), (90, "gan", "no_warp", "budget")]  # gan's half starts at 0.85
    assert not events[0]["warp"] and events[1]["gan"]
    json.dumps(events)


def test_the_budget_never_moves_a_plan_back_and_an_unbounded_run_ignores_it():
    plan = TrainingPlan.auto(config=PlanConfig(patience=1, min_improvement=10.0, min_steps=0))
    run(plan, range(100, 1000, 100))  # plateaus carry it to the last phase
    assert plan.phase.name == "no_warp"
    assert plan.observe(500, 0.2, used=0.95) == []
    unbounded = TrainingPlan.auto(config=PlanConfig(min_steps=10_000))
    assert unbounded.observe(100, 0.2, used=None) == [] and unbounded.phase.name == "warp"
    with pytest.raises(ValueError):
        TrainingPlan.auto(config=PlanConfig(detail_share=1.0))


def test_a_run_resumed_with_a_larger_budget_goes_back_to_the_warp_until_its_new_share():
    plan = TrainingPlan.auto(config=PlanConfig(min_steps=10_000))
    events = []
    for step in range(10, 101, 10):  # --steps 100: warp off at 70
        events += plan.observe(step, 0.2, used=step / 100)
    resumed = TrainingPlan.from_json(json.loads(json.dumps(plan.to_json())))  # saved with the snapshot
    assert resumed.state.budget_from == 0
    for step in range(110, 1001, 10):  # resumed with --steps 1000
        events += resumed.observe(step, 0.2, used=step / 1000)
    assert [(e["step"], e["phase"], e["reason"]) for e in events] == [
        (70, "no_warp", "budget"), (110, "warp", "budget grew"), (700, "no_warp", "budget")]
    # a plateau's switch is never undone by a budget
    settled = TrainingPlan.auto(gan=True, config=PlanConfig(patience=1, min_improvement=10.0, min_steps=0))
    settled.observe(10, 0.2, used=0.75)  # the budget takes it to no_warp...
    assert settled.phase.name == "no_warp" and settled.state.budget_from == 0
    settled.observe(20, 0.2, used=0.76)
    settled.observe(30, 0.2, used=0.77)  # ...and a plateau on to the GAN
    assert settled.phase.name == "gan" and settled.state.budget_from is None
    assert settled.observe(40, 0.2, used=0.1) == [] and settled.phase.name == "gan"


def test_every_reader_of_the_metrics_log_skips_a_torn_last_line(tmp_path):
    """A crash mid-write leaves half a line; the demo report's curves crashed on it while the plan's reader
    skipped it. Now there is one reader (`curves.read_metrics`), and the report and the UI use it."""
    from masquerade.report import _loss_plot
    from masquerade.train.curves import read_metrics
    from masquerade.ui.train_view import LOSS, read_metrics as ui_table

    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 10, "loss_a": 0.5, "loss_b": 0.6}\n{"step": 20, "loss_a": 0.4, "loss_b": 0.5}\n'
                    '{"step": 30, "loss_a": 0.3, "lo')
    assert [r["step"] for r in read_metrics(path)] == [10, 20]
    assert [r["step"] for r in read_metrics(path, last=2)] == [20]
    assert _loss_plot(path)[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(set(ui_table(tmp_path, LOSS)["step"])) == [10, 20]
    assert read_metrics(tmp_path / "none.jsonl") == []


def test_a_log_written_before_the_ssims_had_names_of_their_own_still_reads(tmp_path):
    """Older metrics.jsonl files called training's Gaussian-window SSIM plain `val_ssim_*`; the one reader
    gives them today's names, so the UI chart, the report and the plan's resume read old runs too."""
    from masquerade.train.curves import read_metrics
    from masquerade.train.monitor import validation_error
    from masquerade.ui.train_view import QUALITY, read_metrics as ui_table

    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 10, "val_ssim_a": 0.5, "val_ssim_b": 0.7, "val_ssim_face_a": 0.4, "val_l1_a": 0.1}\n'
                    '{"step": 20, "val_ssim_gauss11_a": 0.6, "val_ssim_gauss11_b": 0.8}\n')
    old, new = read_metrics(path)
    assert old == {"step": 10, "val_ssim_gauss11_a": 0.5, "val_ssim_gauss11_b": 0.7, "val_ssim_gauss11_face_a": 0.4,
                   "val_l1_a": 0.1}
    assert new == {"step": 20, "val_ssim_gauss11_a": 0.6, "val_ssim_gauss11_b": 0.8}
    assert validation_error(old) == pytest.approx(0.4)
    table = ui_table(tmp_path, QUALITY)
    assert sorted(zip(table["step"], table["Person"], table["value"])) == [(10, "A", 0.5), (10, "B", 0.7),
                                                                          (20, "A", 0.6), (20, "B", 0.8)]
