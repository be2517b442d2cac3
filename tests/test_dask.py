"""Analysis on a Dask cluster: same bytes as the process pool, and a dead worker does not lose work."""
import os
import signal
import threading
import time

import pytest
import soundfile as sf

distributed = pytest.importorskip("distributed", reason="Dask not installed (pip install 'speechvae[dask]')")

from conftest import FS, harmonic  # noqa: E402

from speechvae.analysis.corpus import analyze_corpus  # noqa: E402
from speechvae.analysis.inputs import collect_inputs  # noqa: E402
from speechvae.config import AnalysisConfig  # noqa: E402


@pytest.fixture
def wavs(tmp_path):
    d = tmp_path / "wavs" / "spk"
    d.mkdir(parents=True)
    for i in range(10):
        sf.write(d / f"u{i:02d}.wav", harmonic(0.7 + 0.05 * i, f0=90 + 12 * i, seed=i), FS, subtype="PCM_16")
    return d


def _files(d):
    return {p.relative_to(d): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file() and p.suffix != ".png"}


def test_local_cluster_matches_process_pool_byte_for_byte(wavs, tmp_path):
    pool, dask = tmp_path / "pool", tmp_path / "dask"
    analyze_corpus(collect_inputs([wavs]), pool, AnalysisConfig(), jobs=2, progress=False)
    rep = analyze_corpus(collect_inputs([wavs]), dask, AnalysisConfig(), jobs=2, scheduler="local", progress=False)
    assert rep.analysed == 10 and not rep.failures
    a, b = _files(pool), _files(dask)
    assert list(a) == list(b), (list(a), list(b))
    assert [k for k in a if a[k] != b[k]] == []


def test_worker_killed_mid_run_still_completes(wavs, tmp_path):
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
    ):
        out = tmp_path / "out"
        result = {}
        t = threading.Thread(target=lambda: result.update(rep=analyze_corpus(
            collect_inputs([wavs]), out, AnalysisConfig(), scheduler=cluster.scheduler_address, progress=False)))
        t.start()
        deadline = time.time() + 60
        while not list((out / "feats").glob("*.npz")) if (out / "feats").exists() else True:
            assert time.time() < deadline, "analysis never started"
            time.sleep(0.05)
        assert len(list((out / "feats").glob("*.npz"))) < 10, "run finished before the kill"
        victim = sorted(client.scheduler_info()["workers"])[0]
        pid = client.run(os.getpid, workers=[victim])[victim]
        os.kill(pid, signal.SIGKILL)  # the worker dies mid-run; its nanny starts a new one
        t.join(timeout=180)
        assert not t.is_alive()
    rep = result["rep"]
    # a task re-run after its worker died may find its file already written (then it counts as skipped)
    assert rep.analysed + rep.skipped == 10 and len(rep.rows) == 10 and not rep.failures
    ref = tmp_path / "ref"
    analyze_corpus(collect_inputs([wavs]), ref, AnalysisConfig(), progress=False)
    a, b = _files(ref), _files(out)
    assert list(a) == list(b), (list(a), list(b))
    assert [k for k in a if a[k] != b[k]] == []
