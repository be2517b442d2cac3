"""Shared fixtures: a synthetic harmonic signal, the real utterance shipped in pysptk, the
corpora beside the checkout (tests that need them skip with a reason when absent)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pysptk
import pytest
import soundfile as sf

import speechvae  # noqa: F401  (sets the pkg_resources warning filter before pysptk loads)
from speechvae.config import AnalysisConfig, load_config

FS = 16000
CORPORA = Path(__file__).resolve().parents[1].parent / "shared" / "corpora"
AISHELL = CORPORA / "aishell1_S0913"
ARCTIC = CORPORA / "cmu_arctic"


def harmonic(seconds: float = 0.6, f0: float = 120.0, fs: int = FS, seed: int = 0) -> np.ndarray:
    """A voiced-like test signal: decaying harmonics of f0 with slow vibrato plus a little noise."""
    t = np.arange(int(seconds * fs)) / fs
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.03 * np.sin(2 * np.pi * 3 * t))) / fs
    x = sum(np.sin(k * phase) / k for k in range(1, 30) if k * f0 < fs / 2)
    x = 0.3 * x / np.max(np.abs(x))
    return x + 0.003 * np.random.default_rng(seed).standard_normal(len(t))


@pytest.fixture
def harmonic_wav(tmp_path) -> Path:
    p = tmp_path / "spk" / "harm.wav"
    p.parent.mkdir()
    sf.write(p, harmonic(), FS, subtype="PCM_16")
    return p


@pytest.fixture(scope="session")
def example_wav() -> Path:
    return Path(pysptk.util.example_audio_file())


@pytest.fixture
def acfg() -> AnalysisConfig:
    return AnalysisConfig()


@pytest.fixture(scope="session")
def aishell() -> Path:
    if not AISHELL.is_dir():
        pytest.skip(f"real-speech corpus not found at {AISHELL} (see ../shared/corpora/README.md)")
    return AISHELL


@pytest.fixture(scope="session")
def arctic() -> Path:
    if not ARCTIC.is_dir():
        pytest.skip(f"real-speech corpus not found at {ARCTIC} (see ../shared/corpora/README.md)")
    return ARCTIC


def tiny_config(**sets):
    """A small, fast model config for tests."""
    over = ["model.hidden=[32, 16]", "model.latent=8", "train.epochs=3", "train.batch_size=64",
            "train.probe_frames=256"] + [f"{k}={v}" for k, v in sets.items()]
    return load_config(None, over)


@pytest.fixture(scope="session")
def three_part_featdir(tmp_path_factory, example_wav) -> Path:
    """The pysptk utterance cut into three utterances part0..part2, analysed (default settings)."""
    from speechvae.analysis.corpus import analyze_corpus
    from speechvae.analysis.inputs import collect_inputs

    root = tmp_path_factory.mktemp("corpus")
    x, fs = sf.read(example_wav)
    wavs = root / "spk"
    wavs.mkdir()
    for i, part in enumerate(np.array_split(x, 3)):
        sf.write(wavs / f"part{i}.wav", part, fs)
    out = root / "feats"
    rep = analyze_corpus(collect_inputs([wavs]), out, AnalysisConfig(), progress=False)
    assert not rep.failures
    return out
