"""loss.parallel (speechvae/training/pairs.py): DTW-aligned frame pairs of the sentences two training speakers both
read, and training on them.

The corpus is built so that the right pairing is known frame by frame: speaker b reads each sentence of speaker a
1.5 times slower, unevenly (b's frame j holds a's frame WARP[j], a hand-made monotone map), with another offset on
c1..c4, and both readings start with silence, which no pair may use."""
import numpy as np
import pytest
import torch
from conftest import tiny_config
from test_vc import FRAMES, OFFSET, _content, _held_out_frames, _train_split, synthetic_parallel_featdir

from speechvae.analysis.featdir import feature_path, stats_for, write_featdir_analysis, write_manifest
from speechvae.analysis.features import Features, resolve_analysis
from speechvae.config import AnalysisConfig, ConfigError
from speechvae.models import build
from speechvae.training.fused_step import unsupported
from speechvae.training.pairs import aligned_pairs

SILENT = 12  # leading silent frames of every reading (power 60 dB under the speech)
_T = np.linspace(0, 1, int(1.5 * FRAMES))
# b's frame j holds a's frame WARP[j]: 1.25 frames of b per frame of a at the start, 1.9 at the end (within the
# aligner's slope limit of 2)
WARP = np.round((FRAMES - 1) * (0.8 * _T + 0.2 * _T**2)).astype(int)


def warped_parallel_featdir(root, sentences: int = 4) -> list[str]:
    """Speakers a and b reading sentences s00..; b slower (WARP); returns the utterance ids (a's, then b's)."""
    cfg = resolve_analysis(AnalysisConfig())
    rows = []
    for spk in ("a", "b"):
        for i in range(sentences):
            c = _content(i) if spk == "a" else _content(i)[WARP]
            t = SILENT + len(c)
            mcep = np.zeros((t, 40))
            mcep[SILENT:, 1:] = c
            mcep[:, 1:5] += OFFSET[spk]
            power = np.full(t, -20.0)
            power[:SILENT] = -80.0
            f0 = np.where(power > -50, 110.0 if spk == "a" else 220.0, 0.0)
            u = f"{spk}/s{i:02d}"
            Features(f0=f0, mcep=mcep, bap=np.full((t, 1), -20.0), power_db=power, fs=cfg.fs,
                     frame_period=cfg.frame_period, alpha=cfg.alpha, fft_size=cfg.fft_size).save(feature_path(root, u))
            rows.append({"utt_id": u, "speaker": spk, "path": "-", "frames": t, "seconds": t / 200})
    write_manifest(root, rows)
    write_featdir_analysis(root, cfg)
    return [r["utt_id"] for r in rows]


def test_pairs_put_each_speech_frame_against_the_same_content_read_at_another_tempo(tmp_path):
    ids = warped_parallel_featdir(tmp_path)
    stats = {s: stats_for(tmp_path, [u for u in ids if u.startswith(s + "/")]) for s in ("a", "b")}
    p = aligned_pairs(tmp_path, ids, stats)
    la, lb = SILENT + FRAMES, SILENT + len(WARP)  # frames per reading of a and of b
    n_a = 4 * la  # b's readings follow a's four in the frame order
    assert p.sentences == 8 and p.skipped == 0  # both directions of the 4 sentences
    assert len(p.src) == 4 * FRAMES + 4 * len(WARP)  # every speech frame of every reading once as a source
    a_to_b = p.src < n_a
    # a -> b: a's frame i of sentence k (position i - SILENT in its speech) against b's frame j of the same sentence
    sa, ta = p.src[a_to_b], p.tgt[a_to_b]
    assert np.all(ta >= n_a) and np.array_equal((ta - n_a) // lb, sa // la)  # the same sentence, the other speaker
    i, j = sa % la - SILENT, (ta - n_a) % lb - SILENT
    assert i.min() >= 0 and j.min() >= 0  # no silent frame on either side
    _same_content(i, j, sa // la)
    # b -> a: b's frame j against a's frame WARP[j]
    sb, tb = p.src[~a_to_b], p.tgt[~a_to_b]
    j, i = (sb - n_a) % lb - SILENT, tb % la - SILENT
    assert j.min() >= 0 and i.min() >= 0
    _same_content(i, j, (sb - n_a) // lb)


def _same_content(i, j, sentence):
    """a's frame ``i`` and b's frame ``j`` of ``sentence`` read the same content: the hand-made map, to a frame for
    98% of the pairs (where the trajectory turns, neighbouring frames are near-identical and DTW may pick one a
    little further), and the content apart by under 5% of what random frames of the same sentences are."""
    assert np.mean(np.abs(WARP[j] - i) <= 1) > 0.98
    content = np.stack([_content(k) for k in range(4)])  # (sentences, FRAMES, 39)
    err = np.sqrt(np.mean((content[sentence, i] - content[sentence, WARP[j]]) ** 2))
    rand = np.sqrt(np.mean((content[sentence, i] - content[sentence, np.random.default_rng(0).permutation(i)]) ** 2))
    assert err < 0.05 * rand, (err, rand)


def test_pairs_are_refused_where_no_sentence_is_read_twice(tmp_path):
    ids = warped_parallel_featdir(tmp_path)
    stats = {s: stats_for(tmp_path, [u for u in ids if u.startswith(s + "/")]) for s in ("a", "b")}
    odd = [u for u in ids if u.endswith(("0", "2") if u.startswith("a/") else ("1", "3"))]  # a's s00, s02; b's s01, s03
    with pytest.raises(ValueError, match="sentences read by two or more training speakers"):
        aligned_pairs(tmp_path, odd, stats)


def test_parallel_term_teaches_a_leaky_model_to_convert(tmp_path):
    """Two models trained alike on the synthetic pair with a weak bottleneck (latent 8, beta 0.01: the speaker leaks
    into z and the plain model hardly converts), one with loss.parallel = 1. On held-out sentences its conversions
    are the other speaker's real frames of the same sentence, nearly; the plain model's are not."""
    from speechvae.training.loop import read_log_csv

    feat, train, held = synthetic_parallel_featdir(tmp_path / "feat")
    sets = ["model.conditioning=decoder", "model.latent=8", "model.hidden=[64, 32]", "model.scaling=global",
            "loss.beta=0.01", "loss.decoder_variance=unit", "train.epochs=12", "train.batch_size=64", "train.lr=3e-3",
            "train.probe_frames=256"]
    conv_err = {}
    for w in (0, 1):
        exp = tmp_path / f"parallel{w}"
        _train_split(feat, exp, train, held, [*sets, f"loss.parallel={w}"])
        assert ("train_parallel" in read_log_csv(exp / "log.csv")[-1]) == (w > 0)
        tm, x, spk = _held_out_frames(feat, exp, held)
        with torch.no_grad():
            conv = tm.model.decode(tm.model.encode(x, None, spk)[0], None, 1 - spk)[0]
        n = len(x) // 2
        truth = torch.cat([x[n:], x[:n]])  # the same sentences read by the other speaker
        conv_err[w] = (conv - truth).pow(2).mean().item() / (x - truth).pow(2).mean().item()
    # measured: 66% of no conversion's squared error without the term, 0.01% with it
    assert conv_err[0] > 0.3 and conv_err[1] < 0.01, conv_err


def test_realigned_pairs_are_kept_so_a_resumed_run_trains_on_them(tmp_path, monkeypatch):
    """With loss.parallel_realign the pairs are aligned again on the model's conversions; a run cut after the
    re-alignment and resumed ends with the uninterrupted run's weights, bit for bit, because the checkpoint keeps
    the pairs. So that this can fail, the first alignment is made a wrong one here (the targets shuffled), which
    the re-alignment replaces: a resumed run that aligned afresh would train on the wrong pairs again."""
    import speechvae.training.data as data_mod  # training.data calls aligned_pairs by this name
    from speechvae.config import load_config
    from speechvae.models.checkpoint import load_checkpoint
    from speechvae.training.loop import fit

    warped_parallel_featdir(tmp_path / "feat")
    real = data_mod.aligned_pairs

    def first_is_wrong(featdir, tr, stats, convert=None):
        p = real(featdir, tr, stats, convert)
        if convert is None:  # the first alignment (mean/std matching): shuffled
            p.tgt = p.tgt[np.random.default_rng(0).permutation(len(p.tgt))]
        return p

    monkeypatch.setattr(data_mod, "aligned_pairs", first_is_wrong)
    sets = ["model.conditioning=decoder", "model.hidden=[32, 16]", "model.latent=2", "model.scaling=global",
            "loss.decoder_variance=unit", "loss.parallel=1", "loss.parallel_realign=2", "train.batch_size=64",
            "train.probe_frames=256", "train.valid_fraction=0.25"]
    fit(tmp_path / "feat", tmp_path / "full", load_config(None, [*sets, "train.epochs=4"]), progress=False)
    fit(tmp_path / "feat", tmp_path / "cut", load_config(None, [*sets, "train.epochs=3"]), progress=False)
    fit(tmp_path / "feat", tmp_path / "cut", load_config(None, [*sets, "train.epochs=4"]), resume=True, progress=False)
    full, cut = load_checkpoint(tmp_path / "full"), load_checkpoint(tmp_path / "cut")
    assert torch.equal(full.parallel_pairs[1], cut.parallel_pairs[1])
    tr = load_checkpoint(tmp_path / "full").train_utts
    stats = {s: stats_for(tmp_path / "feat", [u for u in tr if u.startswith(s + "/")]) for s in ("a", "b")}
    assert not torch.equal(full.parallel_pairs[1], torch.from_numpy(first_is_wrong(tmp_path / "feat", tr, stats).tgt))
    for k, v in full.model_state.items():
        torch.testing.assert_close(cut.model_state[k], v, rtol=0, atol=0)


def test_parallel_term_is_refused_where_it_cannot_apply():
    with pytest.raises(ConfigError, match="loss.parallel needs a speaker-conditioned model"):
        tiny_config(**{"loss.parallel": 1})
    with pytest.raises(ConfigError, match="loss.parallel: an option of the frame-wise mlp"):
        tiny_config(**{"loss.parallel": 1, "model.conditioning": "decoder", "model.kind": "conv"})
    with pytest.raises(ConfigError, match="loss.parallel must be >= 0"):
        tiny_config(**{"loss.parallel": -1})
    model = build(tiny_config(**{"model.conditioning": "decoder", "model.speakers": "[a, b]"}), 39)
    assert unsupported(model, 0.0, parallel=1.0) == "the parallel term (loss.parallel)"
