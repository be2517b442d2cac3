"""Conversions judged beyond one MCD: MCD under named protocols (against hand computations), and speaker
similarity / DNSMOS of a conversion beside its references and the target's copy synthesis (evaluate-vc
--quality), on two voices made from the recording shipped with pysptk."""
import json

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import resample_poly

from speechvae.analysis.features import Features, resolve_analysis
from speechvae.cli import main
from speechvae.config import AnalysisConfig
from speechvae.evaluation.metrics import MCD_PROTOCOLS, dtw_mcd

K = 10 / np.log(10)


def _feats(mcep, f0, power=None):
    cfg = resolve_analysis(AnalysisConfig())
    n = len(mcep)
    return Features(f0=f0, mcep=mcep, bap=np.full((n, 1), -20.0), power_db=np.zeros(n) if power is None else power,
                    fs=cfg.fs, frame_period=cfg.frame_period, alpha=cfg.alpha, fft_size=cfg.fft_size)


def test_mcd_protocols_against_a_hand_computation():
    n = 60
    rng = np.random.default_rng(0)
    ref = np.zeros((n, 40))
    ref[:, 1:] = np.cumsum(rng.standard_normal((n, 39)) * 0.3, axis=0)  # every frame distinct: DTW is diagonal
    est = ref.copy()
    est[:, 0] += 0.5  # louder by a constant c0
    est[:, 3] += 0.1  # and one coefficient off by 0.1
    f0 = np.where(np.arange(n) % 3 == 0, 0.0, 120.0)  # a third unvoiced
    power = np.where(np.arange(n) < 50, 0.0, -60.0)  # the last 10 frames silent
    a, b = _feats(ref, f0, power), _feats(est, f0, power)
    speech = dtw_mcd(a, b)
    assert speech["frames"] == 50 and speech["mcd_db"] == pytest.approx(K * np.sqrt(2 * 0.1**2))
    voiced = dtw_mcd(a, b, "c0_voiced")
    assert voiced["frames"] == int((f0 > 0).sum()) and voiced["mcd_db"] == pytest.approx(K * np.sqrt(2 * (0.25 + 0.01)))
    assert set(MCD_PROTOCOLS) == {"speechvae", "c0_voiced"} and "c0" in MCD_PROTOCOLS["c0_voiced"]["coefficients"]
    with pytest.raises(ValueError, match="protocol"):
        dtw_mcd(a, b, "crank")


@pytest.fixture(scope="module")
def two_voices(tmp_path_factory, example_wav):
    """Speakers lo (the recording) and hi (the same played 1.25x faster: F0 and formants 25% up) reading the same
    two halves of the sentence, analysed; a decoder-conditioned model trained on them."""
    pytest.importorskip("pesq", reason="the quality measures need speechvae[quality]")
    root = tmp_path_factory.mktemp("voices")
    x, fs = sf.read(example_wav)
    voices = {"lo": x, "hi": resample_poly(x, 4, 5)}
    for spk, y in voices.items():
        (root / "wav" / spk).mkdir(parents=True)
        for i, part in enumerate(np.array_split(y, 2)):
            sf.write(root / "wav" / spk / f"s{i}.wav", part, fs)
    feat, exp = root / "feat", root / "exp"
    assert main(["-q", "analyze", str(root / "wav"), "-o", str(feat), "--f0", "dio"]) == 0
    assert main(["-q", "train", str(feat), "-o", str(exp), "--epochs", "3", "--set", "model.conditioning=decoder",
                 "--set", "model.hidden=[32,16]", "--set", "model.latent=4", "--set", "train.valid_fraction=0"]) == 0
    return root, feat, exp


@pytest.fixture(scope="module")
def converted(two_voices, tmp_path_factory):
    """lo's two sentences converted to hi, and evaluate-vc --quality's JSON of them."""
    root, feat, exp = two_voices
    tmp = tmp_path_factory.mktemp("conv")
    (tmp / "l").write_text("lo/s0\nlo/s1\n")
    out = tmp / "conv"
    assert main(["-q", "convert", "--model", str(exp), str(feat), "--list", str(tmp / "l"), "--to", "hi",
                 "-o", str(out)]) == 0
    js = tmp / "vc.json"
    assert main(["-q", "evaluate-vc", str(out), str(feat), "-o", str(js), "--quality"]) == 0
    return feat, out, js


def test_evaluate_vc_quality_places_the_model_between_its_references(converted):
    feat, out, js = converted
    m = json.loads(js.read_text())
    assert m["mcd_protocols"]["c0_voiced"]["frames"].startswith("voiced")
    for name in ("model", "none", "meanstd"):
        assert m[name]["mcd_c0_voiced_db"] > 0 and m[name]["mcd_db"] > 0
    q = m["quality"]
    assert list(q["systems"]) == ["none", "meanstd", "model", "target_copy", "target_recording"]
    s = q["systems"]
    # hi's own recording and its copy synthesis are hi; the untouched lo voice is lo: the references bracket
    assert s["target_recording"]["similarity_target"] > s["none"]["similarity_target"]
    assert s["target_copy"]["similarity_target"] > s["none"]["similarity_target"]
    assert s["none"]["similarity_source"] > s["none"]["similarity_target"] and s["none"]["nearer_target"] == 0.0
    assert s["target_copy"]["nearer_target"] == 1.0
    for name, v in s.items():
        assert 1 <= v["dnsmos_p808"] <= 5 and v["utterances"] == 2, name
    # the centroids say what they were made of (every recording was trained on here: the JSON says so)
    assert q["centroids"]["hi"]["recordings"] == 2 and "TRAINING" in q["centroids"]["hi"]["which"]
    assert set(m["quality"]["per_utterance"]) == {"lo/s0", "lo/s1"}


def test_conversion_page_shows_every_system_and_sentence(converted, tmp_path):
    import re
    import shutil
    import subprocess
    import tempfile
    from html.parser import HTMLParser

    feat, out, js = converted
    assert main(["-q", "report", str(out), "-o", str(tmp_path / "p")]) == 2  # the target's folder is needed
    assert main(["-q", "report", str(out), str(feat), "--metrics", str(feat / "manifest.tsv"), "-o",
                 str(tmp_path / "p")]) == 2 and not (tmp_path / "p").exists()  # not evaluate-vc's JSON: refused
    assert main(["-q", "report", str(out), str(feat), "--metrics", str(js), "-o", str(tmp_path / "p")]) == 0
    page = tmp_path / "p" / "index.html"

    class P(HTMLParser):
        def __init__(self):
            super().__init__()
            self.srcs, self.systems, self.utts, self.table, self.cells = [], [], [], None, {}

        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            if tag in ("audio", "img"):
                self.srcs.append(a["src"])
            if tag == "table":
                self.table = a["id"]
                self.cells[self.table] = []
            if tag == "tr" and "data-system" in a:
                self.systems.append(a["data-system"])
            if tag == "tr" and "data-utt" in a:
                self.utts.append(a["data-utt"])
            if tag == "td" and "data-v" in a:
                self.cells[self.table].append(float(a["data-v"]))

    p = P()
    p.feed(page.read_text())
    m = json.loads(js.read_text())
    assert p.systems == ["none", "meanstd", "model", "target_copy", "target_recording"]
    assert p.utts == ["lo/s0", "lo/s1"]
    assert len(p.srcs) == 2 * 2 * 5 and all((tmp_path / "p" / s).is_file() for s in p.srcs)
    model_row = p.cells["systems"][20:30]  # the third row: the model's figures, as in the JSON
    assert model_row[0] == pytest.approx(m["model"]["mcd_db"])
    assert model_row[3] == pytest.approx(m["quality"]["systems"]["model"]["similarity_target"])
    assert model_row[6] == pytest.approx(m["quality"]["systems"]["model"]["dnsmos_p808"])
    # without --metrics the page computes them (quality included) and keeps them beside it
    assert main(["-q", "report", str(out), str(feat), "-o", str(tmp_path / "p2")]) == 0
    m2 = json.loads((tmp_path / "p2" / "vc.json").read_text())
    assert m2["model"]["mcd_db"] == pytest.approx(m["model"]["mcd_db"])
    dns = lambda r: r["quality"]["systems"]["model"]["dnsmos_p808"]
    assert dns(m2) == pytest.approx(dns(m))
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        return  # the page checks below need a browser (Debian: apt-get install chromium)
    with tempfile.TemporaryDirectory() as profile:
        r = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                            "--disable-background-networking", "--disable-component-update", "--disable-sync",
                            f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
                            "--virtual-time-budget=5000", "--dump-dom", page.as_uri() + "#selftest"],
                           capture_output=True, text=True, timeout=120)
    consoles = [ln for ln in r.stderr.splitlines() if ":CONSOLE" in ln]
    assert r.returncode == 0 and consoles == [] and 'data-ready="1"' in r.stdout, consoles
    assert re.search(r'<pre id="load-errors"[^>]*>(.*?)</pre>', r.stdout, re.S).group(1) == ""
    # the #selftest hook sorted the sentences by the model's MCD in the browser
    order = re.findall(r'<tr data-utt="([^"]+)"', r.stdout)
    assert order == sorted(m["model"]["per_utterance"], key=lambda u: m["model"]["per_utterance"][u]["mcd_db"])


def test_judgements_are_read_back_and_only_a_new_conversion_is_judged(converted, tmp_path, monkeypatch, caplog):
    """evaluate-vc --quality-cache: the same figures as without it; a second run judges nothing again; a new
    conversion of the same sentences (another model's output) is the only thing judged; a damaged entry is judged
    again, with a warning."""
    import shutil

    from speechvae.evaluation.quality import measures

    feat, out, js = converted
    m, calls = measures(), []
    real_dnsmos, real_embedding = m.dnsmos, m.embedding
    monkeypatch.setattr(m, "dnsmos", lambda x, fs, what="": calls.append(("dnsmos", what)) or real_dnsmos(x, fs, what))
    monkeypatch.setattr(m, "embedding",
                        lambda x, fs, what="": calls.append(("embedding", what)) or real_embedding(x, fs, what))
    cache = tmp_path / "cache"

    def run(folder, name):
        assert main(["-q", "evaluate-vc", str(folder), str(feat), "-o", str(tmp_path / name), "--quality",
                     "--quality-cache", str(cache)]) == 0
        return json.loads((tmp_path / name).read_text())["quality"]

    first = run(out, "a.json")
    assert first["systems"] == json.loads(js.read_text())["quality"]["systems"]  # the same figures as uncached
    judged_first = len(calls)
    assert judged_first >= 2 * 5 * 2  # two sentences x five systems x (DNSMOS, embedding), and the centroids
    calls.clear()
    assert run(out, "b.json")["systems"] == first["systems"] and calls == []
    other = tmp_path / "conv2"
    shutil.copytree(out, other)
    for wav in (other / "wav").rglob("*.wav"):  # another model's conversions: the same sentences, other samples
        y, fs = sf.read(wav)
        sf.write(wav, 0.5 * y, fs)
    calls.clear()
    second = run(other, "c.json")
    assert sorted(calls) == sorted((k, f"{u} (model)") for k in ("dnsmos", "embedding") for u in ("lo/s0", "lo/s1"))
    assert second["systems"]["none"] == first["systems"]["none"]
    entry = next(cache.rglob("*.json"))
    entry.write_text('{"format": "speechvae-judgement-1", "key": "')  # truncated
    calls.clear()
    with caplog.at_level("WARNING", logger="speechvae"):
        assert run(out, "d.json")["systems"] == first["systems"]
    assert 1 <= len(calls) <= 2 and "judged again" in caplog.text
