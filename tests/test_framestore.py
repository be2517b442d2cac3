"""Frame store: training frames streamed from one packed file give the in-memory run when the
order is the same, every frame once per epoch in blocks, and a store that follows its features."""
import os

import numpy as np
import pytest
import torch
from conftest import tiny_config

from speechvae.analysis.featdir import stats_for
from speechvae.models.checkpoint import load_checkpoint
from speechvae.training.data import load_frames
from speechvae.training.framestore import pack
from speechvae.training.loop import fit

IDS = ["part0", "part1", "part2"]


@pytest.mark.parametrize("kind", ["mlp", "conv"])
def test_streamed_run_equals_in_memory_run_with_one_block(kind, three_part_featdir, tmp_path):
    sets = {"model.kind": kind, "train.epochs": 2, "model.segment": 16}
    fit(three_part_featdir, tmp_path / "mem", tiny_config(**sets), progress=False)
    fit(three_part_featdir, tmp_path / "disk", tiny_config(**sets, **{"train.max_memory_mb": 0}), progress=False)
    assert (tmp_path / "disk/frames/train.f32").is_file() and not (tmp_path / "mem/frames").exists()
    a, b = load_checkpoint(tmp_path / "mem"), load_checkpoint(tmp_path / "disk")
    for k in a.model_state:
        assert torch.equal(a.model_state[k], b.model_state[k]), k
    assert a.history[-1]["valid_mcd_db"] == b.history[-1]["valid_mcd_db"]


def test_blocks_cover_every_frame_once_in_a_seeded_order(three_part_featdir, tmp_path):
    stats = stats_for(three_part_featdir, IDS)
    store = pack(three_part_featdir, IDS, stats, "per_dim", tmp_path)
    x = load_frames(three_part_featdir, IDS, stats, tiny_config())
    assert store.shape == x.shape and np.array_equal(store.read(0, len(store)), x)  # the same frames, same order
    spans = store.blocks(torch.Generator().manual_seed(1), block_frames=50)
    assert sorted(spans) == [(a, min(a + 50, len(x))) for a in range(0, len(x), 50)]
    assert spans != sorted(spans)  # visited in a shuffled order
    assert spans == store.blocks(torch.Generator().manual_seed(1), block_frames=50)
    h = fit(three_part_featdir, tmp_path / "exp", tiny_config(**{"train.max_memory_mb": 0, "train.block_frames": 50}),
            progress=False)
    assert np.isfinite(h[-1]["train_loss"]) and h[-1]["valid_mcd_db"] < h[0]["valid_mcd_db"] + 1


def test_store_is_reused_and_rebuilt_when_a_feature_file_changes(three_part_featdir, tmp_path):
    stats = stats_for(three_part_featdir, IDS)
    s1 = pack(three_part_featdir, IDS, stats, "per_dim", tmp_path)
    t1 = os.stat(s1.path).st_mtime_ns
    s2 = pack(three_part_featdir, IDS, stats, "per_dim", tmp_path)
    assert os.stat(s2.path).st_mtime_ns == t1  # same fingerprint: not written again
    per_dim = s2.read(0, 5)
    f = three_part_featdir / "feats/part1.npz"
    st = os.stat(f)
    try:
        os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # the feature file was rewritten
        s3 = pack(three_part_featdir, IDS, stats, "per_dim", tmp_path)
        assert os.stat(s3.path).st_mtime_ns != t1
        assert not np.array_equal(pack(three_part_featdir, IDS, stats, "global", tmp_path).read(0, 5), per_dim)
    finally:
        os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
