"""Perceptual and speaker measures (speechvae.evaluation.quality): the same numbers as a direct call of each library on
the same wavs, bounds from the measures' published ranges, one clear line per bad wav, and `evaluate --quality`."""
import json
import logging
import sys
import warnings

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import resample_poly

pytest.importorskip("pesq", reason="the quality measures need speechvae[quality] (make test installs it)")

from speechvae.cli import main
from speechvae.evaluation.quality import BadAudio, QualityUnavailable, cosine, measures, require, score_version

TINY = ["--set", "model.hidden=[16,8]", "--set", "model.latent=4", "--set", "train.valid_fraction=0.34"]


@pytest.fixture(scope="module")
def speech(example_wav):
    x, fs = sf.read(example_wav)
    assert fs == 16000
    noisy = x + 0.02 * np.random.default_rng(0).standard_normal(len(x))
    return x, np.clip(noisy, -1, 1), fs


def test_pesq_and_stoi_equal_the_libraries_and_their_ranges(speech):
    from pesq import pesq
    from pystoi import stoi

    x, y, fs = speech
    m = measures()
    assert m.pesq_wb(x, y, fs) == pesq(fs, x, y, "wb")
    assert m.stoi(x, y, fs) == stoi(x, y, fs, extended=False)
    # independent bounds: P.862.2 tops out at 4.64 for identical signals; STOI of a signal with itself is 1
    assert m.pesq_wb(x, x, fs) > 4.5 and m.pesq_wb(x, y, fs) < 3.0
    assert m.stoi(x, x, fs) == pytest.approx(1.0, abs=1e-6) and m.stoi(x, y, fs) < 0.99


def test_dnsmos_and_speaker_embedding_equal_the_libraries(speech):
    from resemblyzer import VoiceEncoder, preprocess_wav
    from speechmos import dnsmos

    x, y, fs = speech
    m = measures()
    ours = m.dnsmos(x, fs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        direct = dnsmos.run(x.astype(np.float32), fs)
    assert (ours["p808"], ours["sig"], ours["bak"], ours["ovrl"]) == pytest.approx(
        (direct["p808_mos"], direct["sig_mos"], direct["bak_mos"], direct["ovrl_mos"]), abs=1e-6)
    assert ours["repeated"] is True  # a 4 s sentence fills DNSMOS's 9.01 s window by repetition
    assert 1.0 <= ours["p808"] <= 5.0
    e = m.embedding(x, fs)
    ref = VoiceEncoder(device="cpu", verbose=False).embed_utterance(preprocess_wav(x, source_sr=fs))
    np.testing.assert_allclose(e, ref, atol=1e-5)
    assert np.linalg.norm(e) == pytest.approx(1.0, abs=1e-5)
    # two halves of one sentence are one voice; the same half played at twice the speed (an octave up, formants
    # too) is not
    a, b = m.embedding(x[: len(x) // 2], fs), m.embedding(x[len(x) // 2:], fs)
    assert cosine(a, b) > cosine(a, m.embedding(x[len(x) // 2:][::2], fs))


def test_speaker_similarity_tells_two_arctic_speakers_apart(arctic):
    """Each utterance is nearer the centroid of its own speaker's other utterances than the other speaker's."""
    from speechvae.evaluation.quality import centroid

    m = measures()
    emb = {}
    for spk in ("aew", "axb"):
        for p in sorted(arctic.rglob(f"*{spk}*.wav")):
            x, fs = sf.read(p)
            emb.setdefault(spk, []).append(m.embedding(x, fs, p.name))
    assert all(len(v) >= 2 for v in emb.values()), {k: len(v) for k, v in emb.items()}
    for spk, other in (("aew", "axb"), ("axb", "aew")):
        for i, e in enumerate(emb[spk]):
            own = centroid([f for j, f in enumerate(emb[spk]) if j != i])
            assert cosine(e, own) > cosine(e, centroid(emb[other]))


def test_another_rate_is_resampled_to_16k_first(speech):
    from pesq import pesq

    x, y, fs = speech
    x22, y22 = resample_poly(x, 441, 320), resample_poly(y, 441, 320)
    back = resample_poly(x22, 320, 441), resample_poly(y22, 320, 441)
    n = min(map(len, back))
    assert measures().pesq_wb(x22, y22, 22050) == pesq(16000, back[0][:n], back[1][:n], "wb")


@pytest.mark.parametrize("what, wave, match", [
    ("silent", np.zeros(32000), "silent"), ("short", None, "too short"),
    ("nan", np.full(32000, np.nan), "NaN"), ("empty", np.zeros(0), "empty"),
])
def test_a_bad_wav_gets_one_line_not_a_crash(speech, what, wave, match):
    x, _, fs = speech
    wave = x[:4000] if wave is None else wave
    with pytest.raises(BadAudio, match=f"{what}.wav: .*{match}"):
        measures().dnsmos(wave, fs, f"{what}.wav")
    row = score_version(measures(), wave, fs, f"{what}.wav", ref=x)
    assert set(row) == {"errors"} and len(row["errors"]) == 3 and all(f"{what}.wav" in e for e in row["errors"])


def test_missing_extra_is_refused_naming_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "pesq", None)  # import pesq now fails, as without the extra
    with pytest.raises(QualityUnavailable, match=r"pesq: pip install 'speechvae\[quality\]'"):
        require()


def test_evaluate_quality_beside_copy_synthesis(three_part_featdir, tmp_path, monkeypatch, caplog):
    exp = tmp_path / "exp"
    assert main(["-q", "train", str(three_part_featdir), "-o", str(exp), "--epochs", "2", *TINY]) == 0
    out = tmp_path / "m.json"
    assert main(["-q", "evaluate", "--model", str(exp), str(three_part_featdir), "-o", str(out), "--quality"]) == 0
    m = json.loads(out.read_text())
    q = m["quality"]["overall"]
    assert set(q) == {"original", "copy", "model"} and not m["quality"]["failures"]
    assert set(q["copy"]) >= {"pesq_wb", "stoi", "dnsmos_p808", "dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl"}
    assert q["original"]["utterances"] == 3 and "pesq_wb" not in q["original"]
    # WORLD copy synthesis is the ceiling of what any model resynthesised through it can reach (a tiny model
    # trained 2 epochs is well below it); copy synthesis of clean speech keeps it intelligible
    assert q["model"]["pesq_wb"] < q["copy"]["pesq_wb"] and q["copy"]["stoi"] > 0.8
    for u, row in m["per_utterance"].items():
        assert 1.0 <= row["quality"]["model"]["pesq_wb"] <= 4.64, u
    assert "P.862.2" in m["quality"]["conventions"]["pesq"]
    # a recording that has gone: PESQ and STOI skipped for it, named once; DNSMOS of the two resyntheses still there
    import shutil

    moved = tmp_path / "moved"
    shutil.copytree(three_part_featdir, moved)
    text = (moved / "manifest.tsv").read_text().splitlines()
    cols = text[2].split("\t")
    text[2] = "\t".join([cols[0], cols[1], str(tmp_path / "gone.wav"), *cols[3:]])
    (moved / "manifest.tsv").write_text("\n".join(text) + "\n")
    (tmp_path / "one.list").write_text(cols[0] + "\n")
    out1 = tmp_path / "m1.json"
    assert main(["-q", "evaluate", "--model", str(exp), str(moved), "--list", str(tmp_path / "one.list"), "-o",
                 str(out1), "--quality"]) == 0
    m1 = json.loads(out1.read_text())["quality"]
    assert len(m1["failures"]) == 1 and cols[0] in m1["failures"][0] and "gone.wav" in m1["failures"][0]
    assert "pesq_wb" not in m1["overall"]["model"] and 1 <= m1["overall"]["model"]["dnsmos_p808"] <= 5
    # without the extra: one line naming it, exit 2, nothing written
    monkeypatch.setitem(sys.modules, "pesq", None)
    out2 = tmp_path / "m2.json"
    with caplog.at_level(logging.ERROR, logger="speechvae"):
        rc = main(["-q", "evaluate", "--model", str(exp), str(three_part_featdir), "-o", str(out2), "--quality"])
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert rc == 2 and not out2.exists() and len(errors) == 1 and "speechvae[quality]" in errors[0], errors
