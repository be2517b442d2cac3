"""Voice conversion on any corpus of speaker folders: the split by sentence, the N x N matrix, and
recipes/vc end to end on synthetic speakers (two parallel, one reading other sentences), with its refusals."""
import json
import math
import subprocess

import numpy as np
import pytest
import soundfile as sf
from conftest import FS, harmonic
from scipy.signal import lfilter
from test_recipes import ROOT, _env, _run

from speechvae.analysis.inputs import CorpusError, collect_inputs
from speechvae.analysis.splits import write_sentence_split
from speechvae.report.matrix_page import write_matrix
from speechvae.vc.evaluate import non_parallel_pairs
from speechvae.vc.matrix import direction_table, read_directions, summarise


def _touch(d, names):
    d.mkdir(parents=True)
    for n in names:
        (d / f"{n}.wav").touch()


def _ids(path):
    return [line.split()[0] for line in path.read_text().splitlines()]


def test_sentence_split_holds_out_shared_sentences_for_everyone_and_own_ones_for_the_rest(tmp_path):
    db = tmp_path / "db"
    _touch(db / "a", [f"s{i}" for i in range(1, 9)] + ["only_a"])
    _touch(db / "b", [f"s{i}" for i in range(1, 9)])
    _touch(db / "c", [f"x{i:02d}" for i in range(1, 11)])  # reads none of the others' sentences
    n = write_sentence_split(collect_inputs([db / "a", db / "b", db / "c"]), tmp_path / "l", n_dev=1, n_eval=2)
    assert _ids(tmp_path / "l/eval_a.list") == ["a/s7", "a/s8"] and _ids(tmp_path / "l/eval_b.list") == ["b/s7", "b/s8"]
    assert _ids(tmp_path / "l/dev_a.list") == ["a/s6"] and _ids(tmp_path / "l/dev_b.list") == ["b/s6"]
    assert _ids(tmp_path / "l/eval_c.list") == ["c/x10"] and _ids(tmp_path / "l/dev_c.list") == ["c/x09"]  # 10% cap
    train = set(_ids(tmp_path / "l/train.list"))
    # no held-out sentence is heard in training in anybody's voice; the rest all train
    assert not {u.split("/")[1] for u in train} & {"s6", "s7", "s8"} and "a/only_a" in train
    assert n["all"] == 27 == n["train"] + n["dev"] + n["eval"]


def test_sentence_split_caps_the_held_out_share_and_refuses_one_speaker(tmp_path):
    db = tmp_path / "db"
    _touch(db / "a", ["s1", "s2", "s3", "s4"])
    _touch(db / "b", ["s1", "s2", "s3", "s4"])
    write_sentence_split(collect_inputs([db / "a", db / "b"]), tmp_path / "l", n_dev=50, n_eval=50)
    assert _ids(tmp_path / "l/eval.list") == ["a/s4", "b/s4"] and _ids(tmp_path / "l/dev.list") == ["a/s3", "b/s3"]
    with pytest.raises(CorpusError, match="two or more speakers.*found a"):
        write_sentence_split(collect_inputs([db / "a"]), tmp_path / "m", 1, 1)


def _vc_json(src, tgt, mcd=None, sim=None, parallel=True):
    m = {"sources": [src], "target": tgt, "pairs": 3, "parallel": parallel, "held_out": True}
    if mcd is not None:
        for name, d in (("model", 0.0), ("none", 3.0), ("meanstd", 2.0)):
            m[name] = {"mcd_db": mcd + d, "mcd_c0_voiced_db": mcd + d + 1, "f0_rmse_cents": 100.0}
    if sim is not None:
        m["quality"] = {"systems": {"model": {"similarity_target": sim, "similarity_source": 0.5,
                                              "nearer_target": 1.0, "dnsmos_p808": 3.0},
                                    "target_copy": {"similarity_target": 0.9, "dnsmos_p808": 3.8}}}
    return m


def test_matrix_places_each_direction_in_its_cell(tmp_path):
    files = []
    for (s, t), kw in {("a", "b"): dict(mcd=5.0, sim=0.8), ("b", "a"): dict(mcd=6.0, sim=0.7),
                       ("a", "c"): dict(sim=0.6, parallel=False), ("c", "a"): dict(sim=0.65, parallel=False)}.items():
        p = tmp_path / f"vc_{s}_{t}.json"
        p.write_text(json.dumps(_vc_json(s, t, **kw)))
        files.append(p)
    (tmp_path / "page_a_b").mkdir()
    (tmp_path / "page_a_b/index.html").write_text("<html></html>")
    s = write_matrix(files, tmp_path / "m")
    assert s["speakers"] == ["a", "b", "c"]
    mcd, sim = np.array(s["matrices"]["mcd_db"]), np.array(s["matrices"]["similarity_target"])
    assert mcd[0, 1] == 5.0 and mcd[1, 0] == 6.0 and np.isnan(mcd[0, 2]) and np.isnan(np.diag(mcd)).all()
    assert sim[0, 2] == 0.6 and sim[2, 0] == 0.65 and np.isnan(sim[1, 2])  # b <-> c: not given
    saved = json.loads((tmp_path / "m/matrix.json").read_text())  # strict JSON: NaN written as null
    assert saved["matrices"]["mcd_db"][0][2] is None and saved["pages"] == {"a -> b": "../page_a_b/index.html"}
    page = (tmp_path / "m/index.html").read_text()
    assert page.count('href="../page_a_b/index.html"') == 4  # one link per matrix, only where a page exists
    assert (tmp_path / "m/matrix.png").stat().st_size > 10_000
    text = direction_table(s)
    assert "a -> b       meanstd" in text and "a -> c       model" in text
    row = next(line for line in text.splitlines() if line.startswith("a -> c       model"))
    assert row.split()[4:7] == ["-", "-", "-"]  # no MCD, c0 MCD or F0 without a parallel recording


def test_matrix_refuses_what_is_not_one_direction_each(tmp_path):
    a = tmp_path / "a.json"
    a.write_text(json.dumps(_vc_json("a", "b", mcd=5.0)))
    b = tmp_path / "b.json"
    b.write_text(json.dumps({**_vc_json("a", "b", mcd=5.0), "sources": ["a", "c"]}))
    c = tmp_path / "c.json"
    c.write_text("not json")
    with pytest.raises(ValueError, match="both score a -> b"):
        read_directions([a, a])
    with pytest.raises(ValueError, match="2 source speakers"):
        read_directions([b])
    with pytest.raises(ValueError, match="not a JSON written by"):
        read_directions([c])
    with pytest.raises(ValueError, match="nope.json: cannot read"):
        read_directions([tmp_path / "nope.json"])
    with pytest.raises(ValueError, match="unsafe speaker"):
        read_directions([_write(tmp_path / "d.json", _vc_json("../x", "b", mcd=1.0))])
    assert math.isnan(summarise(read_directions([a]))["matrices"]["dnsmos_p808"][0][1])


def _write(p, obj):
    p.write_text(json.dumps(obj))
    return p


def test_a_direction_without_common_sentences_needs_the_quality_measures():
    with pytest.raises(ValueError, match="no sentence names in common.*--quality"):
        non_parallel_pairs(["a/x1"], {"y1": "c/y1"}, set(), "conv and feats", quality=False)
    pairs = non_parallel_pairs(["a/x1", "a/x2", "a/x3"], {"y1": "c/y1", "y2": "c/y2"}, {"c/y1"}, "w", quality=True)
    assert pairs == [("a/x1", "c/y2"), ("a/x2", "c/y2"), ("a/x3", "c/y2")]  # held-out target recordings only


def _speaker(folder, names, f0, tilt, seed):
    """Synthetic speaker: harmonics of ``f0`` through a one-pole filter of coefficient ``tilt`` (its spectral
    slope), one second or a little more per 'sentence'."""
    folder.mkdir(parents=True)
    for i, n in enumerate(names):
        x = lfilter([1.0], [1.0, -tilt], harmonic(1.0 + 0.05 * i, f0, seed=seed + i))
        sf.write(folder / f"{n}.wav", 0.3 * x / np.abs(x).max(), FS, subtype="PCM_16")


def test_vc_recipe_on_three_speakers_one_of_them_non_parallel(tmp_path):
    db = tmp_path / "db"
    shared = [f"arctic_a{i:04d}" for i in range(1, 7)]
    _speaker(db / "low", shared, 110.0, 0.9, 0)
    _speaker(db / "high", shared, 220.0, 0.3, 10)
    _speaker(tmp_path / "elsewhere", [f"BAC009S0913W{i:04d}" for i in range(1, 7)], 160.0, 0.6, 20)
    (db / "mid").symlink_to(tmp_path / "elsewhere")  # a speaker folder may be a link (corpora are often linked in)
    conf = tmp_path / "tiny.yaml"
    conf.write_text((ROOT / "recipes/vc/conf/vc.yaml").read_text().replace("epochs: 60", "epochs: 2")
                    .replace("hidden: [256, 128]", "hidden: [16]").replace("latent: 8", "latent: 2"))
    r = _run([str(ROOT / "recipes/vc/run.sh"), "--db", str(db), "--conf", str(conf), "--n-dev", "1", "--n-eval", "1",
              "--nj", "1", "--convert-args", "--gv-postfilter --gv-weight 0.5"], tmp_path)
    work = tmp_path / "data/vc_db"
    assert _ids(work / "lists/eval_low.list") == ["low/arctic_a0006"] and \
        _ids(work / "lists/eval_mid.list") == ["mid/BAC009S0913W0006"]
    ranges = {line.split()[0]: tuple(map(float, line.split()[1:3]))
              for line in (work / "feats/f0_ranges.txt").read_text().splitlines() if not line.startswith("#")}
    for spk, f0 in (("low", 110.0), ("high", 220.0), ("mid", 160.0)):  # found from the data, around each voice
        assert ranges[spk][0] < 0.97 * f0 and ranges[spk][1] > 1.03 * f0 * 1.5, (spk, ranges)
    exp = work / "exp/tiny"
    s = json.loads((exp / "matrix/matrix.json").read_text())
    assert s["speakers"] == ["high", "low", "mid"]
    directions = {(d["source"], d["target"]) for d in s["directions"]}
    assert len(directions) == 6
    mcd, sim = s["matrices"]["mcd_db"], s["matrices"]["similarity_target"]
    assert mcd[0][1] > 0 and mcd[1][0] > 0  # high <-> low: parallel, scored by MCD
    assert mcd[0][2] is None and mcd[2][1] is None  # to and from mid: no common sentence, no MCD ...
    # ... but similarity everywhere: a number, or (a 2-epoch model's conversion of these stationary tones can fall
    # under the speaker encoder's 0.5 s of speech after its VAD trimming) the refusal named in that direction's json
    names = s["speakers"]
    for i in range(3):
        for j in range(3):
            if i != j and sim[i][j] is None:
                fails = json.loads((exp / f"vc_{names[i]}_{names[j]}.json").read_text())["quality"]["failures"]
                assert any("(model): under 0.5 s of speech" in f for f in fails), (names[i], names[j], fails)
            elif i != j:
                assert -1 <= sim[i][j] <= 1
    assert sum(sim[i][j] is not None for i in range(3) for j in range(3) if i != j) >= 4  # most are scored
    m = json.loads((exp / "vc_mid_low.json").read_text())
    assert m["parallel"] is False and "model" not in m and m["held_out"]
    assert set(m["quality"]["systems"]) == {"none", "meanstd", "model", "target_copy", "target_recording"}
    (u, t), = m["scored"]  # the target's rows: a recording of low's the model was not trained on
    assert u == "mid/BAC009S0913W0006" and t in {"low/arctic_a0005", "low/arctic_a0006"}
    assert len(s["pages"]) == 6 and all((exp / "matrix" / p).resolve().is_file() for p in s["pages"].values())
    page = (exp / "page_mid_low/index.html").read_text()
    assert "did not read these sentences" in page and page.count("<audio") == 5
    assert "mid -> low   model" in r.stdout and "high -> low  meanstd" in r.stdout
    assert (exp / "matrix/matrix.png").is_file() and "speaker leakage" in r.stdout
    for d in directions:  # --convert-args reached every conversion
        info = json.loads((exp / f"convert_{d[0]}_{d[1]}/convert.json").read_text())
        assert info["postfilter"]["gv"] is True and info["postfilter"]["gv_weight"] == 0.5, d


@pytest.mark.parametrize("layout, why", [({"only": 4}, "one speaker folder with wavs (only)"),
                                         ({"a": 0, "b": 0}, "no folder of wav files")])
def test_vc_recipe_refuses_a_corpus_it_cannot_convert(tmp_path, layout, why):
    db = tmp_path / "db"
    for spk, n in layout.items():
        _touch(db / spk, [f"s{i}" for i in range(n)])
    r = subprocess.run(["bash", str(ROOT / "recipes/vc/run.sh"), "--db", str(db)], cwd=tmp_path, env=_env(),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and why in r.stderr and "two or more speakers" in r.stderr, r.stderr
    assert not (tmp_path / "data").exists()  # refused before writing anything
