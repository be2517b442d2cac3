import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from speechvae.analysis.stats import RunningStats, Stats, StatsAccumulator, safe_scale

chunks = st.lists(arrays(np.float64, st.tuples(st.integers(1, 20), st.just(3)),
                         elements=st.floats(-1e3, 1e3, allow_nan=False)), min_size=1, max_size=6)


@settings(max_examples=60, deadline=None)
@given(chunks, st.randoms())
def test_merge_equals_concatenation_in_any_grouping(parts, rnd):
    ref = np.concatenate(parts)
    singles = [RunningStats.of(p) for p in parts]
    rnd.shuffle(singles)
    # merge as a random binary tree (what separate workers would do)
    while len(singles) > 1:
        i = rnd.randrange(len(singles) - 1)
        singles[i:i + 2] = [singles[i].merge(singles[i + 1])]
    s = singles[0]
    assert s.count == len(ref)
    np.testing.assert_allclose(s.mean, ref.mean(0), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(s.var, ref.var(0), rtol=1e-7, atol=1e-6)


def test_constant_dimension_is_guarded():
    x = np.random.default_rng(0).normal(size=(50, 3))
    x[:, 1] = 4.0
    acc = StatsAccumulator(3)
    acc.add(x, np.full(50, 100.0))
    s = acc.result()
    assert s.mcep_std[1] == 1.0
    z = s.normalize(x)
    assert np.all(np.isfinite(z)) and np.all(z[:, 1] == 0)
    np.testing.assert_allclose(s.denormalize(z), x)
    assert safe_scale(np.array([0.0, 1e-12, 2.0])).tolist() == [1.0, 1.0, 2.0]


def test_lf0_over_voiced_frames_only():
    acc = StatsAccumulator(2)
    acc.add(np.zeros((4, 2)), np.array([0.0, 100.0, 0.0, 200.0]))
    s = acc.result()
    assert s.lf0_mean == pytest.approx(np.mean(np.log([100.0, 200.0])))
    assert s.lf0_std == pytest.approx(np.std(np.log([100.0, 200.0])))


def test_save_load(tmp_path):
    acc = StatsAccumulator(3)
    acc.add(np.random.default_rng(1).normal(size=(10, 3)), np.full(10, 120.0))
    s = acc.result()
    s.save(tmp_path / "s.npz")
    t = Stats.load(tmp_path / "s.npz")
    np.testing.assert_array_equal(t.mcep_mean, s.mcep_mean)
    assert (t.frames, t.utterances) == (10, 1)
