"""A speaker classifier on the latent that the encoder plays against (``loss.adversarial``): the classifier learns to
tell the speaker from the posterior mean, and the encoder is pushed (times the weight) to leave the speaker out of z,
either by making the classifier's posterior uniform (``loss.adversarial_mode: confusion``, the default) or by the
classifier's own gradient reversed (``reverse``; Ganin & Lempitsky 2015, as crank's VQ-VAE voice conversion uses it).

Why: a speaker-conditioned decoder converts only when z does not say who speaks; the bottleneck and the cycle term
push the speaker out indirectly, this term directly. The classifier is part of the model (trained, checkpointed,
resumed with it) and plays no role in encoding, decoding or conversion.

>>> import torch
>>> mu = torch.ones(2, 3, 8, requires_grad=True)
>>> adv = SpeakerAdversary(8, 2)
>>> adv(mu, 0.5).shape
torch.Size([2, 3, 2])
>>> grad_fwd = torch.autograd.grad(adv.net(mu).sum(), mu)[0]
>>> grad_rev = torch.autograd.grad(adv(mu, 0.5).sum(), mu)[0]
>>> bool(torch.allclose(grad_rev, -0.5 * grad_fwd))
True
"""
from __future__ import annotations

import torch
from torch import nn


class _Reverse(torch.autograd.Function):
    """Identity forward; the gradient times ``-scale`` backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, g: torch.Tensor):
        return -ctx.scale * g, None


class SpeakerAdversary(nn.Module):
    """``latent -> hidden (ReLU) -> speakers`` logits (nonlinear; yet, measured, an encoder that fools it can still
    leave the speaker where a linear probe fitted afterwards, the leakage measure, finds it)."""

    def __init__(self, latent: int, speakers: int, hidden: int = 64):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, speakers))

    def forward(self, mu: torch.Tensor, scale: float) -> torch.Tensor:
        """Speaker logits ``(..., speakers)`` of ``mu (..., latent)``; the gradient into ``mu`` reversed, times
        ``scale``."""
        return self.net(_Reverse.apply(mu, scale))

    def frozen_logits(self, mu: torch.Tensor) -> torch.Tensor:
        """Speaker logits of ``mu`` through the classifier's weights held fixed: gradients reach ``mu`` only."""
        fixed = {name: p.detach() for name, p in self.net.named_parameters()}
        return torch.func.functional_call(self.net, fixed, (mu,))

    def loss(self, mu: torch.Tensor, spk: torch.Tensor, scale: float,
             mode: str = "confusion") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The terms to add to the loss for the speakers ``spk (B, T')`` of ``mu (B, T', latent)``: the classifier's
        cross-entropy (nats, mean over latent vectors; its gradient trains the classifier, and in mode "reverse"
        reaches the encoder reversed times ``scale``), the encoder's term (mode "confusion": ``scale`` times the
        cross-entropy of the classifier's posterior against the uniform one, through the classifier held fixed; 0 in
        mode "reverse"), and the number of latent vectors the classifier gets right (a scalar tensor)."""
        target = spk.flatten().long()
        if mode == "reverse":
            logits = self(mu, scale).flatten(0, -2)
            encoder = torch.zeros((), device=mu.device)
        else:
            logits = self.net(mu.detach()).flatten(0, -2)
            encoder = -scale * nn.functional.log_softmax(self.frozen_logits(mu), dim=-1).mean()
        return nn.functional.cross_entropy(logits, target), encoder, (logits.argmax(dim=-1) == target).sum()
