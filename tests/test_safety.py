"""Input never chooses where we write: unsafe utterance ids (from a list file, a manifest, a code folder) are
refused by every entry point before any work, in one line with exit 2, and nothing appears outside ``-o``;
pool and Dask workers end when the command that started them is killed."""
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import soundfile as sf
from conftest import FS, harmonic
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from speechvae.analysis.featdir import UnsafeNameError, check_speaker, check_utt_id, feature_path, inside
from speechvae.cli import main
from speechvae.config import Config, config_to_dict

CLI = [sys.executable, "-m", "speechvae.cli"]
TINY = ["--set", "model.hidden=[16,8]", "--set", "model.latent=4", "--set", "train.valid_fraction=0.34"]


def _files(root: Path, skip: Path | None = None) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file() and not (skip and skip in p.parents)}


@pytest.mark.parametrize("utt", ["a", "spk/a", "arctic_a0001", "S0913W0300", "a.b", "-x", "ü"])
def test_safe_ids_pass(utt):
    assert check_utt_id(utt) == utt


@pytest.mark.parametrize("utt, why", [
    ("../../escaped", "'..' as a part"), ("/abs/evil", "an absolute path"), ("..", "'..' as a part"),
    ("./a", "'.' as a part"), ("a/", "an empty part"), ("", "an empty part"), ("a//b", "an empty part"),
    ("a\\b", "a backslash"), ("a\x00b", "a control character"), ("a\nb", "a control character"),
    ("a\tb", "a control character"), ("a b", "white space"), ("a/b/c", "more than two parts"),
    ("a\u202eb", "a control character"),
])
def test_unsafe_ids_are_refused_saying_why(utt, why):
    with pytest.raises(UnsafeNameError, match="l.list:3: unsafe utterance id .*" + "(" + why.replace("(", r"\(") + ")"):
        check_utt_id(utt, "l.list:3")


def test_speaker_names_are_one_part_and_paths_stay_inside(tmp_path):
    assert check_speaker("bdl") == "bdl"
    for bad in ("..", "a/b", "", "x\\y"):
        with pytest.raises(UnsafeNameError):
            check_speaker(bad)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "link").symlink_to(tmp_path)  # a link planted inside the folder does not lead out
    with pytest.raises(UnsafeNameError, match="outside"):
        inside(tmp_path / "out", "link/x.npz")
    with pytest.raises(UnsafeNameError):
        feature_path(tmp_path / "out", "../x")
    assert inside(tmp_path / "out", "a/b.npz") == tmp_path / "out" / "a" / "b.npz"


@pytest.fixture(scope="module")
def world(tmp_path_factory, three_part_featdir):
    """A feature folder, a model trained on it and a code folder, all inside one root."""
    root = tmp_path_factory.mktemp("safety")
    feats = root / "feats"
    shutil.copytree(three_part_featdir, feats)
    exp = root / "exp"
    assert main(["-q", "train", str(feats), "-o", str(exp), "--epochs", "1", *TINY]) == 0
    codes = root / "codes"
    assert main(["-q", "encode", str(feats), "--model", str(exp), "-o", str(codes)]) == 0
    return root, feats, exp, codes


def _poisoned(folder: Path, dest: Path, utt: str) -> Path:
    """A copy of a feature or code folder whose manifest gains a row with id ``utt`` (a file edited by hand,
    or received from someone)."""
    shutil.copytree(folder, dest)
    with open(dest / "manifest.tsv", "a") as f:
        f.write(f"{utt}\tspk\t/dev/null\t10\t0.050\n")
    return dest


UNSAFE = ["../../escaped", "ABS"]  # ABS: an absolute path inside the test's root, outside every -o


def _unsafe(utt: str, root: Path) -> str:
    return str(root / "outside" / "evil") if utt == "ABS" else utt


@pytest.mark.parametrize("utt", UNSAFE)
def test_every_entry_point_refuses_an_unsafe_id_before_any_work(world, tmp_path, caplog, utt, example_wav):
    root, feats, exp, codes = world
    utt = _unsafe(utt, tmp_path)
    deep = tmp_path / "a" / "b" / "c"  # '../../escaped' from deep/out/feats would land in deep
    bad = _poisoned(feats, deep / "bad_feats", utt)
    bad_codes = _poisoned(codes, deep / "bad_codes", utt)
    lst = deep / "l.list"
    lst.write_text(f"part0 {example_wav}\n{utt} {example_wav}\n")
    ids = deep / "ids.list"
    ids.write_text(f"part0\n{utt}\n")
    out = deep / "out"
    cases = {
        "analyze": ["analyze", str(lst), "-o", str(out)],
        "lists": ["lists", str(lst), "-o", str(out)],
        "stats --list": ["stats", str(feats), "--list", str(ids), "-o", str(out / "s.npz")],
        "stats": ["stats", str(bad), "-o", str(out / "s.npz")],
        "train": ["train", str(bad), "-o", str(out), "--epochs", "1", *TINY],
        "train --train-list": ["train", str(feats), "-o", str(out), "--train-list", str(ids), *TINY],
        "reconstruct": ["reconstruct", "--model", str(exp), str(bad), "-o", str(out)],
        "resynth": ["resynth", str(bad), "-o", str(out)],
        "resynth --list": ["resynth", str(feats), "--list", str(ids), "-o", str(out)],
        "evaluate": ["evaluate", "--model", str(exp), str(bad), "-o", str(out / "m.json")],
        "plot": ["plot", "--model", str(exp), str(bad), "-o", str(out)],
        "encode": ["encode", str(bad), "--model", str(exp), "-o", str(out)],
        "decode": ["decode", str(bad_codes), "--model", str(exp), "-o", str(out)],
        "convert": ["convert", "--model", str(exp), str(bad), "--to", "spk", "-o", str(out)],
        "report": ["report", str(exp), str(bad), "-o", str(out)],
        "baseline pca": ["baseline", "pca", str(bad), "-o", str(out), "--dims", "2"],
    }
    before = _files(tmp_path)
    for name, argv in cases.items():
        caplog.clear()
        with caplog.at_level(logging.ERROR, logger="speechvae"):
            rc = main(["-q", *argv])
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert rc == 2, (name, rc, errors)
        assert len(errors) == 1 and "unsafe utterance id" in errors[0] and repr(utt) in errors[0], (name, errors)
        assert _files(tmp_path) == before, name  # nothing written, inside -o or out of it
    assert not (tmp_path / "outside").exists() and not (deep / "escaped.npz").exists()


def test_a_list_path_under_dot_dot_gives_its_real_folder_as_speaker(tmp_path, monkeypatch):
    from speechvae.analysis.inputs import collect_inputs

    (tmp_path / "bdl").mkdir()
    sf.write(tmp_path / "bdl" / "a.wav", harmonic(0.3), FS)
    work = tmp_path / "bdl" / "sub"
    work.mkdir()
    monkeypatch.chdir(work)
    (work / "l.list").write_text("a ../a.wav\n")
    [u] = collect_inputs(["l.list"])
    assert (u.utt_id, u.speaker) == ("a", "bdl")  # not '..', which would make ids like '../a'


# --- workers end with the command that started them ------------------------------------------------
def _children(pid: int) -> set[int]:
    out = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out |= {int(c) for c in (task / "children").read_text().split()}
        except OSError:
            pass
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")  # a zombie is dead, waiting only to be reaped


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc to list a process's children")
@pytest.mark.parametrize("backend", [["-j", "2"], ["-j", "2", "--scheduler", "local"]], ids=["pool", "dask"])
def test_killing_a_parallel_analyze_leaves_no_worker_alive(tmp_path, backend):
    if backend[-1] == "local":
        pytest.importorskip("distributed", reason="Dask backend needs speechvae[dask]")
    wavs = tmp_path / "wavs" / "spk"
    wavs.mkdir(parents=True)
    for i in range(12):
        sf.write(wavs / f"u{i:02d}.wav", harmonic(2.0, f0=100 + 5 * i, seed=i), FS, subtype="PCM_16")
    out = tmp_path / "out"
    p = subprocess.Popen([*CLI, "-q", "analyze", str(wavs), "-o", str(out), *backend],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.monotonic()
    while not list((out / "feats").glob("*.npz")) and p.poll() is None and time.monotonic() - t0 < 120:
        time.sleep(0.05)
    workers = set()  # every descendant: pool workers, or the Dask nannies' worker processes
    frontier = {p.pid}
    while frontier:
        frontier = set().union(*(_children(c) for c in frontier)) - workers
        workers |= frontier
    p.send_signal(signal.SIGKILL)
    assert p.wait() == -signal.SIGKILL  # killed mid-run, not after it finished
    assert len(list((out / "feats").glob("*.npz"))) < 12 and len(workers) >= 2, workers
    deadline = time.monotonic() + 5.0
    while any(map(_alive, workers)) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [w for w in workers if _alive(w)]
    for w in left:  # do not leave them to the rest of the suite
        os.kill(w, signal.SIGKILL)
    assert not left, f"workers alive 5 s after the kill: {left}"


# --- property: never a traceback, never a file outside -o ---------------------------------------------
id_text = st.one_of(
    st.lists(st.sampled_from(list("ab./\\ \t~-_:$`*") + ["..", "\x00", "\x1b", "é"]), max_size=8).map("".join),
    st.sampled_from(["../../escaped", "ABS/evil", "..", ".", "a/../../b", "spk/utt", "~/x", "a/b/c", "../x/y"]),
)


def _place(text: str, tmp: Path) -> str:
    """An id with ``ABS`` made an absolute path inside the test's own folder (never the real root)."""
    return text.replace("ABS", str(tmp / "outside"))


@pytest.fixture(scope="module")
def tiny_wav(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("tinywav") / "spk" / "x.wav"
    p.parent.mkdir()
    sf.write(p, harmonic(0.2), FS, subtype="PCM_16")
    return p


def _run_contained(tmp: Path, argv: list[str], out: Path) -> None:
    before = _files(tmp, skip=out)
    try:
        rc = main(["-q", *argv])
    except SystemExit as e:  # argparse's own refusal of a malformed command line
        rc = e.code
    assert rc in (0, 1, 2), rc
    assert _files(tmp, skip=out) == before, "wrote outside -o"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ids=st.lists(id_text, min_size=1, max_size=3))
def test_list_lines_never_traceback_nor_write_outside(tmp_path_factory, tiny_wav, ids):
    tmp = tmp_path_factory.mktemp("prop")
    deep = tmp / "a" / "b"
    deep.mkdir(parents=True)
    lst = deep / "l.list"
    lst.write_text("".join(f"{_place(u, tmp)} {tiny_wav}\n" for u in ids))
    for cmd in ("analyze", "lists"):
        out = deep / cmd
        _run_contained(tmp, [cmd, str(lst), "-o", str(out)], out)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(utt=id_text, speaker=id_text)
def test_manifest_rows_never_traceback_nor_write_outside(tmp_path_factory, world, utt, speaker):
    root, feats, exp, codes = world
    tmp = tmp_path_factory.mktemp("prop")
    bad = tmp / "a" / "feats"
    shutil.copytree(feats, bad)
    utt = _place(utt, tmp)
    with open(bad / "manifest.tsv", "a") as f:
        f.write(f"{utt}\t{speaker}\t/dev/null\t10\t0.050\n")
    # a real feature file where the id points, when that is somewhere inside the test's folder: the commands
    # would read it and write their output under the same id
    where = Path(os.path.normpath(bad / "feats" / f"{utt}.npz"))
    if "\x00" not in utt and tmp in where.parents and not where.exists():
        try:
            where.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(bad / "feats" / "part0.npz", where)
        except OSError:
            pass
    for argv in (["stats", str(bad), "-o", str(tmp / "a" / "out" / "s.npz")],
                 ["resynth", str(bad), "-o", str(tmp / "a" / "out")],
                 ["reconstruct", "--model", str(exp), str(bad), "-o", str(tmp / "a" / "out")]):
        _run_contained(tmp, argv, tmp / "a" / "out")


def _config_keys() -> list[str]:
    return [f"{s}.{k}" for s, sec in config_to_dict(Config()).items() if isinstance(sec, dict) for k in sec]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.sampled_from(_config_keys()),
       value=st.one_of(st.text(max_size=10), st.integers(-3, 3).map(str), st.sampled_from(["[1,2", "{a: 1}", "null",
                                                                                             "../../x", "/abs/y"])))
def test_set_values_never_traceback_nor_write_outside(tmp_path_factory, world, key, value):
    root, feats, exp, codes = world
    tmp = tmp_path_factory.mktemp("prop")
    out = tmp / "a" / "exp"
    _run_contained(tmp, ["train", str(feats), "-o", str(out), "--epochs", "1", *TINY, "--set", f"{key}={value}"], out)
