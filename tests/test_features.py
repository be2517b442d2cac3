"""WORLD analysis / synthesis on real and synthetic speech."""
import dataclasses

import numpy as np
import pytest
from conftest import FS, harmonic

from speechvae.analysis.features import (
    FeatureMismatchError,
    Features,
    analyze_waveform,
    check_compatible,
    resolve_analysis,
    vocode,
    wav2features,
)
from speechvae.config import AnalysisConfig
from speechvae.evaluation.metrics import mcd_db
from speechvae.store import StoreError


@pytest.fixture(scope="module")
def real(example_wav):
    return wav2features(example_wav, AnalysisConfig())


@pytest.mark.parametrize("method", ["harvest", "dio"])
@pytest.mark.parametrize("seconds", [0.01, 0.3, 1.234])
def test_all_streams_share_frame_count(method, seconds):
    cfg = AnalysisConfig(f0_method=method)
    f = analyze_waveform(harmonic(seconds), cfg)
    expected = int(len(harmonic(seconds)) / FS * 1000 / cfg.frame_period) + 1
    assert len(f.f0) == len(f.mcep) == len(f.bap) == len(f.power_db) == expected


def test_real_speech_features(real):
    assert real.mcep.shape == (801, 40)  # 4.0 s at 5 ms; order 39 -> c0..c39
    assert real.bap.shape == (801, 1)  # 16 kHz: one coded aperiodicity band
    voiced = real.f0[real.f0 > 0]
    assert 0.3 < len(voiced) / len(real.f0) < 0.9
    assert 80 < np.median(voiced) < 200  # a male US English speaker
    assert real.alpha == pytest.approx(0.41) and real.fft_size == 1024


def test_f0_of_synthetic_signal():
    f = analyze_waveform(harmonic(1.0, f0=150.0), AnalysisConfig())
    voiced = f.f0[f.f0 > 0]
    assert len(voiced) > 0.8 * len(f.f0)
    assert np.median(voiced) == pytest.approx(150.0, rel=0.03)


@pytest.mark.parametrize("fs,alpha,fft", [(8000, 0.312, 512), (16000, 0.41, 1024), (22050, 0.455, 1024),
                                          (24000, 0.466, 1024), (44100, 0.544, 2048), (48000, 0.554, 2048)])
def test_per_rate_defaults(fs, alpha, fft):
    r = resolve_analysis(AnalysisConfig(fs=fs, f0_ceil=min(800.0, fs / 2 - 1)))
    assert r.alpha == pytest.approx(alpha, abs=1e-3) and r.fft_size == fft


def test_copy_synthesis_within_5db(real):
    """Resynthesise analysed speech, re-analyse with the same settings: MCD vs the original
    features stays under 5 dB (measured 3.04 dB on this utterance)."""
    y = vocode(real)
    assert y.shape[0] == pytest.approx(801 * 80, abs=200)
    again = analyze_waveform(y, AnalysisConfig())
    n = min(real.frames, again.frames)
    d = mcd_db(real.mcep[:n], again.mcep[:n])
    assert 1.0 < d < 5.0


def test_save_load_round_trip_is_deterministic(real, tmp_path):
    real.save(tmp_path / "a.npz")
    real.save(tmp_path / "b.npz")
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    back = Features.load(tmp_path / "a.npz")
    np.testing.assert_array_equal(back.mcep, real.mcep)
    assert back.spec() == real.spec()


def test_wrong_shape_feature_file_is_refused(real, tmp_path):
    from speechvae.store import save_npz

    arrays = real.to_arrays()
    arrays["bap"] = arrays["bap"][:-3]
    save_npz(tmp_path / "bad.npz", arrays)
    with pytest.raises(StoreError, match="bad.npz.*frame counts differ"):
        Features.load(tmp_path / "bad.npz")
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(StoreError, match="junk.npz.*not a readable npz"):
        Features.load(tmp_path / "junk.npz")


@pytest.mark.parametrize("change", [{"fs": 22050, "f0_ceil": 800.0}, {"alpha": 0.5}, {"frame_period": 10.0},
                                    {"fft_size": 2048}, {"order": 24}])
def test_mismatched_analysis_is_refused(real, change):
    with pytest.raises(FeatureMismatchError, match="other analysis settings"):
        check_compatible(real, dataclasses.replace(AnalysisConfig(), **change), "utt")
    check_compatible(real, AnalysisConfig(), "utt")  # the same settings pass
