"""The listening page: every audio and image it names exists, every evaluated utterance has a row, the
numbers equal metrics.json; and in a real browser (headless Chromium, skipped when absent) it loads with
no console message and no missing resource, and its table sorts."""
import json
import os
import re
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pytest

from speechvae.cli import main

TINY = ["--set", "model.hidden=[32,16]", "--set", "model.latent=4", "--set", "train.batch_size=64",
        "--set", "train.probe_frames=256"]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.srcs, self.rows, self.cells, self.ids = [], [], {}, {}
        self._table = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("audio", "img"):
            self.srcs.append((tag, a["src"]))
        if tag == "table":
            self._table = a.get("id")
            self.cells[self._table] = []
        if tag == "tr" and "data-utt" in a:
            self.rows.append(a["data-utt"])
        if tag == "td" and "data-v" in a:
            self.cells[self._table].append(float(a["data-v"]))
        if "id" in a:
            self.ids[a["id"]] = a


@pytest.fixture(scope="module")
def experiment(three_part_featdir, tmp_path_factory):
    root = tmp_path_factory.mktemp("listen")
    (root / "train.list").write_text("part0\n")
    (root / "eval.list").write_text("part1\npart2\n")
    exp = root / "exp"
    assert main(["train", str(three_part_featdir), "-o", str(exp), "--epochs", "2", *TINY,
                 "--train-list", str(root / "train.list"), "--valid-list", str(root / "eval.list")]) == 0
    assert main(["evaluate", "--model", str(exp), str(three_part_featdir), "--list", str(root / "eval.list"),
                 "-o", str(exp / "metrics.json")]) == 0
    return three_part_featdir, exp, root


def _parse(page: Path) -> _Page:
    p = _Page()
    p.feed(page.read_text())
    return p


def test_page_files_rows_and_numbers(experiment, tmp_path):
    featdir, exp, root = experiment
    assert main(["report", str(exp), "-o", str(tmp_path / "r")]) == 0  # FEATDIR from EXPDIR/data.json
    page = tmp_path / "r/index.html"
    p = _parse(page)
    assert len([s for t, s in p.srcs if t == "audio"]) == 2 * 3  # original, copy synthesis, model per utterance
    for tag, src in p.srcs:
        assert not re.match(r"^(https?:|//|/)", src), src  # relative paths only: opens from disk, no network
        assert (tmp_path / "r" / src).is_file(), src
    assert sorted(p.rows) == ["part1", "part2"]  # every utterance of the evaluation
    m = json.loads((exp / "metrics.json").read_text())
    assert p.cells["overall"][:3] == [m["mcd_db"], m["mcd_voiced_db"], m["gv_ratio"]]
    shown = dict(zip(p.rows, zip(p.cells["utterances"][0::2], p.cells["utterances"][1::2])))
    for u, (mcd, gv) in shown.items():
        assert (mcd, gv) == (m["per_utterance"][u]["mcd_db"], m["per_utterance"][u]["gv_ratio"])
    assert "<script src" not in page.read_text() and "<link" not in page.read_text()  # nothing fetched


def test_compare_and_rate_distortion_sections(experiment, tmp_path):
    featdir, exp, root = experiment
    other = tmp_path / "other"
    assert main(["train", str(featdir), "-o", str(other), "--epochs", "1", *TINY, "--set", "model.latent=2",
                 "--train-list", str(root / "train.list"), "--valid-list", str(root / "eval.list")]) == 0
    rd = tmp_path / "exp_rd"
    shutil.copytree(exp, rd)
    (rd / "rd.csv").write_text("model,cell,latent,mcd_db,gv_ratio,kbit_per_s,status\nmlp,a,4,3.1,0.5,9.9,ok\n"
                               "pca,pca4,4,4.2,0.4,,ok\n")
    shutil.copy(Path(__file__).parents[1] / "docs/img/rate_distortion.png", rd / "rd_dims.png")
    assert main(["report", str(rd), str(featdir), "-o", str(tmp_path / "r"), "--compare", str(other)]) == 0
    p = _parse(tmp_path / "r/index.html")
    assert len(p.cells["compare"]) == 2 * 3  # two experiments: MCD, GV, kbit/s each
    assert "rd" in p.ids and ("img", "img/rd_dims.png") in p.srcs
    assert (tmp_path / "r/img/rd_dims.png").is_file()


def test_report_refusals(tmp_path, experiment, caplog):
    featdir, exp, root = experiment
    assert main(["report", str(tmp_path / "nope"), "-o", str(tmp_path / "r")]) == 2
    (tmp_path / "bare").mkdir()
    shutil.copy(exp / "checkpoint.pt", tmp_path / "bare")
    assert main(["report", str(tmp_path / "bare"), "-o", str(tmp_path / "r")]) == 2
    assert "pass FEATDIR" in caplog.text
    # a --compare folder without a model is refused before the page is built
    assert main(["report", str(exp), "-o", str(tmp_path / "r2"), "--compare", str(featdir)]) == 2
    assert not (tmp_path / "r2").exists()


def _chromium(url: str, *extra: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                               "--no-first-run",
                               "--disable-background-networking", "--disable-component-update", "--disable-sync",
                               f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
                               "--virtual-time-budget=5000", *extra, url], capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium on PATH (Debian: apt-get install chromium); `make browser-check` needs it"
)
def test_page_in_headless_chromium(experiment, tmp_path):
    featdir, exp, root = experiment
    assert main(["report", str(exp), "-o", str(tmp_path / "r")]) == 0
    url = (tmp_path / "r/index.html").as_uri()
    r = _chromium(url + "#selftest", "--dump-dom")
    consoles = [ln for ln in r.stderr.splitlines() if ":CONSOLE" in ln]
    assert r.returncode == 0 and consoles == [], consoles
    assert 'data-ready="1"' in r.stdout  # the page's script ran to its end
    errors = re.search(r'<pre id="load-errors"[^>]*>(.*?)</pre>', r.stdout, re.S).group(1)
    assert errors == "", errors
    # the #selftest hook sorted the utterances by MCD, ascending, in the browser
    m = json.loads((exp / "metrics.json").read_text())
    order = re.findall(r'<tr data-utt="([^"]+)"', r.stdout)
    assert order == sorted(m["per_utterance"], key=lambda u: m["per_utterance"][u]["mcd_db"])
    shot = Path(os.environ.get("SPEECHVAE_SCREENSHOT", tmp_path / "page.png")).resolve()
    shot.parent.mkdir(parents=True, exist_ok=True)
    _chromium(url, f"--screenshot={shot}", "--window-size=1400,1600", "--hide-scrollbars")
    assert shot.stat().st_size > 20_000
    # and the check fails for the right reason: a missing file is reported by the page
    (tmp_path / "r/img/plots/loss.png").unlink()
    r = _chromium(url, "--dump-dom")
    assert "img/plots/loss.png" in re.search(r'<pre id="load-errors"[^>]*>(.*?)</pre>', r.stdout, re.S).group(1)
