"""The newcomer's path: each usual mistake gets one clear line and exit 2 (never a traceback), Ctrl-C
exits 130 saying how to go on, nothing trained or analysed is lost without --overwrite, output files
follow the umask, and the help says what every option does."""
import argparse
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import FS, harmonic

from speechvae.analysis.inputs import collect_inputs
from speechvae.analysis.splits import write_split_lists
from speechvae.analysis.stats import Stats
from speechvae.cli import build_parser, main
from speechvae.models.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "speechvae.cli"]
TINY = ["--set", "model.hidden=[32,16]", "--set", "model.latent=4", "--set", "train.valid_fraction=0.34"]


def _sigint_default() -> None:
    """Popen preexec_fn: SIGINT back to its default in the child. A shell that starts this suite in the background
    (`make test &` in a script) starts it with SIGINT ignored; the child would inherit that, Python would keep it, and
    the Ctrl-C tests would fail for a reason that is not the code's."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _wavs(root: Path, n: int, seconds: float = 0.6) -> Path:
    d = root / "wavs" / "spk"
    d.mkdir(parents=True)
    for i in range(n):
        sf.write(d / f"utt{i:02d}.wav", harmonic(seconds, f0=100 + 7 * i, seed=i), FS, subtype="PCM_16")
    return d


@pytest.fixture(scope="module")
def trained(tmp_path_factory, three_part_featdir):
    exp = tmp_path_factory.mktemp("exp") / "exp"
    assert main(["train", str(three_part_featdir), "-o", str(exp), "--epochs", "2", *TINY]) == 0
    return three_part_featdir, exp


def _not_a_checkpoint(tmp_path: Path, kind: str, example_wav: Path, exp: Path) -> Path:
    if kind == "wav":
        return example_wav
    if kind == "config.yaml":
        return exp / "config.yaml"
    if kind == "text":
        (tmp_path / "notes.txt").write_text("hello\n")
        return tmp_path / "notes.txt"
    if kind == "foreign dict .pt":
        torch.save({"state_dict": {"w": torch.zeros(2)}}, tmp_path / "other.pt")
        return tmp_path / "other.pt"
    if kind == "tensor .pt":
        torch.save(torch.zeros(3), tmp_path / "t.pt")
        return tmp_path / "t.pt"
    (tmp_path / "empty").mkdir()
    return tmp_path / "empty"


@pytest.mark.parametrize("kind", ["wav", "config.yaml", "text", "foreign dict .pt", "tensor .pt", "empty folder"])
@pytest.mark.parametrize("command", ["resynth", "evaluate", "plot"])
def test_model_flag_refuses_what_is_not_a_checkpoint(tmp_path, trained, example_wav, caplog, kind, command):
    featdir, exp = trained
    bad = _not_a_checkpoint(tmp_path, kind, example_wav, exp)
    args = {"resynth": ["resynth", str(featdir), "--model", str(bad), "-o", str(tmp_path / "w")],
            "evaluate": ["evaluate", "--model", str(bad), str(featdir), "-o", str(tmp_path / "m.json")],
            "plot": ["plot", "--model", str(bad), str(featdir), "-o", str(tmp_path / "p")]}[command]
    assert main(args) == 2  # an exception (a traceback for the user) would fail the test here
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and str(bad) in errors[0]
    assert "--model takes an experiment folder" in errors[0] or "no checkpoint here" in errors[0]
    assert not (tmp_path / "w").exists() and not (tmp_path / "m.json").exists()


def test_train_never_replaces_a_model_without_overwrite(tmp_path, three_part_featdir, caplog):
    exp = tmp_path / "exp"
    base = ["train", str(three_part_featdir), "-o", str(exp), *TINY]
    assert main([*base, "--epochs", "3"]) == 0
    before = (exp / "checkpoint.pt").read_bytes()
    assert main([*base, "--epochs", "1"]) == 2
    assert "already holds a model trained for 3 epoch(s)" in caplog.text and "--overwrite" in caplog.text
    assert (exp / "checkpoint.pt").read_bytes() == before
    assert main(["train", str(three_part_featdir), "-o", str(tmp_path / "none"), "--resume", *TINY]) == 2
    assert "no checkpoint.pt to resume" in caplog.text and not (tmp_path / "none").exists()
    assert main([*base, "--epochs", "1", "--overwrite"]) == 0
    assert load_checkpoint(exp).epoch == 1


def test_resume_and_overwrite_exclude_each_other(three_part_featdir, tmp_path):
    with pytest.raises(SystemExit) as e:
        main(["train", str(three_part_featdir), "-o", str(tmp_path), "--resume", "--overwrite"])
    assert e.value.code == 2


def test_ctrl_c_during_train_exits_130_and_says_how_to_resume(tmp_path, three_part_featdir):
    exp = tmp_path / "exp"
    args = ["train", str(three_part_featdir), "-o", str(exp), "--epochs", "5000", *TINY]
    p = subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=_sigint_default)
    try:
        t0 = time.monotonic()
        while not (exp / "checkpoint.pt").exists() and time.monotonic() - t0 < 60:
            time.sleep(0.05)
        time.sleep(0.3)
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=60)
    finally:
        p.kill()  # a run that ignored the signal must not train on after the test
    assert p.returncode == 130, err[-2000:]
    assert "Traceback" not in err
    epoch = load_checkpoint(exp).epoch
    assert 1 <= epoch < 5000  # interrupted mid-run, the last finished epoch kept
    hint = re.search(r"checkpoint of epoch (\d+) is kept; continue with: speechvae (.*) --resume$", err, re.M)
    assert hint and int(hint.group(1)) == epoch, err[-1000:]
    # the suggested command (with fewer epochs, so that it ends) continues the run
    again = shlex.split(hint.group(2).replace("--epochs 5000", f"--epochs {epoch + 2}")) + ["--resume"]
    assert subprocess.run([*CLI, *again], capture_output=True).returncode == 0
    assert load_checkpoint(exp).epoch == epoch + 2


def test_ctrl_c_on_a_parallel_analyze_stops_it_without_tracebacks(tmp_path):
    """As a terminal does: SIGINT to the whole process group (the parent and its pool workers)."""
    wavs = _wavs(tmp_path, 24, seconds=1.0)
    out = tmp_path / "f"
    p = subprocess.Popen([*CLI, "analyze", str(wavs), "-o", str(out), "-j", "2"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, start_new_session=True, preexec_fn=_sigint_default)
    try:
        t0 = time.monotonic()
        while not any((out / "feats").glob("*.npz")) and time.monotonic() - t0 < 60:
            time.sleep(0.02)
        os.killpg(p.pid, signal.SIGINT)
        _, err = p.communicate(timeout=60)
    finally:
        p.kill()
    assert p.returncode == 130, err[-2000:]
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert "interrupted" in err
    assert len(list((out / "feats").glob("*.npz"))) < 24  # queued files were dropped, not all analysed
    # re-running the same command finishes the job
    assert subprocess.run([*CLI, "analyze", str(wavs), "-o", str(out), "-j", "2"], capture_output=True).returncode == 0
    assert len(list((out / "feats").glob("*.npz"))) == 24


def _modes(folder: Path) -> set[int]:
    return {p.stat().st_mode & 0o777 for p in folder.rglob("*") if p.is_file()}


def test_output_files_follow_the_umask(tmp_path):
    wavs = _wavs(tmp_path, 3)

    def run(umask, *args):
        subprocess.run([*CLI, *args], check=True, capture_output=True, preexec_fn=lambda: os.umask(umask))

    run(0o022, "analyze", str(wavs), "-o", str(tmp_path / "f"))
    run(0o022, "train", str(tmp_path / "f"), "-o", str(tmp_path / "e"), "--epochs", "1", *TINY)
    run(0o022, "resynth", str(tmp_path / "f"), "--model", str(tmp_path / "e"), "-o", str(tmp_path / "w"))
    run(0o022, "plot", "--model", str(tmp_path / "e"), str(tmp_path / "f"), "-o", str(tmp_path / "p"))
    for d in ("f", "e", "w", "p"):
        assert _modes(tmp_path / d) == {0o644}, d  # features, checkpoint, logs, wavs, PNGs
    run(0o077, "analyze", str(wavs), "-o", str(tmp_path / "private"))
    assert _modes(tmp_path / "private") == {0o600}


@pytest.mark.parametrize("kind", ["markdown", "binary", "bad --set value"])
def test_config_flag_refuses_what_is_not_a_config(three_part_featdir, example_wav, tmp_path, caplog, kind):
    """--config README.md, --config a.wav, or a --set value YAML cannot parse: one line naming it, exit 2."""
    (tmp_path / "notes.md").write_text("# notes\n\n```bash\nmake demo\n```\nmodel: [\n")
    flag = {"markdown": ["--config", str(tmp_path / "notes.md")], "binary": ["--config", str(example_wav)],
            "bad --set value": ["--set", "model.hidden=[32,16"]}[kind]
    assert main(["train", str(three_part_featdir), "-o", str(tmp_path / "e"), *flag]) == 2
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and flag[1] in errors[0] and "\n" not in errors[0], errors
    assert {"markdown": "not valid YAML", "binary": "not a text file", "bad --set value": "not YAML"}[kind] in errors[0]
    assert not (tmp_path / "e").exists()


def test_missing_input_paths_are_refused_before_any_output(tmp_path, caplog):
    assert main(["lists", str(tmp_path / "nope"), "-o", str(tmp_path / "lists")]) == 2
    assert not (tmp_path / "lists").exists()
    assert main(["analyze", str(tmp_path / "nope.wav"), "-o", str(tmp_path / "feats")]) == 2
    assert not (tmp_path / "feats").exists()
    assert caplog.text.count("no such file or folder") == 2


def test_train_on_a_wav_folder_says_to_analyze_first(tmp_path, caplog):
    wavs = _wavs(tmp_path, 2)
    assert main(["train", str(wavs), "-o", str(tmp_path / "e")]) == 2
    assert "is not a feature folder" in caplog.text and "speechvae analyze" in caplog.text


@pytest.mark.parametrize("n, sizes", [(20, (16, 2, 2)), (17, (15, 1, 1)), (10, (8, 1, 1)), (80, (64, 8, 8))])
def test_small_corpora_keep_most_utterances_for_training(tmp_path, n, sizes):
    (tmp_path / "w").mkdir()
    for i in range(n):
        (tmp_path / "w" / f"u{i:02d}.wav").write_bytes(b"")  # lists only look at names
    counts = write_split_lists(collect_inputs([tmp_path / "w"]), tmp_path / "l", 8, 8)
    assert (counts["train"], counts["dev"], counts["eval"]) == sizes
    lists = {k: (tmp_path / "l" / f"{k}.list").read_text().split("\n")[:-1] for k in ("train", "dev", "eval")}
    assert not set(lists["train"]) & set(lists["eval"]) and not set(lists["dev"]) & set(lists["eval"])


def test_every_option_has_help_and_the_help_is_for_users(capsys):
    parser = build_parser()
    subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, p in subs.choices.items():
        for a in p._actions:
            if not isinstance(a, argparse._HelpAction):
                assert a.help, f"{name} {a.option_strings or a.dest}: no help"
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "add_arguments" not in out and "Exit codes" in out
    with pytest.raises(SystemExit):
        main(["analyze", "--help"])
    out = capsys.readouterr().out
    assert "(default: 1)" in out and "default 71 Hz" in out  # -j and the F0 floor show their defaults


def test_quiet_has_no_bars_and_log_lines_start_on_their_own_line(tmp_path):
    wavs = _wavs(tmp_path, 3)
    r = subprocess.run([*CLI, "-q", "analyze", str(wavs), "-o", str(tmp_path / "q")], capture_output=True, text=True)
    assert r.returncode == 0 and r.stderr == ""
    r = subprocess.run([*CLI, "train", str(tmp_path / "q"), "-o", str(tmp_path / "e"), "--epochs", "30", *TINY],
                       capture_output=True, text=True)
    assert r.returncode == 0
    lines = r.stderr.replace("\r", "\n").split("\n")
    glued = [ln for ln in lines if "speechvae INFO" in ln and not re.match(r"^\d\d:\d\d:\d\d speechvae INFO", ln)]
    assert glued == []
    assert r.stderr.count("\r") <= 4  # piped: the bar is drawn a few times, not once per epoch


def test_stats_and_training_for_another_order(tmp_path):
    wavs = _wavs(tmp_path, 3)
    assert main(["analyze", str(wavs), "-o", str(tmp_path / "f"), "--set", "analysis.order=24"]) == 0
    assert main(["stats", str(tmp_path / "f"), "-o", str(tmp_path / "s.npz")]) == 0
    s = Stats.load(tmp_path / "s.npz")
    assert s.mcep_mean.shape == s.mcep_gv.shape == (24,)
    assert main(["train", str(tmp_path / "f"), "-o", str(tmp_path / "e"), "--epochs", "1", *TINY]) == 0


@pytest.mark.slow
def test_folder_recipe_on_a_small_corpus_with_a_broken_wav_and_order_24(tmp_path):
    wavs = _wavs(tmp_path, 10)
    (wavs / "utt03b.wav").write_text("not audio")  # sorts into the training part
    conf = tmp_path / "tiny.yaml"
    conf.write_text("analysis:\n  order: 24\nmodel:\n  hidden: [32, 16]\n  latent: 4\ntrain:\n  epochs: 2\n")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    run = lambda *a: subprocess.run(["bash", str(ROOT / "recipes/folder/run.sh"), "--wavdir", str(wavs),
                                     "--name", "small", "--conf", str(conf), *a], cwd=tmp_path, env=env,
                                    capture_output=True, text=True, timeout=600)
    r = run()
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "utt03b.wav: not a readable audio file" in r.stderr and "going on without them" in r.stdout
    data = tmp_path / "data/small"
    assert [len((data / "lists" / f"{n}.list").read_text().splitlines()) for n in ("train", "dev", "eval")] == [9, 1, 1]
    assert len((data / "feats/lists/train.list").read_text().splitlines()) == 8
    m = json.loads((data / "exp/tiny/metrics.json").read_text())
    assert list(m["per_utterance"]) == ["utt09"] and m["held_out"] is True and np.isfinite(m["mcd_db"])
    assert load_checkpoint(data / "exp/tiny").stats.mcep_mean.shape == (24,)
    r = run("--stage", "2")  # a later stage alone: the broken wav stays left out, training is not redone
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert load_checkpoint(data / "exp/tiny").epoch == 2
