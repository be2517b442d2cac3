"""Nothing lost: SIGKILL at a random point, re-run the same command, get what an uninterrupted run
gets; no partial file is ever visible under its final name."""
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from speechvae.checkpoint import load_checkpoint
from speechvae.features import Features
from speechvae.store import atomic_path, atomic_write_text

from conftest import FS, harmonic

CLI = [sys.executable, "-m", "speechvae.cli"]


def _corpus(root: Path, n: int = 8) -> Path:
    d = root / "wavs" / "spk"
    d.mkdir(parents=True)
    for i in range(n):
        sf.write(d / f"utt{i:02d}.wav", harmonic(0.8 + 0.1 * i, f0=100 + 10 * i, seed=i), FS, subtype="PCM_16")
    return d


def _kill_during(cmd, seconds: float) -> int:
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(seconds)
    if p.poll() is None:
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
    delay = random.Random(seed).uniform(2.5, 5.0)  # after start-up, during the per-file work
    _kill_during([*CLI, "analyze", str(wavs), "-o", str(cut)], delay)
    done = sorted((cut / "feats").glob("*.npz")) if (cut / "feats").exists() else []
    for f in done:  # whatever is visible under a final name is complete
        Features.load(f)
    subprocess.run([*CLI, "analyze", str(wavs), "-o", str(cut)], check=True, capture_output=True)
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
    args = ["train", str(small_feats), "--epochs", "40", "--resume", "--set", "model.hidden=[64, 32]",
            "--set", "model.latent=8", "--set", "train.batch_size=32", "--set", "train.valid_fraction=0.25"]
    subprocess.run([*CLI, *args, "-o", str(tmp_path / "ref")], check=True, capture_output=True)
    cut = tmp_path / "cut"
    delay = random.Random(seed).uniform(4.0, 7.0)
    _kill_during([*CLI, *args, "-o", str(cut)], delay)
    if (cut / "checkpoint.pt").exists():  # a checkpoint under its final name is always loadable
        assert 1 <= load_checkpoint(cut).epoch <= 40
    subprocess.run([*CLI, *args, "-o", str(cut)], check=True, capture_output=True)
    a, b = load_checkpoint(tmp_path / "ref"), load_checkpoint(cut)
    assert a.epoch == b.epoch == 40
    for k, v in a.model_state.items():
        torch.testing.assert_close(b.model_state[k], v, rtol=0, atol=0)
    assert [r["valid_loss"] for r in a.history] == [r["valid_loss"] for r in b.history]
    leftovers = [p.name for p in cut.iterdir() if p.name.startswith(".")]
    assert leftovers == [] or all(p.endswith(".tmp") for p in leftovers)
