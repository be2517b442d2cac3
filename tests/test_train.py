"""Training, checkpoints, resume, reconstruction and the model-side CLI commands."""
import json
import logging
import os
import pickle
import time

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import tiny_config

from speechvae.analysis.features import Features
from speechvae.cli import main
from speechvae.inference.model import load_model, reconstruct
from speechvae.inference.postfilter import gv_postfilter
from speechvae.models.checkpoint import CheckpointError, load_checkpoint
from speechvae.training import data as data_mod
from speechvae.training import loop as train_mod
from speechvae.training import steps as steps_mod
from speechvae.training.loop import TrainingDiverged, fit, read_log_csv


@pytest.fixture(scope="module")
def featdir(three_part_featdir):
    """The pysptk utterance cut into three utterances (the last two are held out by _cfg)."""
    return three_part_featdir


def _cfg(**kw):
    return tiny_config(**{"train.valid_fraction": 0.34, **kw})


def test_training_lowers_valid_loss_and_logs_monitors(featdir, tmp_path):
    hist = fit(featdir, tmp_path / "exp", _cfg(**{"train.epochs": 8}), progress=False)
    assert len(hist) == 8
    assert hist[-1]["valid_loss"] < hist[0]["valid_loss"] - 5
    assert hist[-1]["valid_mcd_db"] < hist[0]["valid_mcd_db"]
    rows = read_log_csv(tmp_path / "exp" / "log.csv")
    keys = {"train_loss", "train_recon", "train_kl", "valid_loss", "valid_recon", "valid_kl", "valid_mcd_db",
            "mean_mu", "mean_sigma", "active_dims", "dead_enc1", "dead_enc2", "dead_dec1", "dead_dec2"}
    assert keys <= set(rows[0]) and len(rows) == 8
    for r in rows:
        assert r["train_loss"] == pytest.approx(r["train_recon"] + r["beta"] * r["train_kl"], rel=1e-3)
        assert 0 <= r["dead_enc1"] <= 1 and 0 <= r["active_dims"] <= 8 and r["mean_sigma"] > 0


def test_seeded_runs_are_identical(featdir, tmp_path):
    a = fit(featdir, tmp_path / "a", _cfg(), progress=False)
    b = fit(featdir, tmp_path / "b", _cfg(), progress=False)
    assert [r["valid_loss"] for r in a] == [r["valid_loss"] for r in b]
    c = fit(featdir, tmp_path / "c", _cfg(**{"train.seed": 1}), progress=False)
    assert [r["valid_loss"] for r in a] != [r["valid_loss"] for r in c]


def test_resume_equals_uninterrupted(featdir, tmp_path):
    fit(featdir, tmp_path / "full", _cfg(**{"train.epochs": 4}), progress=False)
    fit(featdir, tmp_path / "cut", _cfg(**{"train.epochs": 2}), progress=False)
    hist = fit(featdir, tmp_path / "cut", _cfg(**{"train.epochs": 4}), resume=True, progress=False)
    assert [r["epoch"] for r in hist] == [1, 2, 3, 4]
    full, cut = load_checkpoint(tmp_path / "full"), load_checkpoint(tmp_path / "cut")
    for k, v in full.model_state.items():
        torch.testing.assert_close(cut.model_state[k], v, rtol=0, atol=0)


def test_resume_with_another_config_is_refused(featdir, tmp_path):
    fit(featdir, tmp_path / "e", _cfg(**{"train.epochs": 1}), progress=False)
    with pytest.raises(CheckpointError, match=r"other settings \(model.latent: 8 -> 4; loss.beta: 0.01 -> 0.1\)"):
        fit(featdir, tmp_path / "e", _cfg(**{"model.latent": 4, "loss.beta": 0.1}), resume=True, progress=False)
    # train.epochs and train.device may change
    assert len(fit(featdir, tmp_path / "e", _cfg(**{"train.epochs": 2, "train.device": "cpu"}), resume=True,
                   progress=False)) == 2


def test_default_stats_cover_the_training_utterances_only(featdir, tmp_path):
    from speechvae.analysis.featdir import stats_for

    fit(featdir, tmp_path / "e", _cfg(**{"train.epochs": 1}), progress=False)
    ck = load_checkpoint(tmp_path / "e")
    assert ck.train_utts == ["part0"]  # valid_fraction 0.34 of 3 holds out part1, part2
    ref = stats_for(featdir, ["part0"])
    assert ck.stats.utterances == 1 and ck.stats.frames == Features.load(featdir / "feats/part0.npz").frames
    np.testing.assert_array_equal(ck.stats.mcep_mean, ref.mcep_mean)
    assert not np.allclose(ck.stats.mcep_mean, stats_for(featdir, ["part0", "part1", "part2"]).mcep_mean)


def test_checkpoint_alone_reconstructs_identically(featdir, tmp_path):
    fit(featdir, tmp_path / "e", _cfg(), progress=False)
    f = Features.load(featdir / "feats" / "part2.npz")
    a = reconstruct(load_model(tmp_path / "e"), f)
    moved = tmp_path / "elsewhere.pt"
    os.replace(tmp_path / "e" / "checkpoint.pt", moved)  # no config.yaml, no stats file beside it
    b = reconstruct(load_model(moved), f)
    np.testing.assert_array_equal(a.mcep, b.mcep)
    np.testing.assert_array_equal(a.mcep[:, 0], f.mcep[:, 0])  # c0 kept
    assert not np.allclose(a.mcep[:, 1:], f.mcep[:, 1:])
    s = reconstruct(load_model(moved), f, sample=True, seed=3)
    assert not np.array_equal(s.mcep, a.mcep)


def test_divergence_stops_with_advice_and_keeps_last_good_checkpoint(featdir, tmp_path, monkeypatch):
    fit(featdir, tmp_path / "e", _cfg(**{"train.epochs": 2}), progress=False)
    good = (tmp_path / "e" / "checkpoint.pt").read_bytes()
    real = train_mod.train_epoch

    def exploding(model, opt, x, cfg, epoch, beta, *conditions):
        row = real(model, opt, x, cfg, epoch, beta, *conditions)
        return {**row, "train_loss": float("nan")} if epoch == 3 else row

    monkeypatch.setattr(train_mod, "train_epoch", exploding)
    with pytest.raises(TrainingDiverged, match=r"epoch 3: .*smaller init.scale .*train.lr"):
        fit(featdir, tmp_path / "e", _cfg(**{"train.epochs": 4}), resume=True, progress=False)
    assert (tmp_path / "e" / "checkpoint.pt").read_bytes() == good
    assert load_checkpoint(tmp_path / "e").epoch == 2


def test_huge_init_diverges_with_clear_error(featdir, tmp_path):
    with pytest.raises(TrainingDiverged, match="epoch 1"):
        fit(featdir, tmp_path / "e", _cfg(**{"init.scheme": "seed", "init.scale": 1e30}), progress=False)
    assert not (tmp_path / "e" / "checkpoint.pt").exists()


class _Evil:
    def __reduce__(self):
        return (os.system, (f"touch {os.environ['EVIL_MARKER']}",))


def test_malicious_pickle_checkpoint_is_refused(tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    monkeypatch.setenv("EVIL_MARKER", str(marker))
    p = tmp_path / "checkpoint.pt"
    torch.save({"format": "speechvae-checkpoint-1", "payload": _Evil()}, p)
    with pytest.raises(CheckpointError, match="refused"):
        load_checkpoint(p)
    assert not marker.exists()
    with open(tmp_path / "plain.pt", "wb") as f:
        pickle.dump(_Evil(), f)
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "plain.pt")
    assert not marker.exists()


def test_truncated_and_foreign_checkpoints(featdir, tmp_path):
    fit(featdir, tmp_path / "e", _cfg(**{"train.epochs": 1}), progress=False)
    data = (tmp_path / "e" / "checkpoint.pt").read_bytes()
    (tmp_path / "t.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(tmp_path / "t.pt")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a speechvae checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(tmp_path / "nothing")


def test_checkpoint_whose_weights_do_not_fit_its_config(featdir, tmp_path):
    fit(featdir, tmp_path / "e", _cfg(**{"train.epochs": 1}), progress=False)
    state = torch.load(tmp_path / "e" / "checkpoint.pt", weights_only=True)
    cfg = json.loads(state["config_json"])
    cfg["model"]["latent"] = 5
    state["config_json"] = json.dumps(cfg)
    torch.save(state, tmp_path / "x.pt")
    with pytest.raises(CheckpointError, match="do not fit its model config"):
        load_checkpoint(tmp_path / "x.pt").build_model()


def test_gv_postfilter_restores_training_gv():
    rng = np.random.default_rng(0)
    y = 0.3 * rng.normal(size=(400, 39)) + 2
    target = np.linspace(0.5, 2, 39)
    out = gv_postfilter(y, target)
    np.testing.assert_allclose(out.var(0), target, rtol=1e-10)
    np.testing.assert_allclose(out.mean(0), y.mean(0))


def test_model_cli_commands(featdir, tmp_path):
    exp = tmp_path / "exp"
    sets = ["--set", "model.hidden=[32,16]", "--set", "model.latent=8", "--set", "train.valid_fraction=0.34"]
    assert main(["train", str(featdir), "-o", str(exp), "--epochs", "3", *sets]) == 0
    assert load_checkpoint(exp).epoch == 3
    assert main(["train", str(featdir), "-o", str(exp), "--epochs", "4", "--resume", *sets]) == 0
    assert load_checkpoint(exp).epoch == 4
    assert main(["reconstruct", "--model", str(exp), str(featdir), "-o", str(tmp_path / "rec")]) == 0
    rec = Features.load(tmp_path / "rec" / "feats" / "part0.npz")
    assert rec.mcep.shape == Features.load(featdir / "feats" / "part0.npz").mcep.shape
    assert main(["resynth", str(tmp_path / "rec"), "-o", str(tmp_path / "wrec")]) == 0  # a usable feature folder
    assert sf.info(tmp_path / "wrec" / "part0.wav").frames > 0
    assert main(["evaluate", "--model", str(exp), str(featdir), "-o", str(tmp_path / "m.json")]) == 0
    m = json.loads((tmp_path / "m.json").read_text())
    assert set(m["per_utterance"]) == {"part0", "part1", "part2"} and 0 < m["mcd_db"] < 20 and 0 < m["gv_ratio"]
    assert m["held_out"] is False and m["training_utterances"] == ["part0"]  # marked: part0 was trained on
    (tmp_path / "eval.list").write_text("part1\npart2\n")
    assert main(["evaluate", "--model", str(exp), str(featdir), "--list", str(tmp_path / "eval.list"),
                 "-o", str(tmp_path / "m2.json")]) == 0
    m2 = json.loads((tmp_path / "m2.json").read_text())
    assert m2["held_out"] is True and m2["training_utterances"] == []
    assert main(["resynth", "--model", str(exp), str(featdir / "feats" / "part1.npz"), "-o", str(tmp_path / "w")]) == 0
    assert sf.info(tmp_path / "w" / "part1.wav").samplerate == 16000
    assert main(["plot", "--model", str(exp), str(featdir), "-o", str(tmp_path / "p"), "--dims", "2", "5"]) == 0
    for name in ("scatter", "trajectory", "loss", "posterior", "dead_units", "latent_pca"):
        assert (tmp_path / "p" / f"{name}.png").stat().st_size > 5000
    assert main(["plot", "--model", str(exp), str(featdir), "-o", str(tmp_path / "p"), "--traj-dim", "40"]) == 2


def test_checkpoints_from_before_the_models_package_still_load(featdir, tmp_path):
    """Old files kept the decoder variance at the top level and had no model.kind / model.scaling keys."""
    fit(featdir, tmp_path / "new", _cfg(**{"train.epochs": 1}), progress=False)
    state = torch.load(tmp_path / "new/checkpoint.pt", weights_only=True)
    state["model"] = {k.removeprefix("var."): v for k, v in state["model"].items()}
    cfg = json.loads(state["config_json"])
    for k in ("kind", "kernel", "stride", "segment", "scaling"):
        del cfg["model"][k]
    state["config_json"] = json.dumps(cfg)
    del state["train_utts_json"]
    (tmp_path / "old").mkdir()
    torch.save(state, tmp_path / "old/checkpoint.pt")
    old, new = load_model(tmp_path / "old", "cpu"), load_model(tmp_path / "new", "cpu")
    assert old.cfg.model.scaling == "per_dim" and old.checkpoint.train_utts == []
    f = Features.load(featdir / "feats/part1.npz")
    np.testing.assert_array_equal(reconstruct(old, f).mcep, reconstruct(new, f).mcep)


def test_cosine_schedule_runs_from_lr_to_a_hundredth():
    from speechvae.training.loop import lr_at

    cfg = tiny_config(**{"train.lr_schedule": "cosine", "train.epochs": 5, "train.lr": 0.002})
    lrs = [lr_at(cfg, e) for e in range(1, 6)]
    assert lrs[0] == 0.002 and lrs[-1] == pytest.approx(0.00002) and all(a > b for a, b in zip(lrs, lrs[1:]))
    assert lrs[2] == pytest.approx((0.002 + 0.00002) / 2)  # half way down at the middle epoch
    assert lr_at(tiny_config(**{"train.lr": 0.002}), 3) == 0.002  # constant by default


def test_cosine_schedule_reaches_the_optimiser(three_part_featdir, tmp_path, monkeypatch):
    seen = []
    real = train_mod.train_epoch
    monkeypatch.setattr(train_mod, "train_epoch",
                        lambda model, opt, *a: (seen.append(opt.param_groups[0]["lr"]), real(model, opt, *a))[1])
    cfg = tiny_config(**{"train.lr_schedule": "cosine", "train.epochs": 3})
    h = train_mod.fit(three_part_featdir, tmp_path / "e", cfg, progress=False)
    assert seen == [r["lr"] for r in h] == [train_mod.lr_at(cfg, e) for e in (1, 2, 3)]


@pytest.mark.parametrize("variance", ["unit", "shared", "per_dim"])
@pytest.mark.parametrize("conditioning", ["none", "decoder", "both"])
def test_hand_written_gradients_equal_autograds(variance, conditioning):
    """fused_step's gradients against torch.autograd's on the same batch, noise and weights (the weights
    moved off their init so that no ReLU is trivially all-on or all-off)."""
    from speechvae.models.losses import loss_terms, objective
    from speechvae.training.fused_step import mlp_gradients, unsupported

    cfg = tiny_config(**{"loss.decoder_variance": variance, "model.conditioning": conditioning,
                         "model.speakers": "[a, b, c]"})
    torch.manual_seed(0)
    model = train_mod.build_model(cfg, 39, torch.device("cpu"))
    assert unsupported(model, cfg.loss.free_bits) is None
    with torch.no_grad():
        for p in model.parameters():
            p += 0.3 * torch.randn_like(p)
    x, eps = 2 * torch.randn(64, 39), torch.randn(64, cfg.model.latent)
    spk = None if conditioning == "none" else torch.randint(0, 3, (64,))
    terms = loss_terms(x[:, None], model(x[:, None], eps[:, None], None if spk is None else spk[:, None]))
    objective(terms, 0.7).backward()
    ref = {name: p.grad.clone() for name, p in model.named_parameters()}
    assert all(g.abs().max() > 0 for g in ref.values())
    recon, kl = mlp_gradients(model, x, eps, 0.7, spk)
    for name, p in model.named_parameters():
        torch.testing.assert_close(p.grad, ref[name], rtol=1e-4, atol=1e-6 * float(ref[name].abs().max()))
    torch.testing.assert_close(recon, terms.recon.sum().detach(), rtol=1e-6, atol=0)
    torch.testing.assert_close(kl, terms.kl.sum().detach(), rtol=1e-6, atol=0)


def test_hand_written_step_trains_like_autograd(featdir, tmp_path):
    """Same seed, same batches and noise: the two training paths give the same loss curve and weights to
    float rounding (and a model the hand-written step does not cover says why)."""
    from speechvae.training.fused_step import unsupported

    runs = {}
    for step in ("auto", "autograd"):
        fit(featdir, tmp_path / step, _cfg(**{"train.step": step, "train.epochs": 3}), progress=False)
        runs[step] = read_log_csv(tmp_path / step / "log.csv")
    for a, b in zip(runs["auto"], runs["autograd"]):
        for key in ("train_recon", "train_kl", "valid_loss", "valid_mcd_db"):
            assert a[key] == pytest.approx(b[key], rel=1e-4), key
    wa, wb = (load_checkpoint(tmp_path / s).model_state for s in ("auto", "autograd"))
    for name in wa:
        torch.testing.assert_close(wa[name], wb[name], rtol=1e-3, atol=1e-5)
    conv = train_mod.build_model(_cfg(**{"model.kind": "conv"}), 39, torch.device("cpu"))
    assert "not the frame-wise MLP" in unsupported(conv, 0.0)
    mlp = train_mod.build_model(_cfg(), 39, torch.device("cpu"))
    assert unsupported(mlp, 0.5) == "free bits"
    assert unsupported(mlp, 0.0, cycle=1.0) == "the cycle term"
    for key, why in (("model.residual", "residual layers"), ("model.norm", "normalisation layers")):
        other = train_mod.build_model(_cfg(**{key: True if key == "model.residual" else "layer"}), 39, "cpu")
        assert unsupported(other, 0.0) == why
    pros = train_mod.build_model(_cfg(**{"model.prosody": True}), 39, "cpu")
    assert unsupported(pros, 0.0) == "prosody into the decoder"
    adv = train_mod.build_model(_cfg(**{"model.conditioning": "decoder", "model.speakers": ["a", "b"],
                                        "loss.adversarial": 1.0}), 39, "cpu")
    assert unsupported(adv, 0.0) == "the speaker-adversarial term"


def test_logged_training_kl_is_per_frame_for_a_strided_model():
    """A model with one latent vector per 2 frames: the epoch's train_kl is KL per *frame* (as valid_kl and the
    objective count it), the KL of the sequence's 16-frame segments over its frames; the log once divided by the stride
    twice and showed half of it. The weights barely move (lr 1e-12), so the epoch sees the initial model."""
    cfg = _cfg(**{"model.kind": "conv", "model.hidden": "[16, 16]", "model.stride": 2, "model.segment": 16})
    torch.manual_seed(0)
    model = train_mod.build_model(cfg, 39, torch.device("cpu"))
    x = torch.cumsum(0.3 * torch.randn(4096, 39), dim=0) / 8  # smooth, like mel-cepstra over time
    row = train_mod.train_epoch(model, torch.optim.Adam(model.parameters(), lr=1e-12), x, cfg, 1, 1.0)
    with torch.no_grad():
        mu, logvar = model.encode(x.reshape(-1, 16, 39))  # the training segments' length, without their random offsets
        per_frame = float(0.5 * (mu**2 + logvar.exp() - logvar - 1).sum()) / len(x)
    assert row["train_kl"] == pytest.approx(per_frame, rel=0.1)


def test_validation_in_chunks_gives_the_whole_pass_numbers(monkeypatch):
    """A frame-wise model's held-out pass goes in chunks (memory flat in the held-out set's size): the row
    equals the one-pass row, for a Gaussian VAE and a VQ-VAE."""
    frames = torch.cumsum(0.3 * torch.randn(3000, 39), dim=0) / 8
    data = data_mod.Data(train=frames[:1000], valid=frames[1000:], probe=frames[:256], std=torch.full((39,), 0.5))
    for over in ({}, {"model.quantizer": "residual"}):
        cfg = _cfg(**over)
        torch.manual_seed(0)
        model = train_mod.build_model(cfg, 39, torch.device("cpu"))
        monkeypatch.setattr(steps_mod, "VALID_CHUNK_FRAMES", 16384)
        whole = train_mod.evaluate_epoch(model, data, cfg, 1.0)
        monkeypatch.setattr(steps_mod, "VALID_CHUNK_FRAMES", 300)
        chunked = train_mod.evaluate_epoch(model, data, cfg, 1.0)
        assert set(chunked) == set(whole)
        assert chunked == pytest.approx(whole, rel=1e-5, abs=1e-7)


def _scripted_mcd(monkeypatch, values):
    """Make training's held-out MCD follow ``values`` epoch by epoch (the rest of each row is real)."""
    real, calls = train_mod.evaluate_epoch, []

    def fake(*a, **k):
        row = real(*a, **k)
        row["valid_mcd_db"] = values[len(calls)]
        calls.append(1)
        return row

    monkeypatch.setattr(train_mod, "evaluate_epoch", fake)


def test_keep_best_builds_the_epoch_of_the_lowest_held_out_mcd(featdir, tmp_path, monkeypatch):
    fit(featdir, tmp_path / "two", _cfg(**{"train.epochs": 2}), progress=False)  # seeded: the same first 2 epochs
    _scripted_mcd(monkeypatch, [5.0, 3.0, 4.0, 3.5, 6.0])
    fit(featdir, tmp_path / "best", _cfg(**{"train.epochs": 5, "train.keep_best": True}), progress=False)
    ck, two = load_checkpoint(tmp_path / "best"), load_checkpoint(tmp_path / "two")
    assert (ck.epoch, ck.best_epoch, ck.model_epoch) == (5, 2, 2)
    built = ck.build_model().state_dict()
    for k, v in two.model_state.items():
        torch.testing.assert_close(built[k], v, rtol=0, atol=0)  # the model is epoch 2's ...
    assert not torch.equal(ck.model_state["enc.0.weight"], two.model_state["enc.0.weight"])  # ... resume has epoch 5's
    f = Features.load(featdir / "feats" / "part2.npz")
    np.testing.assert_array_equal(reconstruct(load_model(tmp_path / "best"), f).mcep,
                                  reconstruct(load_model(tmp_path / "two"), f).mcep)


def test_patience_stops_training_and_a_resume_of_a_stopped_run_trains_no_more(featdir, tmp_path, monkeypatch):
    _scripted_mcd(monkeypatch, [5.0, 3.0, 4.0, 3.5, 2.0, 2.5, 2.6, 2.7])
    cfg = _cfg(**{"train.epochs": 8, "train.patience": 2})
    hist = fit(featdir, tmp_path / "e", cfg, progress=False)
    assert [r["epoch"] for r in hist] == [1, 2, 3, 4]  # epochs 3 and 4 did not go below epoch 2's 3.0
    assert train_mod.finished(load_checkpoint(tmp_path / "e"), cfg)
    assert len(fit(featdir, tmp_path / "e", cfg, resume=True, progress=False)) == 4
    # patience may change on resume (when to stop, like train.epochs): without it the run goes on to epoch 8
    more = _cfg(**{"train.epochs": 8})
    assert not train_mod.finished(load_checkpoint(tmp_path / "e"), more)
    assert [r["epoch"] for r in fit(featdir, tmp_path / "e", more, resume=True, progress=False)] == list(range(1, 9))


def test_residual_layer_norm_mlp_trains_and_reloads(featdir, tmp_path):
    cfg = _cfg(**{"model.hidden": [32, 32, 32], "model.residual": True, "model.norm": "layer", "train.epochs": 4})
    hist = fit(featdir, tmp_path / "e", cfg, progress=False)
    assert hist[-1]["valid_loss"] < hist[0]["valid_loss"]
    assert {"dead_enc3", "dead_dec3"} <= set(hist[0])  # one dead-unit monitor per hidden layer, skips or not
    tm = load_model(tmp_path / "e")
    assert tm.model.residual and len(tm.model.enc_norm) == 3
    f = Features.load(featdir / "feats" / "part2.npz")
    np.testing.assert_array_equal(reconstruct(tm, f).mcep, reconstruct(load_model(tmp_path / "e"), f).mcep)


def test_cpu_threads_take_the_free_cores(monkeypatch):
    """train.threads 0 (auto): the usable cores less the processes busy elsewhere, at least 1; N > 0: N."""
    from speechvae import device

    monkeypatch.setattr(device, "usable_cores", lambda: 2)
    for busy, want in ((0, 2), (1, 1), (5, 1)):
        monkeypatch.setattr(device, "busy_elsewhere", lambda busy=busy: busy)
        assert device.cpu_threads(0) == want
    assert device.cpu_threads(3) == 3


def test_a_busy_process_is_seen_by_the_thread_choice():
    """A process spinning on a core shows in the running-task count the auto thread choice reads."""
    import subprocess
    import sys

    from speechvae.device import busy_elsewhere

    burner = subprocess.Popen([sys.executable, "-c", "import time\nt = time.time()\nwhile time.time() - t < 20: pass"])
    try:
        time.sleep(0.5)
        assert busy_elsewhere(samples=9) >= 1
    finally:
        burner.kill()
        burner.wait()


def test_train_threads_sets_torchs_threads_and_a_resume_may_change_them(three_part_featdir, tmp_path, caplog):
    before = torch.get_num_threads()
    try:
        with caplog.at_level(logging.INFO, logger="speechvae"):
            assert main(["train", str(three_part_featdir), "-o", str(tmp_path / "e"), "--epochs", "1", "--threads",
                         "1", "--set", "model.hidden=[8]"]) == 0
        assert torch.get_num_threads() == 1 and "CPU threads: 1 (train.threads 1" in caplog.text
        assert main(["-q", "train", str(three_part_featdir), "-o", str(tmp_path / "e"), "--epochs", "2", "--threads",
                     "2", "--set", "model.hidden=[8]", "--resume"]) == 0  # where it runs is not a conflict
        assert torch.get_num_threads() == 2
        assert main(["-q", "train", str(three_part_featdir), "-o", str(tmp_path / "f"), "--threads", "-1"]) == 2
    finally:
        torch.set_num_threads(before)
