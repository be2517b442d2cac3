"""Corpus analysis: inputs, failures, re-runs, -j invariance, stats, manifest, CLI."""
import numpy as np
import pytest
import soundfile as sf
from conftest import FS, harmonic

from speechvae.analysis.corpus import analyze_corpus
from speechvae.analysis.featdir import FeatureFolderError, read_manifest, select_utts
from speechvae.analysis.features import Features
from speechvae.analysis.inputs import CorpusError, collect_inputs
from speechvae.analysis.splits import write_split_lists
from speechvae.analysis.stats import Stats
from speechvae.cli import main
from speechvae.config import AnalysisConfig


@pytest.fixture
def wavdir(tmp_path):
    d = tmp_path / "wavs" / "spk1"
    d.mkdir(parents=True)
    for i, f0 in enumerate((110.0, 130.0, 160.0)):
        sf.write(d / f"u{i}.wav", harmonic(0.4 + 0.1 * i, f0=f0, seed=i), FS, subtype="PCM_16")
    return d


def _bad_files(d):
    (d / "bad_text.wav").write_text("not audio")
    sf.write(d / "bad_short.wav", harmonic(0.001), FS)
    return 2


def test_collect_from_folder_list_and_duplicates(wavdir, tmp_path):
    utts = collect_inputs([wavdir])
    assert [u.utt_id for u in utts] == ["u0", "u1", "u2"] and utts[0].speaker == "spk1"
    lst = tmp_path / "wav.scp"
    lst.write_text(f"a {wavdir / 'u0.wav'}\n# comment\n\nb {wavdir / 'u1.wav'}\nc {tmp_path / 'missing.wav'}\n")
    assert [u.utt_id for u in collect_inputs([lst])] == ["a", "b", "c"]
    lst.write_text(f"a {wavdir / 'u0.wav'}\na {wavdir / 'u1.wav'}\n")
    with pytest.raises(CorpusError, match="duplicate utterance ids: a"):
        collect_inputs([lst])
    with pytest.raises(CorpusError, match="duplicate"):
        collect_inputs([wavdir, wavdir / "u0.wav"])
    lst.write_text("onlyonefield\n")
    with pytest.raises(CorpusError, match="expected 'utt_id path'"):
        collect_inputs([lst])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CorpusError, match="no wav files"):
        collect_inputs([empty])


def test_list_paths_are_not_shell_expanded(tmp_path):
    """Paths from list files are used as given: shell syntax is just part of a (missing) file name."""
    marker = tmp_path / "pwned"
    lst = tmp_path / "wav.scp"
    lst.write_text(f"x $(touch {marker}).wav\ny `touch {marker}`.wav\n")
    rep = analyze_corpus(collect_inputs([lst]), tmp_path / "f", AnalysisConfig(), progress=False)
    assert len(rep.failures) == 2 and all("no such file" in f for f in rep.failures)
    assert not marker.exists()


def test_corpus_run_continues_past_bad_files(wavdir, tmp_path):
    n_bad = _bad_files(wavdir)
    rep = analyze_corpus(collect_inputs([wavdir]), tmp_path / "f", AnalysisConfig(), progress=False)
    assert rep.analysed == 3 and len(rep.failures) == n_bad
    assert any("bad_text.wav" in f and "not a readable audio file" in f for f in rep.failures)
    assert any("bad_short.wav" in f and "too short" in f for f in rep.failures)
    assert [r["utt_id"] for r in read_manifest(tmp_path / "f")] == ["u0", "u1", "u2"]
    assert not list((tmp_path / "f").rglob(".*tmp")), "temp files left behind"


def test_cli_exit_code_and_failure_list(wavdir, tmp_path, caplog):
    _bad_files(wavdir)
    rc = main(["analyze", str(wavdir), "-o", str(tmp_path / "f")])
    assert rc == 1
    assert "2 file(s) failed" in caplog.text and "bad_text.wav" in caplog.text
    assert main(["analyze", str(wavdir / "u0.wav"), "-o", str(tmp_path / "g")]) == 0


def test_rerun_skips_and_overwrite_redoes(wavdir, tmp_path):
    out = tmp_path / "f"
    analyze_corpus(collect_inputs([wavdir]), out, AnalysisConfig(), progress=False)
    before = {p.name: p.stat().st_mtime_ns for p in (out / "feats").iterdir()}
    rep = analyze_corpus(collect_inputs([wavdir]), out, AnalysisConfig(), progress=False)
    assert rep.skipped == 3 and rep.analysed == 0
    assert before == {p.name: p.stat().st_mtime_ns for p in (out / "feats").iterdir()}
    rep = analyze_corpus(collect_inputs([wavdir]), out, AnalysisConfig(), overwrite=True, progress=False)
    assert rep.analysed == 3


def test_other_analysis_config_into_same_folder_is_refused(wavdir, tmp_path):
    out = tmp_path / "f"
    analyze_corpus(collect_inputs([wavdir]), out, AnalysisConfig(), progress=False)
    with pytest.raises(CorpusError, match=r"other analysis settings .*this run: f0_floor: 71.0 -> 60.0\)"):
        analyze_corpus(collect_inputs([wavdir]), out, AnalysisConfig(f0_floor=60.0), progress=False)
    # the CLI names the setting and both values too, and exits 2
    assert main(["analyze", str(wavdir), "-o", str(out), "--f0", "dio"]) == 2


def test_outputs_identical_for_any_jobs(wavdir, tmp_path):
    a, b = tmp_path / "j1", tmp_path / "j2"
    analyze_corpus(collect_inputs([wavdir]), a, AnalysisConfig(), jobs=1, progress=False)
    analyze_corpus(collect_inputs([wavdir]), b, AnalysisConfig(), jobs=2, progress=False)
    for name in ["stats.npz", "manifest.tsv", "analysis.yaml"] + [f"feats/u{i}.npz" for i in range(3)]:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_stats_equal_numpy_reference(wavdir, tmp_path):
    out = tmp_path / "f"
    analyze_corpus(collect_inputs([wavdir]), out, AnalysisConfig(), progress=False)
    feats = [Features.load(out / "feats" / f"u{i}.npz") for i in range(3)]
    frames = np.concatenate([f.mcep[:, 1:] for f in feats])
    lf0 = np.log(np.concatenate([f.f0[f.f0 > 0] for f in feats]))
    s = Stats.load(out / "stats.npz")
    assert s.frames == len(frames) and s.mcep_mean.shape == (39,)
    np.testing.assert_allclose(s.mcep_mean, frames.mean(0), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(s.mcep_std, frames.std(0), rtol=1e-9)
    assert s.lf0_mean == pytest.approx(lf0.mean()) and s.lf0_std == pytest.approx(lf0.std())
    np.testing.assert_allclose(s.mcep_gv, np.mean([f.mcep[:, 1:].var(0) for f in feats], axis=0))
    assert (out / "f0_power_hist_spk1.png").stat().st_size > 1000


def test_stats_command_over_a_list(wavdir, tmp_path):
    out = tmp_path / "f"
    analyze_corpus(collect_inputs([wavdir]), out, AnalysisConfig(), progress=False)
    (tmp_path / "train.list").write_text("u0 x\nu2 y\n")
    assert main(["stats", str(out), "--list", str(tmp_path / "train.list"), "-o", str(tmp_path / "s.npz")]) == 0
    s = Stats.load(tmp_path / "s.npz")
    ref = np.concatenate([Features.load(out / "feats" / f"u{i}.npz").mcep[:, 1:] for i in (0, 2)])
    np.testing.assert_allclose(s.mcep_mean, ref.mean(0), rtol=1e-10, atol=1e-12)
    (tmp_path / "bad.list").write_text("nope\n")
    with pytest.raises(FeatureFolderError, match="not in"):
        select_utts(out, tmp_path / "bad.list")


def test_split_lists_fixed_rule(wavdir, tmp_path):
    n = write_split_lists(collect_inputs([wavdir]), tmp_path / "lists", n_dev=1, n_eval=1)
    assert n == {"all": 3, "train": 1, "dev": 1, "eval": 1}
    assert (tmp_path / "lists" / "eval.list").read_text().split()[0] == "u2"
    assert (tmp_path / "lists" / "dev.list").read_text().split()[0] == "u1"


def test_resynth_cli_copy_synthesis(tmp_path, example_wav):
    feats = tmp_path / "f"
    assert main(["analyze", str(example_wav), "-o", str(feats)]) == 0
    assert main(["resynth", str(feats), "-o", str(tmp_path / "wav")]) == 0
    out = tmp_path / "wav" / "arctic_a0007.wav"
    info = sf.info(out)
    assert info.samplerate == 16000 and info.subtype == "PCM_16"
    from speechvae.analysis.features import wav2features
    from speechvae.evaluation.metrics import mcd_db

    ref, again = Features.load(feats / "feats" / "arctic_a0007.npz"), wav2features(out, AnalysisConfig())
    n = min(ref.frames, again.frames)
    assert mcd_db(ref.mcep[:n], again.mcep[:n]) < 5.0


def test_resynth_refuses_mismatched_features(tmp_path, example_wav, caplog):
    feats = tmp_path / "f"
    assert main(["analyze", str(example_wav), "-o", str(feats)]) == 0
    f = Features.load(feats / "feats" / "arctic_a0007.npz")
    f.alpha = 0.55
    f.save(feats / "feats" / "arctic_a0007.npz")
    assert main(["resynth", str(feats), "-o", str(tmp_path / "wav")]) == 2
    assert "alpha 0.55 (expected 0.41)" in caplog.text
    assert not (tmp_path / "wav" / "arctic_a0007.wav").exists()


def test_per_speaker_f0_ranges(tmp_path):
    """A speaker's own F0 range is searched (here one that excludes the true 120 Hz), others keep the
    global range; a floor below analysis.f0_floor is refused (it would need a larger FFT)."""
    for spk in ("low", "high"):
        (tmp_path / "w" / spk).mkdir(parents=True)
        sf.write(tmp_path / "w" / spk / f"{spk}.wav", harmonic(0.8, f0=120.0), FS, subtype="PCM_16")
    ranges = tmp_path / "f0.txt"
    ranges.write_text("# speaker floor ceil\nhigh 180 500\n")
    out = tmp_path / "f"
    assert main(["analyze", str(tmp_path / "w"), "-o", str(out), "--f0-ranges", str(ranges)]) == 0
    low, high = (Features.load(out / "feats" / f"{s}.npz") for s in ("low", "high"))
    assert np.median(low.f0[low.f0 > 0]) == pytest.approx(120.0, rel=0.05)
    assert np.all((high.f0 == 0) | (high.f0 >= 180 * 0.95))
    assert low.fft_size == high.fft_size == 1024
    ranges.write_text("high 50 500\n")
    assert main(["analyze", str(tmp_path / "w"), "-o", str(tmp_path / "g"), "--f0-ranges", str(ranges)]) == 2


def test_analyze_never_imports_torch(tmp_path, example_wav):
    """analyze has no use for torch (about 1.5 s of import per process): a `torch` that fails on import,
    first on the path of the command and of its pool workers, must not matter (nor to `stats` and `lists`)."""
    import os
    import subprocess
    import sys

    fake = tmp_path / "fake" / "torch"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('torch imported by a command that does not need it')\n")
    wavs = tmp_path / "spk"
    wavs.mkdir()
    x, fs = sf.read(example_wav)
    for i in range(2):
        sf.write(wavs / f"u{i}.wav", x[i * fs // 2:], fs)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(fake.parent), os.environ.get("PYTHONPATH", "")])}
    run = lambda *a: subprocess.run([sys.executable, "-m", "speechvae.cli", "-q", *a], env=env, capture_output=True,
                                    text=True)
    r = run("analyze", str(wavs), "-o", str(tmp_path / "feat"), "-j", "2", "--f0", "dio")
    assert r.returncode == 0, r.stderr
    assert len(select_utts(tmp_path / "feat")) == 2
    r = run("stats", str(tmp_path / "feat"), "-o", str(tmp_path / "s.npz"))
    assert r.returncode == 0, r.stderr
    r = run("lists", str(wavs), "-o", str(tmp_path / "lists"), "--n-dev", "0", "--n-eval", "0")
    assert r.returncode == 0, r.stderr
    assert run("train", str(tmp_path / "feat"), "-o", str(tmp_path / "e")).returncode != 0  # the fake does bite
