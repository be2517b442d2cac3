"""The training steps of one epoch and the validation pass: batches, the loss with every term the config turns on,
the optimiser step, and the per-epoch figures that go to ``log.csv``.

All frames of a split live in one tensor on the device and batches are index slices of it, so a step is a gather
plus the network, with no per-batch numpy conversion. A training set streamed from a frame store
(:mod:`speechvae.training.framestore`) goes block by block. The sums of an epoch's loss terms stay on the device
(:class:`LossSums`): one host sync per epoch, not per batch.
"""
from __future__ import annotations

import math

import torch

from speechvae.config import Config
from speechvae.models.losses import (
    cycle_terms,
    decode_means,
    loss_terms,
    mean_decode_error,
    objective,
    parallel_term,
    variance_term,
)
from speechvae.models.prosody import SpeakerF0Map
from speechvae.training import fused_step
from speechvae.training.data import Data
from speechvae.training.framestore import FrameStore

ACTIVE_KL_NATS = 0.01  # a latent dim is "active" when its mean KL exceeds this
MCD_K = 10.0 / math.log(10.0)  # dB per unit of the cepstral distance: MCD = (10 / ln 10) sqrt(2 sum d^2)
VALID_CHUNK_FRAMES = 16384  # frames per validation pass of a frame-wise model


class LossSums:
    """Named running sums of one epoch's loss terms, each a float64 scalar on the device.

    ``recon``, ``kl``, ``commit``, ``cycle``, ``parallel``: sums over frames (nats); ``frames``: frames stepped;
    ``adv_ce``: the speaker classifier's cross-entropy x frames; ``adv_right``: frames it classified right;
    ``gv``: the variance term x frames. A term is added by name, so a new one cannot be mislabelled by its position.

    >>> s = LossSums("cpu"); s.add(recon=torch.tensor(3.0), frames=2.0); s.add(recon=torch.tensor(1.0), frames=2.0)
    >>> t = s.totals(); t["recon"], t["frames"], t["kl"]
    (4.0, 4.0, 0.0)
    """

    NAMES = ("recon", "kl", "commit", "cycle", "frames", "adv_ce", "adv_right", "gv", "parallel")

    def __init__(self, device):
        self.sums = {n: torch.zeros((), dtype=torch.float64, device=device) for n in self.NAMES}

    def add(self, **terms) -> None:
        """Add each named term (a tensor or a number); an unknown name is a KeyError."""
        for name, v in terms.items():
            self.sums[name] += v.detach().double() if torch.is_tensor(v) else v

    def merge(self, other: LossSums) -> None:
        """Add another block's sums."""
        self.add(**other.sums)

    def totals(self) -> dict[str, float]:
        """The sums as floats (one host sync)."""
        return dict(zip(self.sums, torch.stack(list(self.sums.values())).tolist()))


def as_sequence(x: torch.Tensor | None, stride: int) -> torch.Tensor | None:
    """``(N, ...)`` concatenated frames (or their speakers) -> one ``(1, N', ...)`` sequence, N' the largest
    multiple of stride (None stays None)."""
    return None if x is None else x[None, : len(x) - len(x) % stride]


def batches(x: torch.Tensor, segment: int, batch_frames: int, g: torch.Generator):
    """Index tensors ``(B, segment)`` of one epoch over ``x (N, D)``: every frame once in random order
    for a frame-wise model (segment 1), ``N // segment`` segments at random offsets for a temporal one."""
    if segment == 1:
        perm = torch.randperm(len(x), generator=g, device=x.device)[:, None]
    else:
        starts = torch.randint(0, len(x) - segment + 1, (len(x) // segment,), generator=g, device=x.device)
        perm = starts[:, None] + torch.arange(segment, device=x.device)
    per_batch = max(1, batch_frames // segment)
    return perm.split(per_batch)


def train_epoch(model: torch.nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor | FrameStore, cfg: Config,
                epoch: int, beta: float, spk: torch.Tensor | None = None, pros: torch.Tensor | None = None,
                f0map: SpeakerF0Map | None = None, pairs: tuple[torch.Tensor, torch.Tensor] | None = None) -> dict:
    """One pass over ``x`` (N, D) in shuffled batches (a frame store: block by block; ``spk (N,)`` the frames'
    speakers for a conditioned model; ``pros (N, 2)`` their prosody and ``f0map`` the speakers' F0 map for a
    decoder with model.prosody; ``pairs``: loss.parallel's frame pairs, indices into ``x``); returns mean loss terms
    per frame (and, for a VQ-VAE, the commitment term and codebook use over the epoch)."""
    model.train()
    device = next(model.parameters()).device
    g = torch.Generator(device=device).manual_seed(cfg.train.seed * 100_003 + epoch)
    vq = model.vq
    if vq is not None:
        torch.manual_seed(cfg.train.seed * 100_003 + epoch)  # codebook re-draws: a resumed epoch replays them
        vq.reset_usage()
    total = LossSums(device)
    if torch.is_tensor(x):
        total.merge(train_block(model, opt, x, cfg, beta, g, spk, pros, f0map, pairs))
    else:  # the frame store's blocks in a random order, each read when its turn comes (one block held at a time)
        for a, b in x.blocks(g, cfg.train.block_frames):
            xs = torch.from_numpy(x.read(a, b)).to(device)
            total.merge(train_block(model, opt, xs, cfg, beta, g, None if spk is None else spk[a:b],
                                    None if pros is None else pros[a:b], f0map))
            del xs
    s = total.totals()
    frames = s["frames"]
    rec, kl, commit, cycle = s["recon"] / frames, s["kl"] / frames, s["commit"] / frames, s["cycle"] / frames
    row = {"train_loss": rec + (cfg.loss.commitment * commit if vq is not None else beta * kl), "train_recon": rec,
           "train_kl": kl}
    if cfg.loss.cycle > 0:
        row["train_cycle"] = cycle  # NLL of the round trip through another speaker, nats per frame
    if cfg.loss.parallel > 0:
        # NLL of the aligned target frame under the conversion, nats per pair
        row["train_parallel"] = s["parallel"] / frames
    if cfg.loss.gv > 0:  # mean squared log ratio of decoded to data variance per dimension (0: as varied as the data)
        row["train_gv_gap"] = s["gv"] / frames
    if model.adversary is not None:  # the speaker classifier on z: ln(speakers) nats and chance accuracy = no speaker
        row["train_adv_ce"], row["train_adv_acc"] = s["adv_ce"] / frames, s["adv_right"] / frames
    if vq is not None:
        row["train_commit"] = commit
        row.update(codebook_columns(vq.usage_stats()))
    return row


def train_block(model: torch.nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, cfg: Config, beta: float,
                 g: torch.Generator, spk: torch.Tensor | None = None, pros: torch.Tensor | None = None,
                 f0map: SpeakerF0Map | None = None, pairs: tuple[torch.Tensor, torch.Tensor] | None = None
                ) -> LossSums:
    """Steps over one block ``x (N, D)`` of frames in shuffled batches; returns the block's :class:`LossSums`
    (left on the device: one host sync per epoch, not per batch).
    ``pairs``: loss.parallel's frame pairs (indices into ``x``, the whole training set), as many drawn per step as
    the batch has frames."""
    if cfg.train.step == "auto" and fused_step.unsupported(model, cfg.loss.free_bits, cfg.loss.cycle,
                                                           cfg.loss.gv + cfg.loss.mean_recon,
                                                           cfg.loss.parallel) is None:
        return train_block_by_hand(model, opt, x, cfg, beta, g, spk)
    total = LossSums(x.device)  # running sums: memory flat in the batch count
    cycle = adv = right = gv = par = torch.zeros((), device=x.device)
    for idx in batches(x, model.segment, cfg.train.batch_size, g):
        xb = x[idx]  # (B, segment, D)
        eps = None if model.vq is not None else torch.randn(len(xb), idx.shape[1] // model.stride, cfg.model.latent,
                                                            generator=g, device=x.device)
        sb = None if spk is None else spk[idx]
        pb = None if pros is None else pros[idx]
        out = model(xb, eps, sb, pb)
        terms = loss_terms(xb, out, model.stride)
        loss = objective(terms, beta, cfg.loss.free_bits, cfg.loss.commitment)
        other = pb_other = None
        if cfg.loss.cycle > 0:
            other = other_speakers(sb[:, :: model.stride], len(cfg.model.speakers), g)
            pb_other = None if pb is None else f0map(pb, sb, other)
            cycle, kl2 = cycle_terms(model, xb, out.z, sb, other, torch.randn(eps.shape, generator=g, device=x.device),
                                     pb, pb_other)
            loss = loss + cfg.loss.cycle * (cycle.mean() + beta * kl2.mean() / model.stride)
        if cfg.loss.gv > 0 or cfg.loss.mean_recon > 0:
            rec_mu = decode_means(model, out.mu, sb, pb)
            if cfg.loss.gv > 0:
                gv = variance_term(model, xb, rec_mu, sb, out.mu, other, pb_other)
                loss = loss + cfg.loss.gv * gv
            if cfg.loss.mean_recon > 0:
                loss = loss + cfg.loss.mean_recon * mean_decode_error(xb, rec_mu)
        if pairs is not None:
            j = torch.randint(0, len(pairs[0]), (xb.shape[0] * xb.shape[1],), generator=g, device=x.device)
            ps, pt = pairs[0][j], pairs[1][j]
            pp = None if pros is None else f0map(pros[ps], spk[ps], spk[pt])[:, None]
            par = parallel_term(model, x[ps][:, None], x[pt][:, None], spk[ps][:, None], spk[pt][:, None], pp)
            loss = loss + cfg.loss.parallel * par.mean()
        if model.adversary is not None:  # the classifier learns at full rate; the encoder plays against it (weighted)
            adv, confuse, right = model.adversary.loss(out.mu, sb[:, :: model.stride], cfg.loss.adversarial,
                                                       cfg.loss.adversarial_mode)
            loss = loss + adv + confuse
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            n = float(xb.shape[0] * xb.shape[1])
            total.add(recon=terms.recon.sum(), kl=terms.kl.sum(), commit=terms.commit_per_frame.to(x.device) * n,
                      cycle=cycle.sum(), frames=n, adv_ce=adv * n, adv_right=right * model.stride, gv=gv * n,
                      parallel=par.sum())
    return total


def other_speakers(spk: torch.Tensor, n: int, g: torch.Generator) -> torch.Tensor:
    """For each entry of ``spk`` (indices among ``n`` >= 2 speakers), one of the other ``n - 1`` speakers,
    uniformly at random."""
    return (spk + torch.randint(1, n, spk.shape, generator=g, device=spk.device)) % n


def train_block_by_hand(model: torch.nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, cfg: Config,
                         beta: float, g: torch.Generator, spk: torch.Tensor | None = None) -> torch.Tensor:
    """:func:`train_block` for the frame-wise MLP with :mod:`.fused_step`'s gradients: the same batches and
    the same noise draws (same seed, same curve to float rounding), fewer operations per step."""
    rec = torch.zeros((), dtype=torch.float64, device=x.device)
    kl = torch.zeros((), dtype=torch.float64, device=x.device)
    for idx in batches(x, 1, cfg.train.batch_size, g):
        idx = idx[:, 0]
        eps = torch.randn(len(idx), cfg.model.latent, generator=g, device=x.device)
        r, k = fused_step.mlp_gradients(model, x[idx], eps, beta, None if spk is None else spk[idx])
        opt.step()
        rec += r
        kl += k
    total = LossSums(x.device)
    total.add(recon=rec, kl=kl, frames=float(len(x)))
    return total


def codebook_columns(u: dict) -> dict:
    """log.csv columns of a VQ-VAE's codebook use: per codebook the share of entries used and the
    perplexity, and in all the entries never used and the entries re-drawn."""
    row = {f"vq_used{i + 1}": v for i, v in enumerate(u["used"])}
    row.update({f"vq_perplexity{i + 1}": v for i, v in enumerate(u["perplexity"])})
    row.update(vq_dead=int(sum(u["dead"])), vq_reinit=int(sum(u["reinit"])))
    return row


@torch.no_grad()
def evaluate_epoch(model: torch.nn.Module, data: Data, cfg: Config, beta: float) -> dict:
    """Validation ELBO terms per frame (fixed noise), held-out MCD of the posterior-mean reconstruction
    (dB, c1..c39), mean mu / mean sigma of q(z|x), active latent dims and dead ReLU fraction per layer.
    A temporal model sees the held-out utterances as one sequence (across their joins); a frame-wise one goes
    through them in chunks of VALID_CHUNK_FRAMES."""
    model.eval()
    x, spk = as_sequence(data.valid, model.stride), as_sequence(data.valid_spk, model.stride)
    pros = as_sequence(data.valid_pros, model.stride)
    g = torch.Generator(device=x.device).manual_seed(cfg.train.seed + 7_919)
    noise = None if model.vq is not None else torch.randn(1, x.shape[1] // model.stride, cfg.model.latent,
                                                          generator=g, device=x.device)
    # a frame-wise model goes through in chunks (the same numbers, memory flat in the held-out set's size: whole,
    # 100 ARCTIC utterances cost 0.5 GB of activations); a temporal model sees the joined sequence at once
    chunk = VALID_CHUNK_FRAMES if model.segment == 1 and model.stride == 1 else x.shape[1]
    acc = dict.fromkeys(("recon", "kl", "kl_dim", "commit", "mcd", "mu", "sigma", "latents", "adv_right"), 0.0)
    for a in range(0, x.shape[1], chunk):
        xs, ss = x[:, a:a + chunk], None if spk is None else spk[:, a:a + chunk]
        ps = None if pros is None else pros[:, a:a + chunk]
        out = model(xs, None if noise is None else noise[:, a // model.stride:(a + chunk) // model.stride], ss, ps)
        terms = loss_terms(xs, out, model.stride)
        mean_out = model(xs, spk=ss, pros=ps) if model.vq is None else out  # z = mu (a VQ-VAE's forward has no noise)
        err = (xs - mean_out.x_mean) * data.std
        n, latents = xs.shape[1], out.mu.shape[1]
        acc["recon"] += terms.recon.sum()
        acc["kl"] += terms.kl.sum()
        acc["kl_dim"] += terms.kl_per_dim * latents
        acc["commit"] += terms.commit_per_frame * n
        acc["mcd"] += (MCD_K * torch.sqrt(2.0 * (err**2).sum(dim=-1))).sum()
        acc["mu"] += out.mu.sum()
        acc["sigma"] += torch.exp(0.5 * out.logvar).sum() if out.logvar is not None else 0.0
        acc["latents"] += latents
        if model.adversary is not None:
            acc["adv_right"] += model.adversary.loss(mean_out.mu, ss[:, :: model.stride], 0.0)[2]
    frames = x.shape[1]
    recon, kl, commit = (float(acc[k]) / frames for k in ("recon", "kl", "commit"))
    kl_per_dim = acc["kl_dim"] / acc["latents"]
    mcd = float(acc["mcd"]) / frames
    mu_count = acc["latents"] * cfg.model.latent
    probe = model(as_sequence(data.probe, model.stride), spk=as_sequence(data.probe_spk, model.stride),
                  pros=as_sequence(data.probe_pros, model.stride))
    dead = [float((h.flatten(0, -2).amax(dim=0) <= 0).float().mean()) for h in probe.hidden]
    row = {
        "valid_loss": recon + beta * kl,
        "valid_recon": recon,
        "valid_kl": kl,
        "valid_mcd_db": mcd,
        "mean_mu": float(acc["mu"]) / mu_count,
        # a VQ-VAE's encoder is deterministic: sigma 0; all its dims carry the code
        "mean_sigma": float(acc["sigma"]) / mu_count if model.vq is None else 0.0,
        "active_dims": (int((kl_per_dim * model.stride > ACTIVE_KL_NATS).sum()) if model.vq is None
                        else cfg.model.latent),
    }
    if model.adversary is not None:  # how well the training-time speaker classifier still reads held-out z
        row["valid_adv_acc"] = float(acc["adv_right"]) / acc["latents"]
    if model.vq is not None:
        row["valid_loss"] = recon + cfg.loss.commitment * commit
        row["valid_commit"] = commit
    n_enc = len(model.enc)
    for i, d in enumerate(dead):
        name = f"dead_enc{i + 1}" if i < n_enc else f"dead_dec{i - n_enc + 1}"
        row[name] = d
    return row
