"""The frame-wise MLP VAE's training gradients written out by hand: one forward pass and its backward
pass as a straight list of matrix products, with no autograd graph.

Why: at the article's batch of 128 frames the MLP's matrix products are small, and on a CPU a step spends
about as long in autograd's bookkeeping (graph nodes, views, the backward engine) as in the products
themselves. The maths is that of :func:`speechvae.models.losses.loss_terms` + :func:`speechvae.models.losses.objective`
(Gaussian NLL + beta * KL, free bits 0), so the two paths give the same gradients to float rounding
(tests/test_train.py compares them parameter by parameter and over whole epochs).

Covered: :class:`~speechvae.models.mlp.MLPVAE` with a Gaussian posterior (no VQ), decoder variance
``unit``, ``shared`` or ``per_dim``, any speaker conditioning. Anything else trains through autograd.
"""
from __future__ import annotations

import torch
from torch import nn

from speechvae.models.base import LOG_2PI
from speechvae.models.losses import gaussian_kl
from speechvae.models.mlp import MLPVAE


def unsupported(model: nn.Module, free_bits: float, cycle: float = 0.0, mean_terms: float = 0.0,
                parallel: float = 0.0) -> str | None:
    """Why the hand-written step cannot train ``model`` with ``free_bits``, the cycle weight ``cycle``,
    ``mean_terms``, the weights of the terms on the posterior-mean decode (loss.gv + loss.mean_recon), and the
    parallel term's weight ``parallel`` (None when it can)."""
    if type(model) is not MLPVAE:
        return f"{type(model).__name__} is not the frame-wise MLP"
    if model.vq is not None:
        return "a VQ-VAE's quantiser"
    if model.residual:
        return "residual layers"
    if model.enc_norm is not None:
        return "normalisation layers"
    if model.var.kind not in ("unit", "shared", "per_dim"):
        return f"decoder variance {model.var.kind}"
    if free_bits > 0:
        return "free bits"
    if cycle > 0:
        return "the cycle term"
    if mean_terms > 0:
        return "the terms on the posterior-mean decode (loss.gv, loss.mean_recon)"
    if parallel > 0:
        return "the parallel term (loss.parallel)"
    if model.n_prosody_inputs:
        return "prosody into the decoder"
    if model.adversary is not None:
        return "the speaker-adversarial term"
    return None


def _relu_grad(g: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """``g`` where the ReLU output ``a`` is > 0, else 0: the one kernel autograd itself uses for a ReLU
    (``g * (a > 0)`` takes three, a bool mask and its conversion included, about 1.3x the step's time)."""
    return torch.ops.aten.threshold_backward(g, a, 0.0)


def _backward(layers: list[nn.Linear], inputs: list[torch.Tensor], g: torch.Tensor,
              input_grad: bool) -> torch.Tensor | None:
    """Back through ``layers`` (each fed ``inputs[i]``, layer i > 0 after a ReLU) from ``g``, the gradient
    of the loss at the last layer's output; stores weight and bias gradients, returns the gradient at
    ``inputs[0]`` when asked."""
    for i in range(len(layers) - 1, -1, -1):
        layer, a = layers[i], inputs[i]
        layer.weight.grad = g.t() @ a
        layer.bias.grad = g.sum(0)
        if i > 0 or input_grad:
            g = g @ layer.weight
            if i > 0:  # a = relu(previous pre-activation)
                g = _relu_grad(g, a)
    return g if input_grad else None


@torch.no_grad()
def mlp_gradients(model: nn.Module, x: torch.Tensor, eps: torch.Tensor, beta: float,
                  spk: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Set ``.grad`` of every parameter of ``model`` to the gradient of mean recon NLL + ``beta`` * mean KL
    per frame over the batch ``x (B, D)`` with noise ``eps (B, latent)`` (``spk (B,)``: frame speakers of
    a conditioned model). Returns the batch's summed recon NLL and summed KL (nats, 0-d tensors)."""
    n = x.shape[0]
    acts = [model.with_speaker(x, spk, 0)]
    for layer in model.enc:
        acts.append(torch.addmm(layer.bias, acts[-1], layer.weight.t()).relu_())
    h = acts[-1]
    mu = torch.addmm(model.enc_mu.bias, h, model.enc_mu.weight.t())
    logvar = torch.addmm(model.enc_logvar.bias, h, model.enc_logvar.weight.t())
    sd = torch.exp(0.5 * logvar)
    z = mu + sd * eps
    dacts = [model.with_speaker(z, spk, 1)]
    for layer in model.dec:
        dacts.append(torch.addmm(layer.bias, dacts[-1], layer.weight.t()).relu_())
    mean = torch.addmm(model.dec_mean.bias, dacts[-1], model.dec_mean.weight.t())

    diff = mean - x
    var = model.var
    if var.kind == "unit":
        recon = 0.5 * (diff.square().sum(-1) + x.shape[1] * LOG_2PI)
        g = diff / n
    else:
        v = var.dec_logvar  # (D,) or (1,), broadcast over the D dims
        w = torch.exp(-v)
        sq_w = diff.square() * w
        recon = 0.5 * (sq_w + v + LOG_2PI).sum(-1)
        g = diff * (w / n)
        g_v = 0.5 * (1.0 - sq_w.mean(0))  # d/dv_d of mean_b 0.5 (sq e^-v + v)
        v.grad = g_v if var.kind == "per_dim" else g_v.sum().reshape(1)
    kl = gaussian_kl(mu, logvar).sum(-1)

    g_z = _backward([*model.dec, model.dec_mean], dacts, g, True)[:, :z.shape[1]]
    g_mu = g_z + mu * (beta / n)
    g_logvar = g_z * eps * (0.5 * sd) + (sd * sd - 1.0) * (0.5 * beta / n)
    model.enc_mu.weight.grad = g_mu.t() @ h
    model.enc_mu.bias.grad = g_mu.sum(0)
    model.enc_logvar.weight.grad = g_logvar.t() @ h
    model.enc_logvar.bias.grad = g_logvar.sum(0)
    g_h = _relu_grad(g_mu @ model.enc_mu.weight + g_logvar @ model.enc_logvar.weight, h)
    _backward(list(model.enc), acts[:-1], g_h, False)
    return recon.sum(), kl.sum()
