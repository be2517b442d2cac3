"""Recipes end to end: the demo (pysptk's utterance) and the folder recipe on the AISHELL-1 speaker."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _env():
    # the recipes call `speechvae` and `python`: take both from this interpreter's environment
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


def _run(args, cwd):
    r = subprocess.run(["bash", *args], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return r


def test_demo_recipe(tmp_path):
    conf = tmp_path / "demo.yaml"
    conf.write_text((ROOT / "recipes/demo/conf/demo.yaml").read_text().replace("epochs: 200 ", "epochs: 5 "))
    r = _run([str(ROOT / "recipes/demo/run.sh"), "--conf", str(conf), "--tag", "t"], tmp_path)
    exp = tmp_path / "data/demo/exp/t"
    m = json.loads((exp / "metrics.json").read_text())
    assert list(m["per_utterance"]) == ["arctic_a0007"] and 0 < m["mcd_db"] < 10
    assert (exp / "wav_copy/arctic_a0007.wav").exists() and (exp / "wav_vae/arctic_a0007.wav").exists()
    assert {p.name for p in (exp / "plots").glob("*.png")} == {
        "scatter.png", "trajectory.png", "latent_pca.png", "loss.png", "posterior.png", "dead_units.png",
        "prior_envelopes.png", "prior_gv.png"}
    assert "(demo:stage 5) done" in r.stdout
    page = exp / "report/index.html"  # the demo ends by printing where its listening page is
    assert page.is_file() and r.stdout.rstrip().splitlines()[-1].endswith(f"done: open {page.relative_to(tmp_path)}")
    assert (exp / "report/audio/model/arctic_a0007.wav").is_file()
    # stages can be re-run alone
    _run([str(ROOT / "recipes/demo/run.sh"), "--conf", str(conf), "--tag", "t", "--stage", "5", "--stop-stage", "5"],
         tmp_path)


def test_recipe_help_and_bad_option(tmp_path):
    r = subprocess.run(["bash", str(ROOT / "recipes/folder/run.sh"), "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "--wavdir DIR" in r.stdout
    r = subprocess.run(["bash", str(ROOT / "recipes/folder/run.sh"), "--bogus", "1"], capture_output=True, text=True)
    assert r.returncode != 0 and "unknown option" in r.stderr
    r = subprocess.run(["bash", str(ROOT / "recipes/cmu_arctic/run.sh"), "--db", str(tmp_path)], cwd=tmp_path,
                       env=_env(), capture_output=True, text=True)
    assert r.returncode != 0 and "cmu_us_slt_arctic/wav: not found" in r.stderr


@pytest.mark.slow
def test_folder_recipe_on_aishell(tmp_path, aishell):
    """The whole folder recipe on the 80-utterance AISHELL-1 speaker with a 3-epoch default model."""
    _run([str(ROOT / "recipes/folder/run.sh"), "--wavdir", str(aishell), "--name", "ai",
          "--train-args", "--epochs 3"], tmp_path)
    exp = tmp_path / "data/ai/exp/default"
    lists = tmp_path / "data/ai/lists"
    assert [len((lists / f"{n}.list").read_text().splitlines()) for n in ("train", "dev", "eval")] == [64, 8, 8]
    m = json.loads((exp / "metrics.json").read_text())
    assert len(m["per_utterance"]) == 8
    # 3 epochs of the default config already reconstruct held-out speech far better than the article's
    # 50-epoch configuration (5.3 dB): measured about 1.1 dB
    assert m["mcd_db"] < 2.5 and m["gv_ratio"] > 0.8
    assert len(list((exp / "wav_vae").glob("*.wav"))) == 8


def test_cmu_arctic_recipe_layout(tmp_path, arctic):
    """The CMU ARCTIC recipe on a fake DB made of the shared utterances (layout check, 1 epoch)."""
    wav = tmp_path / "db/cmu_us_aew_arctic/wav"
    wav.mkdir(parents=True)
    for p in sorted(arctic.glob("*aew*.wav")):
        shutil.copy(p, wav / p.name)
    conf = tmp_path / "c.yaml"
    conf.write_text("train:\n  epochs: 1\nmodel:\n  hidden: [16, 8]\n  latent: 4\n")
    _run([str(ROOT / "recipes/cmu_arctic/run.sh"), "--db", str(tmp_path / "db"), "--spk", "aew", "--conf", str(conf)],
         tmp_path)
    assert (tmp_path / "data/cmu_arctic_aew/exp/c/metrics.json").exists()


def test_arctic_vc_recipe_is_recipes_vc_with_the_arctic_settings(tmp_path):
    """The CMU ARCTIC recipe calls recipes/vc (whose every stage tests/test_vc_many.py runs) with the pair, the
    hand-set F0 ranges and the 50 / 50 split by sentence name: stages 0-2 on a tiny synthetic parallel corpus
    (two 'speakers' reading six 'sentences'), options passed through; then stage 3 with its own conf/vc.yaml, whose
    parallel term pairs the readings of the training sentences."""
    import soundfile as sf
    from conftest import FS, harmonic

    db = tmp_path / "db"
    for spk, f0 in (("bdl", 110.0), ("slt", 210.0), ("clb", 200.0)):  # clb: a third speaker the pair leaves out
        (db / spk).mkdir(parents=True)
        for i in range(6):
            sf.write(db / spk / f"arctic_a{i + 1:04d}.wav", harmonic(1.0 + 0.05 * i, f0, seed=i), FS, subtype="PCM_16")
    r = _run([str(ROOT / "recipes/arctic_vc/run.sh"), "--db", str(db), "--stop-stage", "2", "--n-dev", "1",
              "--n-eval", "1", "--nj", "1"], tmp_path)
    work = tmp_path / "data/arctic_vc_bdl_slt"
    lists = {n: [line.split()[0] for line in (work / f"lists/{n}.list").read_text().splitlines()]
             for n in ("train", "dev", "eval")}
    assert lists["eval"] == ["bdl/arctic_a0006", "slt/arctic_a0006"] and lists["dev"] == ["bdl/arctic_a0005",
                                                                                          "slt/arctic_a0005"]
    assert len(lists["train"]) == 8
    analysis = (work / "feats/analysis.yaml").read_text()
    assert "recipes/arctic_vc/conf/f0_ranges.txt" in analysis and not (work / "feats/f0_ranges.txt").exists()
    for s, t in (("bdl", "slt"), ("slt", "bdl")):
        ref = json.loads((work / f"references/{s}_{t}/vc_{s}_{t}_meanstd.json").read_text())
        assert ref["utterances"] == 1 and ref["held_out"] and ref["mcd_db"] > 0
    assert "(arctic_vc:stage 2) references bdl -> slt" in r.stdout
    # stage 3 with the recipe's conf/vc.yaml trains with the parallel term on the 4 training sentences both read
    r = _run([str(ROOT / "recipes/arctic_vc/run.sh"), "--db", str(db), "--stage", "3", "--stop-stage", "3",
              "--n-dev", "1", "--n-eval", "1", "--train-args", "--set train.epochs=1"], tmp_path)
    assert "from 8 aligned readings of 4 shared sentences" in r.stdout + r.stderr
    assert "train_parallel" in (work / "exp/vc/log.csv").read_text().splitlines()[0]


def test_codec_recipe(tmp_path):
    """recipes/codec through training, encoding and decoding at two rates (a tiny model on two synthetic voices);
    the judging stage is `speechvae codec evaluate`, tested in test_codec.py."""
    import numpy as np
    import soundfile as sf
    from scipy.signal import lfilter

    from speechvae.codec.bitstream import read
    from tests.conftest import harmonic

    db = tmp_path / "db"
    for spk, f0, tilt in (("low", 110.0, 0.9), ("high", 220.0, 0.3)):
        (db / spk).mkdir(parents=True)
        for i in range(5):
            x = lfilter([1.0], [1.0, -tilt], harmonic(1.0 + 0.1 * i, f0 * (1 + 0.03 * i), seed=i))
            sf.write(db / spk / f"s{i}.wav", 0.3 * x / np.abs(x).max(), 16000, subtype="PCM_16")
    conf = tmp_path / "tiny.yaml"
    conf.write_text((ROOT / "recipes/codec/conf/codec.yaml").read_text().replace("epochs: 40", "epochs: 2")
                    .replace("hidden: [256, 256]", "hidden: [16, 16]").replace("codebook_size: 256",
                                                                                 "codebook_size: 16"))
    r = _run([str(ROOT / "recipes/codec/run.sh"), "--db", str(db), "--conf", str(conf), "--n-dev", "1",
              "--n-eval", "1", "--nj", "1", "--rates", "1.2 2.4", "--stop-stage", "3"], tmp_path)
    exp = tmp_path / "data/codec_db/exp/tiny"
    for rate, codebooks in (("1.2", 2), ("2.4", 4)):  # 4 bits each + 7 + 4 + 1 side bits per 20 ms, + header
        files = sorted((exp / f"bits_{rate}k").glob("*/*.svc"))
        assert [f"{p.parent.name}/{p.stem}" for p in files] == ["high/s4", "low/s4"]
        assert {read(p.read_bytes())[0].codebooks for p in files} == {codebooks}
        assert sorted(p.stem for p in (exp / f"wav_{rate}k").glob("*/*.wav")) == ["s4", "s4"]
    assert "kbit/s measured" in r.stdout + r.stderr
