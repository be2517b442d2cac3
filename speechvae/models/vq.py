"""Vector quantiser between encoder and decoder (VQ-VAE, van den Oord et al. 2017): ``n`` codebooks of
``K`` entries, residual (each codebook codes what the previous ones left) or product (each codes its own
slice of the latent). Codebooks follow the encoder by exponential moving averages of their assigned
vectors (no codebook loss); an entry no vector chose for ``DEAD_STEPS`` training steps is re-initialised
to a random encoder output of the current batch (its stage's input, for residual codebooks). The encoder sees the
decoder's gradient straight through the quantiser and a commitment loss pulls it toward its codes.

A code costs exactly ``n * log2(K)`` bits per latent vector. A residual quantiser's first ``m`` codebooks are a
coarser code of ``m * log2(K)`` bits (:meth:`Quantizer.lookup` of ``(..., m)`` codes); trained with ``dropout`` p
(quantizer dropout, SoundStream, Zeghidour et al. 2021), a share p of the training vectors is decoded from a random
first ``m`` in 1..n of its codebooks, so the decoder learns every such rate and one model serves them all.

>>> import torch
>>> q = Quantizer(latent=4, codebooks=2, size=16, kind="residual")
>>> zq, codes, commit = q(torch.randn(3, 10, 4))          # first training batch also fills the codebooks
>>> tuple(zq.shape), tuple(codes.shape), codes.dtype, tuple(commit.shape)
((3, 10, 4), (3, 10, 2), torch.int64, (3, 10))
>>> zq, codes, _ = q.eval()(torch.randn(5, 4))
>>> bool(torch.equal(q.lookup(codes), zq))   # codes -> vectors: exactly the quantiser's own output
True
"""
from __future__ import annotations

import math

import torch
from torch import nn

DEAD_STEPS = 50  # an entry unused for this many steps is dead and re-drawn (at batch 128 and K 256: 25 fair uses)


class Quantizer(nn.Module):
    def __init__(self, latent: int, codebooks: int, size: int, kind: str = "residual", decay: float = 0.99,
                 dropout: float = 0.0):
        super().__init__()
        if kind not in ("residual", "product"):
            raise ValueError(f"quantizer must be residual or product, got {kind!r}")
        if dropout and kind != "residual":
            raise ValueError("quantizer dropout truncates a residual quantiser's codebooks: it needs kind residual")
        self.dropout = float(dropout)
        if kind == "product" and latent % codebooks:
            raise ValueError(f"product quantisation splits model.latent={latent} over {codebooks} codebooks evenly")
        self.kind, self.n, self.size, self.decay = kind, codebooks, size, decay
        self.dim = latent if kind == "residual" else latent // codebooks  # dims each codebook codes
        self.register_buffer("embed", torch.zeros(codebooks, size, self.dim))
        self.register_buffer("ema_count", torch.zeros(codebooks, size))
        self.register_buffer("ema_sum", torch.zeros(codebooks, size, self.dim))
        self.register_buffer("idle", torch.zeros(codebooks, size))  # training steps since each entry was chosen
        self.register_buffer("ready", torch.zeros((), dtype=torch.bool))
        # assignments and re-initialisations since reset_usage(): per-epoch monitors, not saved
        self.register_buffer("usage", torch.zeros(codebooks, size), persistent=False)
        self.register_buffer("reinits", torch.zeros(codebooks), persistent=False)

    @property
    def bits(self) -> float:
        """Bits per latent vector."""
        return self.n * math.log2(self.size)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``z (..., latent)`` -> quantised ``(..., latent)`` (gradient passed straight through to z),
        codes ``(..., n)`` int64 and the commitment term ``||z - sg(zq)||^2`` per vector ``(...)``."""
        flat = z.reshape(-1, z.shape[-1])
        target = flat.detach()
        if self.training and not bool(self.ready):
            self._first_fill(target)
        residual = target
        parts, codes = [], []
        for i in range(self.n):
            x = self._stage_input(target, residual, i)
            idx = _nearest(self.embed[i], x)
            q = self.embed[i][idx]
            if self.training:
                self._update(i, x, idx)
            codes.append(idx)
            parts.append(q)
            if self.kind == "residual":
                residual = residual - q
        zq = torch.cat(parts, dim=1) if self.kind == "product" else torch.stack(parts).sum(dim=0)
        zq = zq.view_as(z)
        commit = ((z - zq) ** 2).sum(dim=-1)  # against the full code: the encoder is pulled to all its codebooks
        # straight-through only where a gradient flows: z + (zq - z) is not zq to the last bit, and codes
        # decoded from a file (lookup) must give exactly what reconstruction gives
        out = z + (zq - z).detach() if torch.is_grad_enabled() and z.requires_grad else zq
        if self.training and self.dropout > 0:
            # a truncated vector trains the decoder only: passed straight through, the decoder's gradient at the
            # coarse code would move the encoder where the code does not follow, and the encoder's scale ran away
            # (training diverged after 14 epochs of the codec's model)
            trunc, full = self._truncated(parts, z)
            out = torch.where(full.view(*z.shape[:-1], 1), out, trunc.detach())
        return out, torch.stack(codes, dim=1).view(*z.shape[:-1], self.n), commit

    def _truncated(self, parts: list[torch.Tensor], z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The residual sum of ``parts`` (n of ``(N, latent)``) where a share ``dropout`` of the vectors keeps only
        its first m codebooks, m uniform in 1..n (the others keep all n), and which vectors kept all ``(N,)``."""
        n_vec = len(parts[0])
        keep = torch.randint(1, self.n + 1, (n_vec,), device=z.device)
        keep = torch.where(torch.rand(n_vec, device=z.device) < self.dropout, keep, torch.full_like(keep, self.n))
        mask = (torch.arange(self.n, device=z.device)[:, None] < keep[None, :]).to(z.dtype)  # (n, N)
        return (torch.stack(parts) * mask[:, :, None]).sum(dim=0).view_as(z), keep == self.n

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes ``(..., n)`` -> latent vectors ``(..., latent)``; a residual quantiser also takes ``(..., m)``,
        m < n: the coarser code of its first m codebooks."""
        m = codes.shape[-1]
        if m != self.n and not (self.kind == "residual" and 1 <= m < self.n):
            raise ValueError(f"{m} codes per vector for {self.n} {self.kind} codebooks")
        vecs = [self.embed[i][codes[..., i].long()] for i in range(m)]
        return torch.cat(vecs, dim=-1) if self.kind == "product" else torch.stack(vecs).sum(dim=0)

    def _stage_input(self, z: torch.Tensor, residual: torch.Tensor, i: int) -> torch.Tensor:
        """What codebook ``i`` codes: its slice of ``z (N, latent)`` (product) or what the codebooks before it
        left (residual)."""
        return z[:, i * self.dim:(i + 1) * self.dim] if self.kind == "product" else residual

    @torch.no_grad()
    def _first_fill(self, x: torch.Tensor) -> None:
        """Codebooks start as k-means++ seeds of the first batch's encoder outputs (residual: stage i on the
        residual the stages before it leave), so entries start spread over the data, not two in one cluster."""
        residual = x
        for i in range(self.n):
            xi = self._stage_input(x, residual, i)
            pick = _kmeans_pp(xi, self.size)
            self.embed[i] = pick
            self.ema_sum[i] = pick
            self.ema_count[i] = 1.0
            residual = residual - pick[_nearest(pick, xi)] if self.kind == "residual" else residual
        self.ready.fill_(True)

    @torch.no_grad()
    def _update(self, i: int, x: torch.Tensor, idx: torch.Tensor) -> None:
        """EMA step of codebook ``i`` toward the mean of the vectors ``x (N, d)`` assigned to each entry,
        then dead entries re-drawn from ``x``. No host sync: masks, not branches."""
        count = torch.bincount(idx, minlength=self.size).to(x.dtype)
        sums = torch.zeros_like(self.ema_sum[i]).index_add_(0, idx, x)
        self.usage[i] += count
        self.ema_count[i].mul_(self.decay).add_(count, alpha=1 - self.decay)
        self.ema_sum[i].mul_(self.decay).add_(sums, alpha=1 - self.decay)
        fair = len(x) / self.size
        self.idle[i] = torch.where(count > 0, torch.zeros_like(count), self.idle[i] + 1)
        dead = self.idle[i] >= DEAD_STEPS
        self.idle[i] = torch.where(dead, torch.zeros_like(count), self.idle[i])
        fresh = x[torch.randint(len(x), (self.size,), device=x.device)]
        # a re-drawn entry gets a fair share of use to start from, so it is not re-drawn again at once
        self.ema_count[i] = torch.where(dead, torch.full_like(self.ema_count[i], fair), self.ema_count[i])
        self.ema_sum[i] = torch.where(dead[:, None], fresh * fair, self.ema_sum[i])
        self.embed[i] = self.ema_sum[i] / self.ema_count[i].clamp(min=1e-6)[:, None]
        self.reinits[i] += dead.sum()

    def reset_usage(self) -> None:
        self.usage.zero_()
        self.reinits.zero_()

    def usage_stats(self, usage: torch.Tensor | None = None) -> dict:
        """Per codebook, from assignment counts ``(n, K)`` (default: those since reset_usage): ``used`` share
        of entries assigned at least once, ``perplexity`` exp(entropy) of the assignment distribution
        (K when uniform), ``dead`` entries never assigned, ``reinit`` entries re-drawn."""
        u = (self.usage if usage is None else usage).double().cpu()
        p = u / u.sum(dim=1, keepdim=True).clamp(min=1)
        ent = -(p * torch.log(p.clamp(min=1e-30))).sum(dim=1)
        return {"used": (u > 0).double().mean(dim=1).tolist(), "perplexity": torch.exp(ent).tolist(),
                "dead": (u == 0).sum(dim=1).tolist(), "reinit": self.reinits.cpu().tolist()}


def _kmeans_pp(x: torch.Tensor, k: int) -> torch.Tensor:
    """``k`` rows of ``x (N, d)`` drawn by k-means++ (Arthur and Vassilvitskii 2007): each next one with
    probability proportional to its squared distance from those already drawn (uniform once all are 0)."""
    picks = [int(torch.randint(len(x), (1,)))]
    d2 = ((x - x[picks[0]]) ** 2).sum(dim=1)
    for _ in range(k - 1):
        total = d2.sum()
        j = int(torch.multinomial(d2 / total, 1)) if total > 0 else int(torch.randint(len(x), (1,)))
        picks.append(j)
        d2 = torch.minimum(d2, ((x - x[j]) ** 2).sum(dim=1))
    return x[picks].clone()


def _nearest(embed: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Index of the nearest entry of ``embed (K, d)`` for each row of ``x (N, d)`` (squared Euclidean)."""
    d2 = (x * x).sum(dim=1, keepdim=True) - 2.0 * x @ embed.T + (embed * embed).sum(dim=1)
    return d2.argmin(dim=1)
