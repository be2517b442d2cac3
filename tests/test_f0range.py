"""analyze --f0-ranges auto: per-speaker F0 ranges found by a first pass, on synthetic speakers whose F0 is known."""
import logging

import numpy as np
import pytest
import soundfile as sf
from conftest import FS, harmonic

from speechvae.analysis.corpus import read_f0_ranges
from speechvae.analysis.f0range import CEIL_FACTOR, FLOOR_FACTOR, MIN_VOICED_FRAMES, range_from_f0
from speechvae.analysis.featdir import feature_path, speakers
from speechvae.analysis.features import Features
from speechvae.cli import main
from speechvae.config import AnalysisConfig


def _true_f0(seconds: float, f0: float) -> np.ndarray:
    """The F0 contour conftest.harmonic generates (3% vibrato at 3 Hz), sampled every 5 ms."""
    t = np.arange(0, seconds, 0.005)
    return f0 * (1 + 0.03 * np.sin(2 * np.pi * 3 * t))


def test_range_from_f0_is_the_percentiles_with_their_margins():
    voice = np.linspace(120, 180, 1000)
    errors = [70.0] * 20 + [400.0] * 20  # a few octave errors of the first pass: percentiles, not extremes, ignore them
    f0 = np.concatenate([voice, np.zeros(300), errors])
    lo, hi = np.percentile(np.concatenate([voice, errors]), [5, 95])  # by hand: 121.92 and 178.08 Hz
    assert lo == pytest.approx(120 + 31.95 * 60 / 999) and hi == pytest.approx(120 + 967.05 * 60 / 999)
    assert range_from_f0(f0, 50, 800) == (round(FLOOR_FACTOR * lo), round(CEIL_FACTOR * hi)) == (91, 356)
    assert range_from_f0(f0, 100, 300) == (100, 300)  # kept inside the configured search range
    assert range_from_f0(np.full(MIN_VOICED_FRAMES - 1, 120.0), 50, 800) is None


def test_auto_ranges_follow_each_speakers_voice(tmp_path, caplog):
    voices = {"low": 100.0, "high": 230.0}
    for spk, f0 in voices.items():
        (tmp_path / "wav" / spk).mkdir(parents=True)
        for i in range(3):
            sf.write(tmp_path / "wav" / spk / f"{spk}{i}.wav", harmonic(1.5, f0, seed=i), FS, subtype="PCM_16")
    (tmp_path / "wav" / "mute").mkdir()  # a speaker with nothing voiced: keeps the configured range
    sf.write(tmp_path / "wav" / "mute" / "m0.wav", 0.01 * np.random.default_rng(0).standard_normal(FS), FS)
    feat = tmp_path / "feat"
    with caplog.at_level(logging.INFO, logger="speechvae"):
        assert main(["analyze", str(tmp_path / "wav"), "-o", str(feat), "--f0-ranges", "auto", "--f0", "dio"]) == 0
    ranges = read_f0_ranges(feat / "f0_ranges.txt", AnalysisConfig())  # the user's own format, read back
    assert set(ranges) == {"low", "high"}
    assert any("speaker mute" in r.getMessage() and "keeps 71-800 Hz" in r.getMessage() for r in caplog.records)
    for spk, f0 in voices.items():
        lo, hi = np.percentile(_true_f0(1.5, f0), [5, 95])  # the known contour, not the analysis
        assert ranges[spk][0] == pytest.approx(FLOOR_FACTOR * lo, rel=0.03), spk
        assert ranges[spk][1] == pytest.approx(CEIL_FACTOR * hi, rel=0.03), spk
    # the analysis proper used them: the high voice's F0 never goes below its floor, which lies above the default 71
    high = [Features.load(feature_path(feat, u)).f0 for u in speakers(feat)["high"]]
    assert ranges["high"][0] > 150 and min(f[f > 0].min() for f in high) >= ranges["high"][0]
    # a second run into the same folder finds the same ranges and accepts the folder
    assert main(["-q", "analyze", str(tmp_path / "wav"), "-o", str(feat), "--f0-ranges", "auto", "--f0", "dio"]) == 0
    assert read_f0_ranges(feat / "f0_ranges.txt", AnalysisConfig()) == ranges
