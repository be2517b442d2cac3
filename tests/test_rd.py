"""Compact codes: the PCA baseline, the rate-distortion command, the new evaluation figures, scaling."""
import json

import numpy as np
import pytest

from speechvae.analysis.featdir import read_id_list
from speechvae.analysis.features import Features
from speechvae.analysis.stats import Stats
from speechvae.cli import main
from speechvae.evaluation.baselines import PCA, RunningMoments, fit_pca, pca_rebuild
from speechvae.evaluation.evaluate import evaluate
from speechvae.evaluation.metrics import mcd_per_frame, score
from speechvae.inference.model import load_model
from speechvae.models.checkpoint import load_checkpoint

TINY = ["--set", "model.hidden=[32,16]", "--set", "train.batch_size=64", "--set", "train.probe_frames=256"]


@pytest.fixture(scope="module")
def lists(three_part_featdir, tmp_path_factory):
    d = tmp_path_factory.mktemp("lists")
    for name, ids in (("train", ["part0", "part1"]), ("dev", ["part1"]), ("eval", ["part2"])):
        (d / f"{name}.list").write_text("".join(f"{u}\n" for u in ids))
    return d


def test_pca_equals_numpy_svd_and_keeps_all_with_every_component(three_part_featdir):
    frames = np.concatenate([Features.load(three_part_featdir / f"feats/part{i}.npz").mcep[:, 1:] for i in (0, 1)])
    pca = fit_pca(three_part_featdir, ["part0", "part1"])
    c = frames - frames.mean(axis=0)
    _, s, vt = np.linalg.svd(c, full_matrices=False)
    np.testing.assert_allclose(pca.variance, s**2 / len(frames), rtol=1e-8)
    for k in (1, 4, 8):  # the same subspace as numpy's SVD: identical projections
        np.testing.assert_allclose(pca.reconstruct(frames, k), frames.mean(0) + (c @ vt[:k].T) @ vt[:k], atol=1e-8)
    np.testing.assert_allclose(pca.reconstruct(frames, 39), frames, atol=1e-8)


def test_pca_error_is_the_discarded_variance():
    """Mean squared error of PCA-k on its training frames = sum of the discarded eigenvalues."""
    x = np.random.default_rng(0).standard_normal((2000, 6)) * [3, 2, 1, 0.5, 0.2, 0.1]
    pca = PCA.fit(RunningMoments.of(x))
    for k in range(7):
        err = np.mean(np.sum((pca.reconstruct(x, k) - x) ** 2, axis=1))
        assert err == pytest.approx(pca.variance[k:].sum(), rel=1e-8)


def test_stacked_pca_is_pca_of_blocks_and_of_repeated_frames_is_frame_pca():
    """PCA with stack s is the PCA of s consecutive frames side by side (numpy's SVD of the blocks). Hand
    reasoning gives an independent check: when every frame is said twice, a block [x, x] lies in the span of
    [v, v] / sqrt(2) for the frame's axes v, so stacked PCA with 2k components per 2 frames rebuilds each frame
    exactly as frame PCA-k does."""
    from speechvae.evaluation.baselines import stack_frames

    rng = np.random.default_rng(0)
    x = rng.standard_normal((400, 6)) * [3, 2, 1, 0.5, 0.2, 0.1]
    blocks = stack_frames(x, 4)
    pca4 = PCA.fit(RunningMoments.of(blocks), stack=4)
    c = blocks - blocks.mean(axis=0)
    _, sv, vt = np.linalg.svd(c, full_matrices=False)
    np.testing.assert_allclose(pca4.variance, sv**2 / len(blocks), rtol=1e-8)
    np.testing.assert_allclose(pca4.reconstruct(blocks, 5), blocks.mean(0) + (c @ vt[:5].T) @ vt[:5], atol=1e-8)
    twice = np.repeat(x, 2, axis=0)
    frame, pair = PCA.fit(RunningMoments.of(x)), PCA.fit(RunningMoments.of(stack_frames(twice, 2)), stack=2)
    for k in (1, 2, 4):
        want = np.repeat(frame.reconstruct(x, k), 2, axis=0)
        got = pair.reconstruct(stack_frames(twice, 2), k).reshape(-1, 6)
        np.testing.assert_allclose(got, want, atol=1e-8)


def test_baseline_command_scores_with_the_evaluation_code(three_part_featdir, lists, tmp_path):
    assert main(["baseline", "pca", str(three_part_featdir), "-o", str(tmp_path / "b"), "--dims", "4,16",
                 "--train-list", str(lists / "train.list"), "--list", str(lists / "eval.list")]) == 0
    m4 = json.loads((tmp_path / "b/pca4.json").read_text())
    m16 = json.loads((tmp_path / "b/pca16.json").read_text())
    assert m4["held_out"] is True and list(m4["per_utterance"]) == ["part2"]
    assert {"mcd_db", "mcd_voiced_db", "gv_ratio", "share_over_2db", "share_over_4db"} <= set(m4)
    assert m16["mcd_db"] < m4["mcd_db"]
    # by hand: project part2 with a PCA fitted on part0 + part1
    pca = fit_pca(three_part_featdir, ["part0", "part1"])
    f = Features.load(three_part_featdir / "feats/part2.npz")
    want = mcd_per_frame(f.mcep, pca_rebuild(pca, 4)(f).mcep)
    assert m4["mcd_db"] == pytest.approx(want.mean(), rel=1e-12)
    assert m4["share_over_2db"] == pytest.approx(np.mean(want > 2), rel=1e-12)
    assert (tmp_path / "b/pca.csv").read_text().startswith("components,stack,mcd_db")
    assert main(["baseline", "pca", str(three_part_featdir), "-o", str(tmp_path / "c"), "--dims", "40"]) == 2
    # --stack 2: 8 components per 2 frames, a file of its own, better than 4 per frame (the same numbers per second)
    assert main(["baseline", "pca", str(three_part_featdir), "-o", str(tmp_path / "b"), "--dims", "8", "--stack", "2",
                 "--train-list", str(lists / "train.list"), "--list", str(lists / "eval.list")]) == 0
    m8x2 = json.loads((tmp_path / "b/pca8x2.json").read_text())
    assert m8x2["stack"] == 2 and m8x2["dims_per_frame"] == 4 and m8x2["mcd_db"] < m4["mcd_db"]
    assert (tmp_path / "b/pca_x2.csv").exists() and (tmp_path / "b/pca.csv").read_text().count("\n") == 3


def test_global_scaling_weighs_dims_as_mcd_does():
    s = Stats(np.zeros(3), np.array([2.0, 1.0, 0.5]), np.ones(3), 0.0, 1.0, 10, 1)
    x = np.array([[1.0, -1.0, 0.5]])
    for scaling in ("global", "per_dim"):
        np.testing.assert_allclose(s.denormalize(s.normalize(x, scaling), scaling), x)
    # global: normalised squared error is the raw squared error over one constant
    d = np.array([[0.1, 0.2, 0.3]])
    g = s.scale("global")[0]
    assert np.sum((s.normalize(x + d, "global") - s.normalize(x, "global")) ** 2) == pytest.approx(np.sum(d**2) / g**2)


@pytest.mark.parametrize("kind", ["mlp", "conv", "block"])
def test_rd_command_trains_scores_and_skips_finished_cells(three_part_featdir, lists, tmp_path, kind):
    extra = [] if kind == "mlp" else ["--set", f"model.kind={kind}", "--set", "model.stride=2",
                                      "--set", "model.segment=32"]
    args = ["rd", str(three_part_featdir), "-o", str(tmp_path / "rd"), "--grid", "model.latent=2,4",
            "--set", "train.epochs=2", *TINY, *extra, "--train-list", str(lists / "train.list"),
            "--valid-list", str(lists / "dev.list"), "--eval-list", str(lists / "eval.list")]
    assert main(args) == 0
    rows = (tmp_path / "rd/rd.csv").read_text().splitlines()
    header = rows[0].split(",")
    recs = [dict(zip(header, r.split(","))) for r in rows[1:]]
    if kind == "mlp":
        assert [r["model"] for r in recs] == [kind, kind, "pca", "pca"]
        assert [r["latent"] for r in recs] == ["2", "4"] * 2
    else:  # one latent vector per 2 frames: frame PCA with latent / 2 components, and PCA of 2 stacked frames
        assert [r["model"] for r in recs] == [kind, kind, "pca", "pca", "pca", "pca"]
        assert [r["cell"] for r in recs[2:]] == ["pca1", "pca2", "pca2x2", "pca4x2"]
        assert [float(r["dims_per_frame"]) for r in recs] == [1, 2, 1, 2, 1, 2]
    for r in recs:
        assert float(r["mcd_db"]) > 0 and r["held_out"] == "True"
    for r in recs[:2]:
        assert float(r["kbit_per_s"]) == pytest.approx(float(r["kl_nats_per_frame"]) * 200 / np.log(2) / 1000)
    assert (tmp_path / "rd/rd_dims.png").stat().st_size > 5000 and (tmp_path / "rd/rd_rate.png").exists()
    cell = tmp_path / "rd/cells/model.latent=2"
    m = json.loads((cell / "metrics.json").read_text())
    assert list(m["per_utterance"]) == ["part2"] and m["held_out"] is True
    before = (cell / "checkpoint.pt").stat().st_mtime_ns
    assert main(args) == 0  # a re-run skips finished cells
    assert (cell / "checkpoint.pt").stat().st_mtime_ns == before
    assert "skipped (finished)" in (tmp_path / "rd/rd.csv").read_text()
    # a list that does not exist is refused before any cell trains or any folder is made
    bad = [a if a != str(lists / "eval.list") else str(tmp_path / "nope.list") for a in args]
    bad[bad.index("-o") + 1] = str(tmp_path / "rd2")
    assert main(bad) == 2 and not (tmp_path / "rd2").exists()


def test_evaluate_reports_rate_nll_and_outlier_shares(three_part_featdir, lists, tmp_path):
    exp = tmp_path / "e"
    assert main(["train", str(three_part_featdir), "-o", str(exp), "--epochs", "3", *TINY,
                 "--train-list", str(lists / "train.list"), "--valid-list", str(lists / "dev.list")]) == 0
    tm = load_model(exp, "cpu")
    ev = read_id_list(lists / "eval.list")
    m = evaluate(tm, three_part_featdir, ev, nll_samples=16)
    assert m["kl_nats_per_frame"] > 0 and np.isfinite(m["nll_nats_per_frame"])
    assert m["nll_bits_per_dim"] == pytest.approx(m["nll_nats_per_frame"] / (39 * np.log(2)))
    # the IW bound is at least as tight as the ELBO (K = 1) up to sampling noise
    elbo = evaluate(tm, three_part_featdir, ev, nll_samples=1)["nll_nats_per_frame"]
    assert m["nll_nats_per_frame"] <= elbo + 0.5
    assert 0 <= m["share_over_4db"] <= m["share_over_2db"] <= 1
    same = score(three_part_featdir, ev, lambda f: f)  # a perfect reconstruction: nothing above 2 dB
    assert same["mcd_db"] == 0 and same["share_over_2db"] == 0
    assert load_checkpoint(exp).cfg.model.scaling == "per_dim"  # the default is unchanged here


@pytest.mark.parametrize("stride", [1, 2, 4])
def test_held_out_rate_of_a_strided_model_equals_the_hand_computed_kl(three_part_featdir, lists, tmp_path, stride):
    """The rate is KL(q(z|x) || N(0, I)) summed over every latent vector, per frame those vectors code, from the
    posterior means and stds alone (numpy, not the model's loss). A model with one latent vector per 2 or 4 frames
    once reported this divided by its stride a second time (half or a quarter of its true rate)."""
    from speechvae.inference.model import encode
    from speechvae.inference.rate import rate

    exp = tmp_path / f"s{stride}"
    assert main(["-q", "train", str(three_part_featdir), "-o", str(exp), "--epochs", "1", *TINY,
                 "--set", "model.kind=conv", "--set", f"model.stride={stride}", "--set", "model.segment=16",
                 "--set", "model.latent=4", "--train-list", str(lists / "train.list"),
                 "--valid-list", str(lists / "dev.list")]) == 0
    tm = load_model(exp, "cpu")
    kl = frames = 0.0
    for u in ("part1", "part2"):
        f = Features.load(three_part_featdir / f"feats/{u}.npz")
        mu, sigma = encode(tm, f)
        assert len(mu) == -(-f.frames // stride)  # one latent vector per `stride` frames (the last one padded)
        kl += 0.5 * np.sum(mu ** 2 + sigma ** 2 - 2 * np.log(sigma) - 1)
        frames += len(mu) * stride
    got = rate(tm, three_part_featdir, ["part1", "part2"])
    assert got["kl_nats_per_frame"] == pytest.approx(kl / frames, rel=1e-4)
    assert got["kbit_per_s"] == pytest.approx(kl / frames / np.log(2) * 200 / 1000, rel=1e-4)  # 5 ms frames


def test_vq_codes_round_trip_and_bits():
    from speechvae.evaluation.baselines import fit_vq

    rng = np.random.default_rng(0)
    x = rng.standard_normal((3000, 6)) * [3, 2, 1, 1, 0.5, 0.5]
    for kind in ("split", "residual"):
        q = fit_vq(x, kind, bits=6, codebooks=2)  # 2 codebooks x 8 entries
        codes = q.encode(x)
        assert codes.shape == (3000, 2) and codes.dtype == np.uint8 and q.bits_per_frame == 6
        np.testing.assert_array_equal(q.decode(codes), q.reconstruct(x))
        if kind == "split":  # nearest-entry coding per band: re-encoding a decoded frame gives its codes back
            np.testing.assert_array_equal(q.encode(q.decode(codes)), codes)
        err = np.mean(np.sum((q.reconstruct(x) - x) ** 2, axis=1))
        assert err < np.sum(x.var(axis=0))  # better than coding nothing (the mean)
    assert fit_vq(x, "split", 6, 2).bands == ((0, 3), (3, 6))
    # residual VQ: each stage can only lower the training error
    e = [np.mean(np.sum((fit_vq(x, "residual", 3 * n, n).reconstruct(x) - x) ** 2, axis=1)) for n in (1, 2, 3)]
    assert e[0] > e[1] > e[2]
    with pytest.raises(ValueError, match="whole number"):
        fit_vq(x, "split", 7, 2)


def test_baseline_vq_command(three_part_featdir, lists, tmp_path):
    assert main(["baseline", "vq", str(three_part_featdir), "-o", str(tmp_path / "v"), "--bits", "8,12",
                 "--codebooks", "2", "--train-list", str(lists / "train.list"), "--list",
                 str(lists / "eval.list")]) == 0
    m8, m12 = (json.loads((tmp_path / f"v/vq_residual{b}.json").read_text()) for b in (8, 12))
    assert m8["held_out"] is True and m8["entries"] == 16 and m12["entries"] == 64
    assert 0 < m12["mcd_db"] < m8["mcd_db"]  # more bits, less distortion
    assert (tmp_path / "v/vq.csv").read_text().count("\n") == 5  # header + split/residual x 2 rates
