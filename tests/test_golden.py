"""Golden regression: a small fixed input, stored expected features, statistics and copy-synthesis
MCD, and the command that produced them (``tests/golden/make_golden.sh``). A change of analysis
settings, F0 method, mcep conversion, stats or vocoder path shows up here as a numeric difference."""
import json
from pathlib import Path

import numpy as np
import yaml

from speechvae.analysis.features import Features
from speechvae.cli import main
from speechvae.evaluation.metrics import mcd_db
from speechvae.store import load_npz

GOLDEN = Path(__file__).resolve().parent / "golden"
EXPECTED = GOLDEN / "expected"


def test_analysis_matches_the_golden_features(tmp_path, monkeypatch):
    monkeypatch.chdir(GOLDEN.parents[1])  # the manifest stores the path as the command gave it
    out = tmp_path / "f"
    assert main(["-q", "analyze", "tests/golden/wav", "-o", str(out)]) == 0
    assert yaml.safe_load((out / "analysis.yaml").read_text()) == yaml.safe_load(
        (EXPECTED / "analysis.yaml").read_text()
    )
    assert (out / "manifest.tsv").read_text() == (EXPECTED / "manifest.tsv").read_text()
    got, want = Features.load(out / "feats/golden.npz"), Features.load(EXPECTED / "feats/golden.npz")
    assert got.spec() == want.spec() and got.frames == want.frames == 101
    np.testing.assert_allclose(got.f0, want.f0, rtol=0, atol=1e-6)  # Hz
    np.testing.assert_allclose(got.mcep, want.mcep, rtol=0, atol=1e-8)
    np.testing.assert_allclose(got.bap, want.bap, rtol=0, atol=1e-6)  # dB
    np.testing.assert_allclose(got.power_db, want.power_db, rtol=0, atol=1e-6)
    s_got, s_want = load_npz(out / "stats.npz"), load_npz(EXPECTED / "stats.npz")
    assert sorted(s_got) == sorted(s_want)
    for k in s_want:
        np.testing.assert_allclose(s_got[k], s_want[k], rtol=1e-10, atol=1e-12, err_msg=k)


def test_copy_synthesis_matches_the_golden_mcd(tmp_path):
    want = json.loads((EXPECTED / "metrics.json").read_text())
    assert main(["-q", "resynth", str(EXPECTED), "-o", str(tmp_path / "w")]) == 0
    assert main(["-q", "analyze", str(tmp_path / "w"), "-o", str(tmp_path / "f")]) == 0
    a, b = Features.load(EXPECTED / "feats/golden.npz"), Features.load(tmp_path / "f/feats/golden.npz")
    n = min(a.frames, b.frames)
    assert abs(mcd_db(a.mcep[:n], b.mcep[:n]) - want["copy_synthesis_mcd_db"]) < 0.01
