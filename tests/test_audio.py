"""Audio input: formats, channels, rates, and one clear error per bad file."""
import logging

import numpy as np
import pytest
import soundfile as sf
from conftest import FS, harmonic

from speechvae.analysis.audio import AudioError, read_audio, write_wav


def _write(path, x, fs=FS, subtype="PCM_16"):
    sf.write(path, x, fs, subtype=subtype)
    return path


@pytest.mark.parametrize("subtype,tol", [("PCM_U8", 2 / 128), ("PCM_16", 2 / 32768), ("PCM_24", 1e-6),
                                         ("FLOAT", 1e-7), ("DOUBLE", 1e-12)])
def test_formats_read_as_same_signal(tmp_path, subtype, tol):
    x = harmonic(0.2)
    p = tmp_path / f"{subtype}.wav"
    sf.write(p, x, FS, subtype=subtype, format="WAV")
    y = read_audio(p, FS)
    assert y.dtype == np.float64 and y.shape == x.shape
    assert np.max(np.abs(y - x)) <= tol


@pytest.mark.parametrize("channels", [2, 6])
def test_multichannel_is_mixed_down_with_warning(tmp_path, caplog, channels):
    x = harmonic(0.2)
    p = _write(tmp_path / "multi.wav", np.stack([x] * channels, axis=1), subtype="FLOAT")
    with caplog.at_level(logging.WARNING):
        y = read_audio(p, FS)
    assert y.ndim == 1
    np.testing.assert_allclose(y, x, atol=1e-6)
    assert f"{channels} channels mixed down" in caplog.text


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
def test_other_rates_are_resampled(tmp_path, caplog, rate):
    x = harmonic(0.5, fs=rate)
    p = _write(tmp_path / "r.wav", x, fs=rate, subtype="FLOAT")
    with caplog.at_level(logging.INFO, logger="speechvae"):  # an earlier -q command leaves speechvae at WARNING
        y = read_audio(p, FS)
    assert abs(len(y) - round(len(x) * FS / rate)) <= 1
    assert f"resampled {rate} Hz -> {FS} Hz" in caplog.text
    # same energy (the signal lies below every Nyquist involved except for a few top harmonics)
    assert np.sqrt(np.mean(y**2)) == pytest.approx(np.sqrt(np.mean(x**2)), rel=0.1)


def _assert_error(path, fragment, **kw):
    with pytest.raises(AudioError) as e:
        read_audio(path, FS, **kw)
    msg = str(e.value)
    assert str(path) in msg and fragment in msg and "\n" not in msg
    return msg


def test_missing_file(tmp_path):
    _assert_error(tmp_path / "nope.wav", "no such file")


def test_empty_file(tmp_path):
    p = tmp_path / "empty.wav"
    p.write_bytes(b"")
    _assert_error(p, "empty file")


def test_zero_length_audio(tmp_path):
    _assert_error(_write(tmp_path / "zero.wav", np.zeros(0)), "zero length")


def test_shorter_than_one_frame(tmp_path):
    _assert_error(_write(tmp_path / "short.wav", harmonic(0.002)), "too short", min_samples=80)


def test_silent(tmp_path):
    _assert_error(_write(tmp_path / "silent.wav", np.zeros(FS)), "silent")


def test_nan_and_inf(tmp_path):
    for bad in (np.nan, np.inf):
        x = harmonic(0.2)
        x[100] = bad
        _assert_error(_write(tmp_path / f"bad{bad}.wav", x, subtype="FLOAT"), "NaN or infinite")


def test_text_file_named_wav(tmp_path):
    p = tmp_path / "notes.wav"
    p.write_text("these are not samples\n" * 20)
    _assert_error(p, "not a readable audio file")


def test_truncated_header(tmp_path):
    good = _write(tmp_path / "good.wav", harmonic(0.2))
    p = tmp_path / "trunc.wav"
    p.write_bytes(good.read_bytes()[:30])
    _assert_error(p, "not a readable audio file")


def test_directory_given_as_file(tmp_path):
    _assert_error(tmp_path, "is a directory")


def test_clipped_audio_warns_but_loads(tmp_path, caplog):
    x = np.clip(10 * harmonic(0.3), -1, 1)
    p = _write(tmp_path / "clip.wav", x, subtype="FLOAT")
    with caplog.at_level(logging.WARNING):
        y = read_audio(p, FS)
    assert len(y) == len(x) and "clipped" in caplog.text


def test_write_wav_is_16bit_and_clipped(tmp_path):
    p = tmp_path / "out.wav"
    write_wav(p, np.array([0.0, 0.5, 2.0, -2.0]), FS)
    info = sf.info(p)
    assert info.subtype == "PCM_16" and info.samplerate == FS
    y, _ = sf.read(p)
    # 2.0 clips to the largest 16-bit code (32767), -2.0 to the smallest (-32768)
    assert y[2] == 32767 / 32768 and y[3] == -1.0 and y[1] == pytest.approx(0.5, abs=1e-4)
    raw, _ = sf.read(p, dtype="int16")
    assert raw.tolist() == [0, 16384, 32767, -32768]
    assert not list(tmp_path.glob(".*tmp"))
