"""The Python API at the top level: the notebook lines of the README run, and give what the commands give."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_vc import synthetic_parallel_featdir

import speechvae as sv
from speechvae.analysis.featdir import FeatureFolder, UnsafeNameError, feature_path, stats_for
from speechvae.cli import main

GOLDEN = Path(__file__).resolve().parent / "golden"
TINY = ["--set", "model.hidden=[32]", "--set", "model.latent=8", "--set", "train.probe_frames=256"]


@pytest.fixture(scope="module")
def demo_model(tmp_path_factory, example_wav):
    """A model trained by `speechvae train` on pysptk's example utterance (a few epochs: the API is under test)."""
    root = tmp_path_factory.mktemp("api")
    assert main(["-q", "analyze", str(example_wav), "-o", str(root / "feat"), "--f0", "dio"]) == 0
    assert main(["-q", "train", str(root / "feat"), "-o", str(root / "exp"), "--epochs", "3", *TINY]) == 0
    return root


def test_the_readme_snippet_runs_and_its_mcd_is_the_evaluate_commands(demo_model, example_wav):
    root = demo_model
    feats = sv.analyze(example_wav, f0_method="dio")
    stored = FeatureFolder(root / "feat")
    (utt,) = stored.utt_ids
    np.testing.assert_array_equal(feats.mcep, stored.load(utt).mcep)  # the same analysis as the command's
    samples, fs = sv.synthesize(feats)
    assert fs == 16000 and abs(len(samples) - feats.frames * 80) <= 80 and np.abs(samples).max() < 1.5
    model = sv.load_model(root / "exp")
    rec = model.reconstruct(feats)
    assert rec.frames == feats.frames and np.array_equal(rec.f0, feats.f0) and np.array_equal(rec.bap, feats.bap)
    assert np.array_equal(rec.mcep[:, 0], feats.mcep[:, 0]) and not np.array_equal(rec.mcep, feats.mcep)
    assert main(["-q", "evaluate", "--model", str(root / "exp"), str(root / "feat"), "-o", str(root / "m.json")]) == 0
    m = json.loads((root / "m.json").read_text())
    assert sv.mcd(feats, rec) == pytest.approx(m["mcd_db"], rel=1e-12)
    assert sv.mcd(feats, rec, voiced=True) == pytest.approx(m["mcd_voiced_db"], rel=1e-12)
    # by hand: 10 / ln 10 * sqrt(2 * sum over c1..c39 of the squared difference), averaged over frames
    d = feats.mcep[:, 1:] - rec.mcep[:, 1:]
    assert sv.mcd(feats, rec) == pytest.approx(np.mean(10 / np.log(10) * np.sqrt(2 * (d ** 2).sum(axis=1))))
    code = model.encode(feats)
    assert code.shape == (feats.frames, 8) and code.dtype == np.float32
    again = model.decode(code, like=feats)
    np.testing.assert_array_equal(again.mcep, rec.mcep)
    for bad in (code[:-1], code[:, :4]):  # a code of another length or width: one clear line, not a torch error
        with pytest.raises(ValueError, match=r"does not fit this model"):
            model.decode(bad, like=feats)


def test_a_conditioned_models_convert_is_the_convert_commands(tmp_path, monkeypatch):
    feat, train, held = synthetic_parallel_featdir(tmp_path / "feat", sentences=6)
    sets = ["model.conditioning=decoder", "model.latent=2", "model.hidden=[32]", "model.scaling=global",
            "loss.decoder_variance=unit", "train.epochs=3", "train.batch_size=64", "train.probe_frames=256"]
    assert main(["-q", "train", str(feat), "-o", str(tmp_path / "exp"), *sum([["--set", s] for s in sets], [])]) == 0
    src = [u for u in held if u.startswith("a/")]
    (tmp_path / "l").write_text("\n".join(src) + "\n")
    reads = []
    real_read = Path.read_text
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: reads.append(self) or real_read(self, *a, **k))
    assert main(["-q", "convert", "--model", str(tmp_path / "exp"), str(feat), "--list", str(tmp_path / "l"),
                 "--to", "b", "-o", str(tmp_path / "out"), "--no-wav"]) == 0
    # the feature folder goes down the flow as one object: its manifest is read once, its analysis settings once
    assert [p.name for p in reads if p.parent == feat].count("manifest.tsv") == 1
    assert [p.name for p in reads if p.parent == feat].count("analysis.yaml") == 1
    reads.clear()
    assert main(["-q", "evaluate-vc", str(tmp_path / "out"), str(feat), "-o", str(tmp_path / "vc.json")]) == 0
    assert [p.name for p in reads if p.parent == tmp_path / "out"].count("manifest.tsv") == 1
    monkeypatch.undo()
    model = sv.load_model(tmp_path / "exp")
    assert model.speakers == ("a", "b")
    folder = sv.FeatureFolder(feat)
    for u in src:
        conv = model.convert(folder.load(u), to="b", speaker="a")
        want = sv.Features.load(feature_path(tmp_path / "out", u))
        np.testing.assert_array_equal(conv.mcep, want.mcep)
        np.testing.assert_array_equal(conv.f0, want.f0)
    with pytest.raises(ValueError, match="speaker"):
        model.convert(folder.load(src[0]), to="nobody")


def test_a_checkpoint_from_before_the_restructuring_loads_and_reconstructs_the_same(tmp_path):
    """tests/golden/premove: a model trained, reconstructed and evaluated by the code before the package moved into
    sub-packages (make_premove.sh). Today's code must load it and give the same reconstruction and MCD."""
    pre = GOLDEN / "premove"
    model = sv.load_model(pre / "checkpoint.pt")
    feats = sv.Features.load(GOLDEN / "expected" / "feats" / "golden.npz")
    np.testing.assert_allclose(model.reconstruct(feats).mcep, np.load(pre / "reconstruction_mcep.npy"), rtol=0,
                               atol=1e-12)
    exp = tmp_path / "exp"
    exp.mkdir()
    (exp / "checkpoint.pt").write_bytes((pre / "checkpoint.pt").read_bytes())
    assert main(["-q", "evaluate", "--model", str(exp), str(GOLDEN / "expected"), "-o", str(tmp_path / "m.json")]) == 0
    want = json.loads((pre / "metrics.json").read_text())["mcd_db"]
    assert json.loads((tmp_path / "m.json").read_text())["mcd_db"] == pytest.approx(want, rel=1e-12)


def test_import_and_analyze_need_no_torch(tmp_path, example_wav):
    """`import speechvae` and sv.analyze / sv.synthesize / sv.mcd work where torch cannot be imported; a model
    does need it (the fake bites)."""
    fake = tmp_path / "fake" / "torch"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('torch imported where it is not needed')\n")
    code = ("import speechvae as sv\nf = sv.analyze(sys.argv[1], f0_method='dio')\ny, fs = sv.synthesize(f)\n"
            "print(f.frames, fs, sv.mcd(f, f))\nimport sys as s\nassert 'torch' not in s.modules\n"
            "try:\n    sv.load_model('x')\nexcept ImportError as e:\n    print('model:', e)\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(fake.parent), os.environ.get("PYTHONPATH", "")])}
    r = subprocess.run([sys.executable, "-c", "import sys\n" + code, str(example_wav)], env=env, capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    frames, fs, mcd = r.stdout.splitlines()[0].split()
    assert int(frames) > 100 and fs == "16000" and float(mcd) == 0.0
    assert "model: torch imported where it is not needed" in r.stdout


def test_every_public_name_resolves_and_is_documented():
    assert set(sv.__all__) == set(dir(sv))
    for name in sv.__all__:
        obj = getattr(sv, name)
        assert name == "__version__" or (obj.__doc__ and len(obj.__doc__.strip()) > 20), name
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        sv.nope


def test_the_feature_folder_reads_its_manifest_once_and_guards_its_paths(tmp_path, monkeypatch):
    feat, train, held = synthetic_parallel_featdir(tmp_path / "feat", sentences=3)
    calls = []  # reads of the manifest file itself
    real_read = Path.read_text
    monkeypatch.setattr(Path, "read_text",
                        lambda self, *a, **k: (calls.append(self) if self.name == "manifest.tsv" else None)
                        or real_read(self, *a, **k))
    folder = FeatureFolder.of(feat)
    assert FeatureFolder.of(folder) is folder and os.fspath(folder) == str(feat)
    assert folder.speakers() == {"a": ["a/s00", "a/s01", "a/s02"], "b": ["b/s00", "b/s01", "b/s02"]}
    assert folder.speaker_of()["b/s01"] == "b" and folder.frames()["a/s00"] == 160
    assert folder.select() == folder.utt_ids and len(calls) == 1
    (tmp_path / "l").write_text("a/s01\n")
    assert folder.select(tmp_path / "l") == ["a/s01"] and len(calls) == 1
    s = folder.speaker_stats("a", train)
    np.testing.assert_array_equal(s.mcep_mean, stats_for(feat, [u for u in train if u.startswith("a/")]).mcep_mean)
    with pytest.raises(ValueError, match="no utterances of speaker 'c'"):
        folder.speaker_stats("c")
    for bad in ("../x", "/etc/passwd", "a/b/c"):
        with pytest.raises(UnsafeNameError):
            folder.feature_path(bad)
    with pytest.raises(UnsafeNameError):
        folder.speaker_stats_path("../up")
