"""Nothing lost: SIGKILL at a random point, re-run the same command, get what an uninterrupted run
gets; no partial file is ever visible under its final name."""
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import soundfile as sf
import torch
from conftest import FS, harmonic

from speechvae.analysis.features import Features
from speechvae.models.checkpoint import load_checkpoint
from speechvae.store import HOST, OTHER_HOST_STALE_S, atomic_path, atomic_write_text, remove_stale_tmp

CLI = [sys.executable, "-m", "speechvae.cli"]


def _corpus(root: Path, n: int = 8) -> Path:
    d = root / "wavs" / "spk"
    d.mkdir(parents=True)
    for i in range(n):
        sf.write(d / f"utt{i:02d}.wav", harmonic(0.8 + 0.1 * i, f0=100 + 10 * i, seed=i), FS, subtype="PCM_16")
    return d


def _kill_when(cmd, started, delay: float, timeout: float = 120.0) -> int:
    """Start ``cmd``, wait until ``started()`` says its work is under way, sleep ``delay`` s more,
    SIGKILL it. Returns the exit status (-9 when the kill landed on a running process)."""
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.monotonic()
    while not started() and p.poll() is None and time.monotonic() - t0 < timeout:
        time.sleep(0.02)
    time.sleep(delay)
    p.send_signal(signal.SIGKILL)
    return p.wait()


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "x.npz"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []
    atomic_write_text(target, "ok")
    assert target.read_text() == "ok" and len(list(tmp_path.iterdir())) == 1


@pytest.mark.parametrize("seed", [0, 1])
def test_analyze_killed_and_rerun_is_byte_identical(tmp_path, seed):
    wavs = _corpus(tmp_path)
    ref, cut = tmp_path / "ref", tmp_path / "cut"
    subprocess.run([*CLI, "analyze", str(wavs), "-o", str(ref)], check=True, capture_output=True)
    first = cut / "feats" / "utt00.npz"
    delay = random.Random(seed).uniform(0.0, 0.5)  # the first file is stored: kill during the others
    rc = _kill_when([*CLI, "analyze", str(wavs), "-o", str(cut)], first.exists, delay)
    done = sorted((cut / "feats").glob("*.npz"))
    # the kill landed mid-run: the process died of it, some files are stored, and not all of them
    assert rc == -signal.SIGKILL and 1 <= len(done) < 8, (rc, len(done))
    assert not (cut / "manifest.tsv").exists()
    for f in done:  # whatever is visible under a final name is complete
        Features.load(f)
    subprocess.run([*CLI, "analyze", str(wavs), "-o", str(cut)], check=True, capture_output=True)
    assert list(cut.rglob(".*.tmp")) == []  # the re-run cleared what the kill left half-written
    names = sorted(p.relative_to(ref) for p in ref.rglob("*") if p.is_file() and p.suffix != ".png")
    assert names == sorted(p.relative_to(cut) for p in cut.rglob("*") if p.is_file() and p.suffix != ".png")
    for n in names:
        assert (ref / n).read_bytes() == (cut / n).read_bytes(), n


@pytest.fixture(scope="module")
def small_feats(tmp_path_factory):
    root = tmp_path_factory.mktemp("k")
    wavs = _corpus(root, 4)
    subprocess.run([*CLI, "analyze", str(wavs), "-o", str(root / "f")], check=True, capture_output=True)
    return root / "f"


@pytest.mark.parametrize("seed", [0, 1])
def test_train_killed_and_resumed_gives_the_same_weights(tmp_path, small_feats, seed):
    args = ["train", str(small_feats), "--epochs", "40", "--set", "model.hidden=[64, 32]",
            "--set", "model.latent=8", "--set", "train.batch_size=32", "--set", "train.valid_fraction=0.25"]
    subprocess.run([*CLI, *args, "-o", str(tmp_path / "ref")], check=True, capture_output=True)
    cut = tmp_path / "cut"
    delay = random.Random(seed).uniform(0.0, 0.3)  # an epoch takes ~0.05 s: kill a few epochs in
    rc = _kill_when([*CLI, *args, "-o", str(cut)], (cut / "checkpoint.pt").exists, delay)
    assert rc == -signal.SIGKILL, rc  # killed while running, not after it finished
    killed_at = load_checkpoint(cut).epoch  # a checkpoint under its final name is always loadable
    assert 1 <= killed_at < 40
    subprocess.run([*CLI, *args, "--resume", "-o", str(cut)], check=True, capture_output=True)
    a, b = load_checkpoint(tmp_path / "ref"), load_checkpoint(cut)
    assert a.epoch == b.epoch == 40
    for k, v in a.model_state.items():
        torch.testing.assert_close(b.model_state[k], v, rtol=0, atol=0)
    assert [r["valid_loss"] for r in a.history] == [r["valid_loss"] for r in b.history]
    assert list(cut.glob(".*")) == []  # the resumed run cleared what the kill left half-written


def test_a_rerun_removes_what_a_killed_run_left_half_written(tmp_path):
    wavs = _corpus(tmp_path, 2)
    out = tmp_path / "f"
    subprocess.run([*CLI, "analyze", str(wavs), "-o", str(out)], check=True, capture_output=True)
    stale = [out / ".manifest.tsv.x1.tmp", out / "feats" / ".utt00.npz.x2.tmp"]
    for p in stale:
        p.write_bytes(b"half")
    keep = out / "feats" / "notes.tmp"  # not one of ours (no leading dot): left alone
    keep.write_text("mine")
    with subprocess.Popen(["sleep", "60"]) as live:  # a process writing into the same folder, still at it
        busy = out / "feats" / f".utt01.npz.@{HOST}-{live.pid}@x3.tmp"
        busy.write_bytes(b"being written")
        subprocess.run([*CLI, "analyze", str(wavs), "-o", str(out)], check=True, capture_output=True)
        live.kill()
    assert not any(p.exists() for p in stale) and keep.exists() and busy.exists()


def test_only_the_files_of_runs_that_are_gone_count_as_stale(tmp_path):
    """A temporary name says which process on which machine writes it: its file is removed once that process is
    gone (here: one that has exited), kept while it lives; another machine's is kept for a day (its processes cannot
    be seen from here); a name that does not say (written before names did) is removed as before."""
    with subprocess.Popen(["true"]) as done:
        pass  # exited and reaped: its pid names no process now
    with subprocess.Popen(["sleep", "60"]) as live:
        files = {"live": f".a.npz.@{HOST}-{live.pid}@r1.tmp", "gone": f".b.npz.@{HOST}-{done.pid}@r2.tmp",
                 "unnamed": ".c.npz.r3.tmp", "other host, recent": ".d.npz.@elsewhere-1@r4.tmp",
                 "other host, old": ".e.npz.@elsewhere-1@r5.tmp"}
        for name in files.values():
            (tmp_path / name).write_bytes(b"half")
        old = time.time() - OTHER_HOST_STALE_S - 60
        os.utime(tmp_path / files["other host, old"], (old, old))
        removed = {p.name for p in remove_stale_tmp(tmp_path)}
        live.kill()
    assert removed == {files[k] for k in ("gone", "unnamed", "other host, old")}
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(files[k] for k in ("live", "other host, recent"))
