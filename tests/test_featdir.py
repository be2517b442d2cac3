"""Multi-speaker feature folders: a parallel corpus's repeated names become
speaker-qualified ids, per-speaker statistics, and every command takes the qualified ids."""
import numpy as np
import pytest
import soundfile as sf
from conftest import FS, harmonic

from speechvae.analysis.featdir import feature_path, read_id_list, read_manifest, speaker_stats_path, speakers
from speechvae.analysis.features import Features
from speechvae.analysis.stats import Stats
from speechvae.cli import main


def _parallel_corpus(root):
    """bdl (F0 110 Hz) and slt (F0 210 Hz) read the same two 'sentences', slt a third."""
    for spk, f0, names in (("bdl", 110.0, ("s1", "s2")), ("slt", 210.0, ("s1", "s2", "s3"))):
        (root / spk).mkdir(parents=True)
        for i, n in enumerate(names):
            sf.write(root / spk / f"{n}.wav", harmonic(0.5, f0, seed=i), FS, subtype="PCM_16")
    return root


def test_parallel_corpus_gets_speaker_qualified_ids_and_speaker_stats(tmp_path):
    wavs = _parallel_corpus(tmp_path / "wavs")
    feat = tmp_path / "feat"
    assert main(["-q", "analyze", str(wavs / "bdl"), str(wavs / "slt"), "-o", str(feat)]) == 0
    rows = read_manifest(feat)
    assert [r["utt_id"] for r in rows] == ["bdl/s1", "bdl/s2", "slt/s1", "slt/s2", "slt/s3"]
    assert [r["speaker"] for r in rows] == ["bdl", "bdl", "slt", "slt", "slt"]
    assert feature_path(feat, "slt/s3").is_file() and (feat / "feats/slt/s3.npz").is_file()
    assert speakers(feat) == {"bdl": ["bdl/s1", "bdl/s2"], "slt": ["slt/s1", "slt/s2", "slt/s3"]}
    for spk, f0 in (("bdl", 110.0), ("slt", 210.0)):
        s = Stats.load(speaker_stats_path(feat, spk))
        frames = [Features.load(feature_path(feat, u)) for u in speakers(feat)[spk]]
        mc = np.concatenate([f.mcep[:, 1:] for f in frames])
        np.testing.assert_allclose(s.mcep_mean, mc.mean(axis=0), rtol=1e-9, atol=1e-12)  # hand computation
        assert abs(np.exp(s.lf0_mean) - f0) < 0.05 * f0  # the F0 the signals were made with (3% vibrato)
    assert not (tmp_path / "one").exists()
    assert main(["-q", "analyze", str(wavs / "slt"), "-o", str(tmp_path / "one")]) == 0  # one speaker: plain ids
    assert [r["utt_id"] for r in read_manifest(tmp_path / "one")] == ["s1", "s2", "s3"]
    assert not (tmp_path / "one" / "stats").exists()


def test_commands_take_qualified_ids(tmp_path):
    wavs = _parallel_corpus(tmp_path / "wavs")
    feat, data = tmp_path / "feat", tmp_path / "data"
    assert main(["-q", "analyze", str(wavs / "bdl"), str(wavs / "slt"), "-o", str(feat)]) == 0
    assert main(["-q", "lists", str(wavs / "bdl"), str(wavs / "slt"), "-o", str(data), "--n-dev", "1",
                 "--n-eval", "1"]) == 0
    assert read_id_list(data / "eval.list") == ["slt/s3"]
    exp = tmp_path / "exp"
    assert main(["-q", "train", str(feat), "-o", str(exp), "--epochs", "1", "--set", "model.hidden=[16]",
                 "--set", "model.latent=4", "--train-list", str(data / "train.list"),
                 "--valid-list", str(data / "dev.list")]) == 0
    assert main(["-q", "resynth", str(feat), "--model", str(exp), "--list", str(data / "eval.list"),
                 "-o", str(tmp_path / "wav")]) == 0
    y, fs = sf.read(tmp_path / "wav/slt/s3.wav")
    assert fs == FS and abs(len(y) - 0.5 * FS) < 0.01 * FS


def _feats(seed=0, frames=50, f0=120.0):
    rng = np.random.default_rng(seed)
    mcep = np.cumsum(rng.standard_normal((frames, 40)) * 0.1, axis=0)
    return Features(f0=np.full(frames, f0), mcep=mcep, bap=np.zeros((frames, 1)), power_db=np.full(frames, -20.0),
                    fs=16000, frame_period=5.0, alpha=0.41, fft_size=1024)


def test_dtw_mcd_is_zero_for_a_stretched_copy_and_counts_cents():
    import dataclasses

    from speechvae.evaluation.metrics import dtw_mcd

    ref = _feats()
    idx = np.sort(np.r_[np.arange(50), np.arange(0, 50, 3)])  # every third frame said twice
    est = dataclasses.replace(ref, f0=ref.f0[idx] * 2, mcep=ref.mcep[idx], bap=ref.bap[idx], power_db=ref.power_db[idx])
    m = dtw_mcd(ref, est)
    assert m["mcd_db"] == 0 and m["frames"] == 50
    assert m["f0_rmse_cents"] == pytest.approx(1200.0)  # an octave
    # silence (40 dB below the loudest frame) of any spectrum is dropped before alignment
    pad = dataclasses.replace(est, mcep=np.r_[est.mcep, np.ones((20, 40))], f0=np.r_[est.f0, np.zeros(20)],
                              bap=np.r_[est.bap, np.zeros((20, 1))], power_db=np.r_[est.power_db, np.full(20, -60.0)])
    assert dtw_mcd(ref, pad)["mcd_db"] == 0


def test_meanstd_reference_moves_source_statistics_onto_the_target(tmp_path):
    from speechvae.vc.references import meanstd_convert

    src, tgt = _feats(1), _feats(2, f0=200.0)
    sa = Stats.from_arrays({"mcep_mean": src.mcep[:, 1:].mean(0), "mcep_std": src.mcep[:, 1:].std(0),
                            "mcep_gv": np.ones(39),
                            "lf0_mean": np.log(120.0), "lf0_std": 0.1, "frames": 50, "utterances": 1})
    ta = Stats.from_arrays({"mcep_mean": tgt.mcep[:, 1:].mean(0), "mcep_std": tgt.mcep[:, 1:].std(0),
                            "mcep_gv": np.ones(39),
                            "lf0_mean": np.log(200.0), "lf0_std": 0.1, "frames": 50, "utterances": 1})
    out = meanstd_convert(src, sa, ta)
    np.testing.assert_allclose(out.mcep[:, 1:].mean(0), ta.mcep_mean, atol=1e-12)
    np.testing.assert_allclose(out.mcep[:, 1:].std(0), ta.mcep_std, rtol=1e-10)
    np.testing.assert_allclose(out.f0, 200.0)
    assert np.array_equal(out.mcep[:, 0], src.mcep[:, 0]) and np.array_equal(out.bap, src.bap)


def test_baseline_vc_scores_both_references(tmp_path, caplog):
    import json

    wavs = _parallel_corpus(tmp_path / "wavs")
    feat = tmp_path / "feat"
    assert main(["-q", "analyze", str(wavs / "bdl"), str(wavs / "slt"), "-o", str(feat)]) == 0
    assert main(["-q", "baseline", "vc", str(feat), "--src", "bdl", "--tgt", "slt", "-o", str(tmp_path / "vc")]) == 0
    none = json.loads((tmp_path / "vc/vc_bdl_slt_none.json").read_text())
    ms = json.loads((tmp_path / "vc/vc_bdl_slt_meanstd.json").read_text())
    assert none["utterances"] == ms["utterances"] == 2  # s1, s2: the sentences both read
    assert set(none["per_utterance"]) == {"bdl/s1", "bdl/s2"}
    # the signals' F0 ratio (RMS: a few mis-tracked / mis-aligned frames of the vibrato tones add to it)
    assert none["f0_rmse_cents"] == pytest.approx(1200 * np.log2(210 / 110), abs=150)
    assert ms["f0_rmse_cents"] < 60 and ms["mcd_db"] < none["mcd_db"]
    assert main(["-q", "baseline", "vc", str(feat), "--src", "bdl", "--tgt", "xyz", "-o", str(tmp_path / "v")]) == 2
    assert "no speaker 'xyz' (speakers: bdl, slt)" in caplog.text
