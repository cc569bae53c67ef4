"""The bad-input matrix (issue 13): every user mistake ends in one clear line and the right exit code, and
touches nothing.

Each row is a command line, the exit code, a fragment of the message (a regular expression, matched without
case on the output with Rich's boxes and line breaks removed), and what the row sets up (damaged face sets,
keys, folders of the user's own files). Every row runs in a fresh world (copies of two face sets, a tiny
trained model, a clip, a folder of photos, a folder of someone's files, a signing-key home); the whole world
is snapshotted (names, sizes, mtimes, modes, hashes) before and after, and nothing in it may change except
under the row's own scratch folder (and paths a row names, e.g. the crash log). A failing row also leaves
its scratch folder empty: nothing half-written.

Most rows run in-process through `masquerade.cli.main(argv)` (fast); a few run as a subprocess to prove no
traceback reaches stderr. A row that fails only because its owner's work has not landed is a strict xfail
naming that helper: once it passes, the mark must go.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

TINY = dict(e_dims=8, ae_dims=32, d_dims=8)
BOXES = re.compile(r"[│╭╮╰╯─┃━┏┓┗┛]")


def waits_on(helper: str):
    return pytest.mark.xfail(strict=True, reason=f"waits on {helper}")


# -- session material ---------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def keys_home(tmp_path_factory) -> Path:
    """A Masquerade home holding a signing key made once; each row gets its own copy."""
    home = tmp_path_factory.mktemp("cli-keys-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MASQUERADE_HOME", str(home))
        from masquerade.provenance import check_credentials

        check_credentials()
    return home


@pytest.fixture(scope="session")
def tiny_model(faceset_a, faceset_b, keys_home, tmp_path_factory) -> Path:
    """A 2-step `lite` model with tiny widths: enough for convert to open it."""
    from masquerade.train import TrainConfig, train

    out = tmp_path_factory.mktemp("cli-model") / "model"
    config = TrainConfig(model="lite", model_options=dict(TINY), batch_size=4, steps=2, lr=1e-3,
                         lr_schedule="constant", warmup_steps=0, device="cpu", precision="fp32", save_every=None,
                         preview_every=0, seed=3)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MASQUERADE_HOME", str(keys_home))
        train(faceset_a, faceset_b, out, config)
    return out


@pytest.fixture(scope="session")
def photos(tmp_path_factory) -> Path:
    """A folder of two small portrait stills."""
    import cv2

    from masquerade.samples import portrait

    folder = tmp_path_factory.mktemp("cli-photos") / "photos"
    folder.mkdir()
    for i, name in enumerate(("astronaut", "grace_hopper")):
        img = cv2.resize(portrait(name), (160, 192))
        cv2.imwrite(str(folder / f"img{i}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    return folder


@dataclass
class World:
    root: Path  # everything the row may read or wrongly touch
    scratch: Path  # the row's own folder: outputs may appear here
    home: Path  # MASQUERADE_HOME (signing keys, crash logs)

    def names(self) -> dict[str, str]:
        r = self.root
        return {"A": str(r / "fs_a"), "B": str(r / "fs_b"), "M": str(r / "model"), "CLIP": str(r / "clip.mp4"),
                "PHOTOS": str(r / "photos"), "STUFF": str(r / "my_stuff"), "W": str(r), "S": str(self.scratch)}


@pytest.fixture
def world(tmp_path, faceset_a, faceset_b, tiny_model, clip_a, photos, keys_home, monkeypatch) -> World:
    root = tmp_path / "world"
    root.mkdir()
    for src, name in ((faceset_a, "fs_a"), (faceset_b, "fs_b"), (tiny_model, "model"), (photos, "photos")):
        shutil.copytree(src, root / name)
    shutil.copy2(clip_a[0], root / "clip.mp4")
    (root / "my_stuff").mkdir()
    (root / "my_stuff" / "thesis.txt").write_text("years of work\n")
    shutil.copy2(photos / "img0.png", root / "my_stuff" / "holiday.png")
    home = root / "home"
    shutil.copytree(keys_home / "keys", home / "keys")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setenv("MASQUERADE_HOME", str(home))
    monkeypatch.delenv("MASQUERADE_UI_AUTH", raising=False)
    return World(root, scratch, home)


# -- snapshots ----------------------------------------------------------------------------------------
def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry under `root`: kind, size, mtime, mode, and a content hash for files up to 4 MB."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            digest = None
            if stat.S_ISREG(st.st_mode) and st.st_size <= 4 << 20:
                digest = hashlib.sha256(p.read_bytes()).hexdigest()
            kind = "dir" if stat.S_ISDIR(st.st_mode) else "file"
            out[p.relative_to(root).as_posix()] = (kind, st.st_size if kind == "file" else 0,
                                                   st.st_mtime_ns if kind == "file" else 0, stat.S_IMODE(st.st_mode), digest)
    return out


def changes(before: dict, after: dict, allowed: tuple[str, ...] = (), addable: tuple[str, ...] = ()) -> list[str]:
    """What changed, except paths under `allowed` (anything goes) and new paths under `addable`."""
    def under(path: str, prefixes: tuple[str, ...]) -> bool:
        return any(path == a or path.startswith(a.rstrip("/") + "/") for a in prefixes)

    diff = [f"removed {p}" for p in before.keys() - after.keys() if not under(p, allowed)]
    diff += [f"added {p}" for p in after.keys() - before.keys() if not under(p, allowed + addable)]
    diff += [f"changed {p}" for p in before.keys() & after.keys()
             if before[p] != after[p] and not under(p, allowed) and not (before[p][0] == "dir" and under(p, addable))]
    return sorted(diff)


# -- the matrix -----------------------------------------------------------------------------------------
@dataclass
class Row:
    argv: str  # a command line with {A} {B} {M} {CLIP} {PHOTOS} {STUFF} {W} {S} placeholders
    code: int
    fragment: str  # regular expression, searched without case in the normalised output
    setup: Callable[[World], None] | None = None
    cwd: str = "{S}"
    may_change: tuple[str, ...] = ()  # paths relative to the world root
    may_add: tuple[str, ...] = ()  # folders that may gain new files (nothing in them may change or go)
    patch: Callable[[pytest.MonkeyPatch], None] | None = None  # in-process only
    quiet_stdout: bool = False  # nothing at all on stdout (e.g. no URL printed)
    verdict_line: bool = False  # the command reports per file (verify) instead of one `error:` line
    extra: Callable[[World, str], None] | None = None


def _write(rel: str, data: bytes | str) -> Callable[[World], None]:
    def setup(w: World) -> None:
        p = w.root / rel
        p.write_bytes(data) if isinstance(data, bytes) else p.write_text(data)
    return setup


def _truncated_cache(w: World) -> None:
    from masquerade.faceset import FaceSet

    FaceSet.open(w.root / "fs_a").load_tensors(size=64)
    cache = w.root / "fs_a" / "cache_64.safetensors"
    cache.write_bytes(cache.read_bytes()[: cache.stat().st_size // 3])


def _twin(w: World) -> None:
    shutil.copytree(w.root / "fs_a", w.root / "fs_twin")


def _key(mutate: Callable[[Path], None]) -> Callable[[World], None]:
    return lambda w: mutate(w.home / "keys" / "signing_key.pem")


def _raise(exc: BaseException) -> Callable[[pytest.MonkeyPatch], None]:
    def patch(mp: pytest.MonkeyPatch) -> None:
        def boom(*a, **k):
            raise exc
        mp.setattr("masquerade.provenance.verify", boom)
    return patch


def _crash_logged(w: World, output: str) -> None:
    logs = sorted((w.home / "logs").glob("crash-*.log"))
    assert len(logs) == 1 and str(logs[0]) in output.replace("\n", "")
    text = logs[0].read_text()
    assert "Traceback" in text and "ZeroDivisionError: planted bug" in text


def _damaged_newest_snapshot(w: World) -> None:
    """A newer snapshot (step 9) beside the model's one (step 2) whose weights lost a byte, as disks do."""
    import json

    snaps = w.root / "model" / "snapshots"
    newer = snaps / "step_0000009"
    shutil.copytree(snaps / "step_0000002", newer)
    manifest = json.loads((newer / "model.json").read_text())
    (newer / "model.json").write_text(json.dumps({**manifest, "step": 9}))
    for name in ("state.json",):
        if (newer / name).exists():
            state = json.loads((newer / name).read_text())
            (newer / name).write_text(json.dumps({**state, "step": 9}))
    weights = bytearray((newer / "model.safetensors").read_bytes())
    weights[len(weights) // 2] ^= 1
    (newer / "model.safetensors").write_bytes(bytes(weights))


def _faceset_of_img0(w: World) -> None:
    """A face set holding the face of photos/img0.png, and a folder `again/` holding a copy of that image."""
    from masquerade.extract import ExtractConfig, extract

    extract([w.root / "photos" / "img0.png"], w.root / "fs_photos", ExtractConfig(size=64, min_face_size=0))
    (w.root / "again").mkdir()
    shutil.copy2(w.root / "photos" / "img0.png", w.root / "again" / "img0.png")


NOTE_OLDER = r"note: .*model: using the snapshot of step 2 .* because newer ones are damaged: .*step_0000009: model\.safetensors does not match"
TRAIN = "train {A} {B} -o {S}/model --model lite --device cpu --precision fp32 --batch-size 2"
CONVERT = "convert {CLIP} -m {M} --device cpu"

ROWS = {
    # usage mistakes: Typer's usage message, exit 2
    "steps-not-a-number": Row(TRAIN + " --steps abc", 2, r"Invalid value for '--steps'"),
    "missing-model-option": Row("convert {CLIP} -o {S}/out.mp4", 2, r"Missing option '-m'"),
    "unknown-flag": Row(TRAIN + " --steps 1 --bogus", 2, r"No such option: --bogus"),
    "missing-output-option": Row("extract {CLIP}", 2, r"Missing option '-o'"),
    # damaged face sets
    "faceset-json-list": Row(TRAIN + " --steps 1", 2, r"faceset\.json", setup=_write("fs_a/faceset.json", "[]")),
    "faceset-json-null": Row(TRAIN + " --steps 1", 2, r"faceset\.json", setup=_write("fs_a/faceset.json", "null")),
    "truncated-cache-is-rebuilt": Row(TRAIN + " --steps 1 --preview-every 0", 0, r"model at step 1",
                                      setup=_truncated_cache, may_change=("fs_a/cache_64.safetensors", "fs_b")),
    # numbers train refuses before any work
    "precision-bogus": Row(TRAIN.replace("--precision fp32", "--precision bogus") + " --steps 1", 2, r"bogus"),
    "batch-size-negative": Row(TRAIN.replace("--batch-size 2", "--batch-size -1") + " --steps 1", 2, r"batch"),
    "steps-zero": Row(TRAIN + " --steps 0", 2, r"steps"),
    "steps-negative": Row(TRAIN + " --steps -5", 2, r"steps"),
    "keep-zero": Row(TRAIN + " --steps 1 --keep 0", 2, r"keep"),
    "save-every-zero": Row(TRAIN + " --steps 1 --save-every 0", 2, r"--save-every must be a whole number >= 1, not 0"),
    "lr-nan": Row(TRAIN + " --steps 1 --lr nan", 2, r"nan|learning rate|--lr"),
    "identical-face-sets": Row(TRAIN.replace("{B}", "{W}/fs_twin") + " --steps 1", 2, r"same", setup=_twin),
    "same-face-set-twice": Row(TRAIN.replace("{B}", "{A}") + " --steps 1", 2, r"same"),
    "train-into-a-face-set": Row(TRAIN.replace("{S}/model", "{W}/fs_other") + " --steps 1", 2, r"fs_other",
                                 setup=lambda w: shutil.copytree(w.root / "fs_b", w.root / "fs_other")),
    "train-output-is-an-input": Row(TRAIN.replace("{S}/model", "{B}") + " --steps 1", 2, r"fs_b"),
    # outputs that are not ours
    "convert-into-someones-folder-adds-beside": Row("convert {PHOTOS} -m {M} --device cpu -o {STUFF}", 0,
                                                    r"2 frames", may_add=("my_stuff", "home/manifests")),
    "convert-over-someones-still-in-a-folder": Row("convert {PHOTOS} -m {M} --device cpu -o {STUFF}", 2, r"img1\.png",
                                                   setup=lambda w: shutil.copy2(w.root / "photos" / "img0.png",
                                                                                w.root / "my_stuff" / "img1.png"),
                                                   may_add=("my_stuff",)),
    "convert-into-inputs-parent": Row("convert {PHOTOS} -m {M} --device cpu -o {W}", 2, r"would contain the input"),
    "convert-folder-to-dotdot": Row("convert . -m {M} --device cpu -o ..", 2, r"would contain the input", cwd="{PHOTOS}"),
    "convert-folder-to-dot": Row("convert . -m {M} --device cpu -o .", 2, r"same path", cwd="{PHOTOS}"),
    "convert-image-to-dotdot": Row("convert img0.png -m {M} --device cpu -o ..", 2, r"converts to a file ending",
                                   cwd="{PHOTOS}"),
    "convert-video-to-dot": Row(CONVERT + " -o .", 2, r"converts to a file ending", cwd="{PHOTOS}"),
    "extract-into-someones-folder": Row("extract {CLIP} -o {STUFF}", 2, r"my_stuff"),
    "convert-over-someones-file": Row(CONVERT + " -o {W}/my_stuff/holiday.png", 2, r"holiday\.png"),
    # signing keys, checked before any work
    "key-corrupt": Row(CONVERT + " -o {S}/out.mp4", 2, r"signing_key\.pem",
                       setup=_key(lambda k: k.write_bytes(b"-----BEGIN PRIVATE KEY-----\ngarbage\n"))),
    "key-world-readable": Row(CONVERT + " -o {S}/out.mp4", 2, r"chmod 600", setup=_key(lambda k: k.chmod(0o644))),
    "key-missing": Row(CONVERT + " -o {S}/out.mp4", 2, r"signing_key\.pem missing", setup=_key(lambda k: k.unlink())),
    "key-corrupt-train": Row(TRAIN + " --steps 1 --preview-every 1", 2, r"signing_key\.pem",
                             setup=_key(lambda k: k.write_bytes(b"not a key"))),
    # missing things
    "model-missing": Row("convert {CLIP} -m {W}/nothing -o {S}/out.mp4 --device cpu", 2, r"nothing"),
    "verify-missing-file": Row("verify {W}/nothing.mp4", 2, r"no such file", verdict_line=True),
    # train-upscaler: refused before any work
    "upscaler-faceset-missing": Row("train-upscaler {W}/nothing -m {M} --side b --steps 1", 2, r"nothing"),
    "upscaler-model-missing": Row("train-upscaler {B} -m {W}/nothing --side b --steps 1", 2, r"nothing"),
    "upscaler-side-c": Row("train-upscaler {B} -m {M} --side c --steps 1", 2, r"--side"),
    "upscaler-steps-zero": Row("train-upscaler {B} -m {M} --side b --steps 0", 2, r"--steps"),
    "upscaler-small-crops": Row("train-upscaler {B} -m {M} --side b --steps 1", 2, r"--size 256"),
    "convert-upscale-bogus": Row(CONVERT + " -o {S}/out.mp4 --upscale on", 2, r"--upscale"),
    # --config FILE.toml and --arch-option: checked before any work, one line
    "config-unknown-setting": Row(CONVERT + " -o {S}/out.mp4 --config {W}/c.toml", 2, r"unknown setting 'colour'",
                                  setup=_write("c.toml", "[convert]\ncolour = 'rct'\n")),
    "config-bad-value": Row(TRAIN + " --steps 1 --config {W}/t.toml", 2, r"--keep must be a whole number >= 1",
                            setup=_write("t.toml", "[train]\nkeep = 0\n")),
    "config-not-toml": Row("extract {CLIP} -o {S}/fs --config {W}/e.toml", 2, r"not valid TOML",
                           setup=_write("e.toml", "[extract\n")),
    "arch-option-without-value": Row(TRAIN + " --steps 1 --arch-option variant", 2, r"key=value"),
    "arch-option-unknown": Row(TRAIN + " --steps 1 --arch-option widthh=3", 2, r"widthh"),
    # the web UI
    "ui-without-extra": Row("ui --workspace {S}/ws", 2, r"pip install 'masquerade\[ui\]'",
                            patch=lambda mp: mp.setitem(sys.modules, "gradio", None), quiet_stdout=True),
    "ui-public-without-login": Row("ui --host 0.0.0.0 --workspace {S}/ws", 2, r"without a login", quiet_stdout=True),
    "ui-auth-on-argv": Row("ui --auth ann:s3cret --workspace {S}/ws", 2, r"--auth was removed", quiet_stdout=True),
    # a damaged newest snapshot: every command that loads the model says which one it uses, and why
    "damaged-newest-snapshot-convert": Row(CONVERT + " -o {S}/out.mp4", 0, NOTE_OLDER, setup=_damaged_newest_snapshot,
                                           may_add=("home/manifests",)),
    "damaged-newest-snapshot-resume": Row(TRAIN.replace("{S}/model", "{M}") + " --steps 3 --preview-every 0", 0,
                                          r"^(?=.*model at step 3).*" + NOTE_OLDER, setup=_damaged_newest_snapshot,
                                          may_change=("model",)),
    # OS errors the user can fix: one line naming the path and the cause
    "name-too-long": Row("extract {CLIP} -o {S}/" + "a" * 300, 2, r"a{20}.*: the name is too long for the file system"),
    "path-through-a-file": Row("extract {CLIP} -o {W}/my_stuff/thesis.txt/fs", 2,
                               r"thesis\.txt/fs.*: a part of the path is a file, not a folder"),
    # a train that fails a check after its folder was claimed leaves no empty folder behind
    "train-bad-init-from-leaves-no-folder": Row(TRAIN + " --steps 1 --init-from {W}/nothing", 2, r"nothing",
                                                extra=lambda w, out: not (w.scratch / "model").exists() or
                                                pytest.fail("an empty model folder was left behind")),
    # faces the set already holds, reached through another path: nothing written, no "no face found"
    "extract-faces-already-in-the-set": Row("extract {W}/again -o {W}/fs_photos --size 64 --min-face-size 0", 0, r"1 already in the face set",
                                            setup=_faceset_of_img0,
                                            extra=lambda w, out: "no face found" not in out or
                                            pytest.fail("said 'no face found' for a face the set holds")),
    # our own bugs and Ctrl-C
    "unexpected-exception": Row("verify {CLIP}", 1, r"a bug in Masquerade.*ZeroDivisionError: planted bug.*traceback is in",
                                patch=_raise(ZeroDivisionError("planted bug")), may_change=("home/logs",),
                                extra=_crash_logged),
    "ctrl-c": Row("verify {CLIP}", 130, r"interrupted", patch=_raise(KeyboardInterrupt())),
}

PENDING: dict[str, str] = {}  # row -> the helper whose work it waits on (every row passes today)

SUBPROCESS = {  # rows also run as a fresh `masquerade` process: row -> Python run before the CLI starts
    "steps-not-a-number": "", "faceset-json-null": "", "convert-video-to-dot": "", "key-corrupt": "",
    "damaged-newest-snapshot-convert": "", "name-too-long": "", "save-every-zero": "",
    "ui-without-extra": "import sys; sys.modules['gradio'] = None",
}


# rows that train or take over ~5 s (a fresh interpreter, a video converted): left out of `pytest -m "not slow"`
SLOW = {"truncated-cache-is-rebuilt", "damaged-newest-snapshot-resume"}
SLOW_AS_A_COMMAND = {"damaged-newest-snapshot-convert", "key-corrupt", "convert-video-to-dot", "faceset-json-null"}


def _params(names, slow=frozenset()):
    return [pytest.param(n, id=n, marks=([waits_on(PENDING[n])] if n in PENDING else []) +
                         ([pytest.mark.slow] if n in slow else [])) for n in names]


def _prepare(world: World, row: Row) -> tuple[list[str], Path, dict]:
    names = world.names()
    if row.setup:
        row.setup(world)
    argv = [a.format(**names) for a in row.argv.split()]
    cwd = Path(row.cwd.format(**names))
    return argv, cwd, snapshot(world.root)


def _check(world: World, row: Row, code: int, out: str, err: str, before: dict) -> None:
    text = " ".join(BOXES.sub(" ", out + "\n" + err).split())
    assert code == row.code, f"exit {code}, expected {row.code}:\n{out}\n{err}"
    assert re.search(row.fragment, text, re.IGNORECASE), f"{row.fragment!r} not in:\n{text}"
    assert "Traceback" not in err and "Traceback" not in out
    if code == 2 and "Usage:" not in err and not row.verdict_line:  # a user mistake: one red line says it all
        lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
        assert len(lines) == 1 and re.search(row.fragment, lines[0], re.IGNORECASE), err
    if row.quiet_stdout:
        assert out.strip() == "", out
    assert changes(before, snapshot(world.root), row.may_change, row.may_add) == []
    if code != 0:
        leftovers = list(world.scratch.rglob("*"))  # files, and folders it made (an empty one too)
        assert leftovers == [], f"a failed command left {leftovers}"
    if row.extra:
        row.extra(world, text)


@pytest.mark.parametrize("name", _params(ROWS, SLOW))
def test_bad_input_in_process(name, world, monkeypatch, capsys):
    from masquerade import cli

    row = ROWS[name]
    argv, cwd, before = _prepare(world, row)
    if row.patch:
        row.patch(monkeypatch)
    monkeypatch.chdir(cwd)
    code = cli.main(argv)
    captured = capsys.readouterr()
    _check(world, row, code, captured.out, captured.err, before)


@pytest.mark.parametrize("name", _params(SUBPROCESS, SLOW | SLOW_AS_A_COMMAND))
def test_bad_input_as_a_command(name, world):
    """The installed command's path (`entry`), in a fresh interpreter: still one line, never a traceback."""
    row = ROWS[name]
    argv, cwd, before = _prepare(world, row)
    code = (f"{SUBPROCESS[name]}\nimport sys\nfrom masquerade.cli import entry\n"
            f"sys.argv = ['masquerade'] + {argv!r}\nentry()\n")
    env = {**os.environ, "MASQUERADE_HOME": str(world.home), "COLUMNS": "200"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    _check(world, row, proc.returncode, proc.stdout, proc.stderr, before)


def test_help_does_not_import_torch():
    """`--help` stays instant: the stages (and torch) load only when a command runs."""
    code = ("import sys\nfrom masquerade.cli import main\nrc = main(['train', '--help'])\n"
            "assert rc == 0, rc\nassert 'torch' not in sys.modules and 'gradio' not in sys.modules\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "--keep" in proc.stdout and "--steps" in proc.stdout


def test_train_passes_keep_and_prints_the_stages_notes(tmp_path, monkeypatch, capsys):
    """--keep reaches TrainConfig, and a note the stage returns (e.g. a fallback to an older snapshot) is shown."""
    from types import SimpleNamespace

    from masquerade import cli

    seen = {}

    def fake_train(a, b, out, config, progress=None, should_stop=None):
        seen["config"] = config
        return SimpleNamespace(world_size=1, step=7, steps_run=2, samples_per_second=1.0, precision="fp32", loss_a=0.1,
                               loss_b=0.2, model_dir=out, last_preview=None,
                               notes=["resumed from snapshot 5: snapshot 7 [is damaged]"])

    monkeypatch.setattr("masquerade.train.train", fake_train)
    assert cli.main(["train", "a", "b", "-o", str(tmp_path / "m"), "--keep", "5"]) == 0
    assert seen["config"].keep == 5
    captured = capsys.readouterr()
    assert "note: resumed from snapshot 5: snapshot 7 [is damaged]" in captured.err  # markup-safe, on stderr
    assert "model at step 7" in captured.out


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MiB file system of its own (tmpfs), so a test can fill it; needs root, as CI and this project's
    machines run. Unmounted afterwards."""
    mount = tmp_path / "small_disk"
    mount.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({proc.stderr.strip() or proc.returncode}); the message itself "
                    "is tested by test_signing_on_a_full_disk_says_so")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.slow
@pytest.mark.parametrize("room", [0.5, 1.5])  # too little for the video; enough for it but not its signed copy
def test_a_full_disk_during_convert_is_one_line_saying_where(world, small_disk, room):
    first = world.scratch / "sized.mp4"
    env = {**os.environ, "MASQUERADE_HOME": str(world.home), "COLUMNS": "300"}
    argv = [sys.executable, "-m", "masquerade", "convert", str(world.root / "clip.mp4"), "-m", str(world.root / "model"),
            "--device", "cpu", "-o"]
    assert subprocess.run(argv + [str(first)], env=env, capture_output=True, timeout=300).returncode == 0
    size = first.stat().st_size
    free = os.statvfs(small_disk)
    filler = small_disk / "filler"
    filler.write_bytes(b"\0" * max(0, free.f_bavail * free.f_frsize - int(room * size)))
    proc = subprocess.run(argv + [str(small_disk / "out.mp4")], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and str(small_disk) in lines[0] and "full" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr and "UntrackedPointer" not in proc.stderr
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler"]  # nothing half-written left behind


def test_signing_on_a_full_disk_says_so(tmp_path, monkeypatch):
    """The signing library reports a full disk as an opaque I/O error; the message names the disk and the room."""
    import shutil as _shutil
    from collections import namedtuple

    from masquerade.provenance import manifest

    src = tmp_path / "video.mp4"
    src.write_bytes(b"\0" * 300_000)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(_shutil, "disk_usage", lambda path: usage(10 << 20, 10 << 20, 1000))
    text = manifest._disk_full(src, tmp_path / "out.mp4")
    assert text and str(tmp_path) in text and "full" in text and "0.3 MB" in text
    monkeypatch.setattr(_shutil, "disk_usage", lambda path: usage(10 << 20, 0, 10 << 20))
    assert manifest._disk_full(src, tmp_path / "out.mp4") is None
