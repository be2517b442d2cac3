import numpy as np
import pytest

from speechvae.evaluation.metrics import gv_ratio, mcd_db, mcd_per_frame, summarize, utterance_metrics


def test_mcd_hand_value_and_c0_excluded():
    a = np.zeros((3, 40))
    b = a.copy()
    b[:, 0] = 5.0  # power: excluded
    b[:, 1], b[:, 2] = 0.3, 0.4
    expected = 10 / np.log(10) * np.sqrt(2 * (0.09 + 0.16))
    np.testing.assert_allclose(mcd_per_frame(a, b), expected)
    assert mcd_db(a, b) == pytest.approx(expected)
    assert mcd_db(a, a) == 0.0


def test_mcd_voiced_mask():
    a = np.zeros((2, 3))
    b = np.array([[0, 1.0, 0], [0, 0, 0]])
    assert mcd_db(a, b, np.array([False, True])) == 0.0
    assert mcd_db(a, b, np.array([True, False])) == pytest.approx(10 / np.log(10) * np.sqrt(2))


def test_gv_ratio_of_shrunk_copy():
    x = np.random.default_rng(0).normal(size=(500, 40))
    np.testing.assert_allclose(gv_ratio(x, 0.5 * x), 0.25)
    np.testing.assert_allclose(gv_ratio(x, x + 3), 1.0)


def test_summary_weights_by_frames():
    x = np.zeros((10, 4))
    y = x.copy()
    y[:, 1] = 1.0
    m1 = utterance_metrics(x, y, np.ones(10))
    m2 = utterance_metrics(x[:30], x[:30], np.ones(10))  # 10 frames, MCD 0
    s = summarize({"a": m1, "b": {**m2, "frames": 30, "voiced_frames": 30}})
    assert s["mcd_db"] == pytest.approx(m1["mcd_db"] * 10 / 40)
