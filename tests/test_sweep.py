"""Sweeps: every cell trained, diverged cells marked (and not fatal), heatmaps written."""
import csv

import numpy as np
import pytest
import soundfile as sf

from speechvae.analysis.corpus import analyze_corpus
from speechvae.analysis.inputs import collect_inputs
from speechvae.cli import main
from speechvae.config import AnalysisConfig, ConfigError
from speechvae.experiments.sweep import parse_grid, run_sweep


@pytest.fixture(scope="module")
def featdir(tmp_path_factory, example_wav):
    root = tmp_path_factory.mktemp("sw")
    x, fs = sf.read(example_wav)
    (root / "spk").mkdir()
    for i, part in enumerate(np.array_split(x, 2)):
        sf.write(root / "spk" / f"p{i}.wav", part, fs)
    analyze_corpus(collect_inputs([root / "spk"]), root / "f", AnalysisConfig(), progress=False)
    return root / "f"


def test_parse_grid():
    assert parse_grid(["init.scale=0.5,1,2", "train.lr=1e-3"]) == {"init.scale": [0.5, 1, 2], "train.lr": ["1e-3"]}
    with pytest.raises(ConfigError):
        parse_grid(["init.scale"])


def test_sweep_marks_diverged_cells_and_keeps_going(featdir, tmp_path):
    base = ["model.hidden=[16, 8]", "model.latent=4", "train.epochs=2", "train.valid_fraction=0.5",
            "train.probe_frames=128", "init.scheme=seed"]
    rows = run_sweep(featdir, tmp_path / "s", {"init.scale": [1.0, 1e30], "train.lr": [1e-3, 3e-3]},
                     overrides=base, jobs=2, progress=False)
    assert len(rows) == 4
    by = {(r["init.scale"], r["train.lr"]): r for r in rows}
    assert by[(1e30, 1e-3)]["status"] == "diverged" and by[(1e30, 3e-3)]["status"] == "diverged"
    assert all(by[(1.0, lr)]["status"] in ("ok", "collapsed") for lr in (1e-3, 3e-3))
    assert np.isfinite(by[(1.0, 1e-3)]["valid_mcd_db"])
    with open(tmp_path / "s" / "sweep.csv") as f:
        table = list(csv.DictReader(f))
    assert [r["status"] for r in table].count("diverged") == 2
    for m in ("valid_loss", "valid_mcd_db", "dead_fraction", "active_dims"):
        assert (tmp_path / "s" / f"heatmap_{m}.png").stat().st_size > 5000


def test_sweep_cli_rejects_bad_key_before_training(featdir, tmp_path):
    assert main(["sweep", str(featdir), "-o", str(tmp_path / "s"), "--grid", "init.scal=1,2"]) == 2
    assert not (tmp_path / "s" / "cells").exists()
