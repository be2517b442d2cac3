"""A trained residual VQ-VAE as a speech codec: WORLD analysis, the envelope's first m codebook indices per latent
vector, and scalar-quantised voicing with log-F0, c0 and band aperiodicity per latent vector, packed into the file
format of :mod:`speechvae.codec.bitstream`; decoding is the inverse, then WORLD synthesis.

Everything the decoder needs besides the model is in the file; the quantisers are the checkpoint's (fitted on the
training set when the model was trained), so a file decodes only with the model that wrote it (fingerprint).

Use (a model of ``recipes/codec``; ``tests/test_codec.py`` runs the same on a small one)::

    codec = load_codec("data/codec_cmu_arctic_bdl_slt/exp/codec")
    data = codec.encode("speech.wav", bitrate=2.4)     # bytes
    y, fs = codec.decode(data)                          # (N,) samples, Hz
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from speechvae.analysis.features import Features, analyze, check_compatible, mcep_to_sp, vocode
from speechvae.codec.bitstream import FINGERPRINT_BYTES, HEADER_BYTES, BitstreamError, Header, read, write
from speechvae.config import CodecConfig
from speechvae.inference.codes import model_fingerprint
from speechvae.inference.model import Model, codes_to_latents, encode_codes, load_model, with_latents
from speechvae.models.side import SideQuantizers, block_streams, frame_streams

REFERENCE_SECONDS = 3.0  # codec.bitrate counts the header as spread over an utterance of this length


@dataclass(frozen=True)
class Allocation:
    """Bits per latent vector: ``codebooks`` envelope indices of ``index_bits`` each, then the side streams."""

    codebooks: int
    index_bits: int
    f0_bits: int
    c0_bits: int
    bap_bits: int
    bands: int
    stride: int
    frame_period_ms: float

    @property
    def bits_per_vector(self) -> int:
        return self.codebooks * self.index_bits + self.f0_bits + self.c0_bits + self.bap_bits * self.bands

    def kbit_per_s(self, seconds: float = REFERENCE_SECONDS) -> float:
        """The rate of an utterance of ``seconds``, the header included (kbit/s)."""
        vectors = math.ceil(seconds * 1000 / self.frame_period_ms / self.stride)
        return (HEADER_BYTES * 8 + math.ceil(vectors * self.bits_per_vector / 8) * 8) / seconds / 1000


class Codec:
    """A residual VQ-VAE (:class:`speechvae.inference.model.Model`) with its checkpoint's side quantisers;
    ``cfg``: the bit allocation (default: the model's ``codec`` config section)."""

    def __init__(self, tm: Model, cfg: CodecConfig | None = None):
        vq = tm.model.vq
        if vq is None or vq.kind != "residual":
            raise ValueError("a codec needs a VQ-VAE with residual codebooks (model.quantizer: residual); "
                             "see recipes/codec/conf/codec.yaml")
        if tm.conditioned:
            raise ValueError("a speaker-conditioned model needs its speaker at decode time: not a codec model")
        if tm.checkpoint.side_quantizers is None:
            raise ValueError(f"{tm.checkpoint_path}: no side-stream quantisers in this checkpoint (trained before "
                             "the codec existed): train it again with this speechvae")
        if vq.size & (vq.size - 1):
            raise ValueError(f"codebooks of {vq.size} entries: a codec needs a power of two")
        self.model, self.cfg = tm, cfg or tm.cfg.codec
        c = self.cfg
        if not c.bitrate > 0 or not all(1 <= b <= 8 for b in (c.f0_bits, c.c0_bits, c.bap_bits)):
            raise ValueError(f"codec: bitrate {c.bitrate} kbit/s must be > 0, f0/c0/bap bits "
                             f"{c.f0_bits}/{c.c0_bits}/{c.bap_bits} each in 1..8")
        self.side = SideQuantizers(tm.checkpoint.side_quantizers)
        self.fingerprint = bytes.fromhex(model_fingerprint(tm))[:FINGERPRINT_BYTES]

    @property
    def analysis(self):
        return self.model.cfg.analysis

    def allocation(self, bitrate: float | None = None) -> Allocation:
        """The allocation at ``bitrate`` kbit/s (None: ``cfg.bitrate``): the side streams at their bits and the
        most envelope codebooks whose rate, header included, fits a 3-s utterance; ValueError when none does."""
        vq, c = self.model.model.vq, self.cfg
        target = c.bitrate if bitrate is None else float(bitrate)
        base = dict(index_bits=int(math.log2(vq.size)), f0_bits=c.f0_bits, c0_bits=c.c0_bits, bap_bits=c.bap_bits,
                    bands=self.side.bands, stride=self.model.model.stride,
                    frame_period_ms=self.analysis.frame_period)
        fits = [Allocation(codebooks=m, **base) for m in range(vq.n, 0, -1)
                if Allocation(codebooks=m, **base).kbit_per_s() <= target + 1e-9]
        if not fits:
            lowest = Allocation(codebooks=1, **base).kbit_per_s()
            raise ValueError(f"{target:g} kbit/s: this model's lowest rate is {lowest:.3f} kbit/s (one codebook, "
                             f"side streams at {c.f0_bits}/{c.c0_bits}/{c.bap_bits} bits)")
        return fits[0]

    def rates(self) -> list[float]:
        """kbit/s (3-s utterance, header included) with 1..n envelope codebooks."""
        top = self.allocation(1e9)
        return [dataclasses.replace(top, codebooks=m).kbit_per_s() for m in range(1, top.codebooks + 1)]

    # --- encode -----------------------------------------------------------------------------------------
    def analyze(self, audio: str | Path | np.ndarray, fs: int | None = None, **analysis) -> Features:
        """WORLD analysis of a wav file or ``(N,)`` samples at ``fs`` Hz as the encoder does it: the model's settings,
        F0 searched between its ``f0_floor`` and ``f0_ceil`` for every voice (the encoder does not know who speaks;
        ``analysis`` overrides, e.g. ``f0_floor=60``)."""
        return analyze(audio, fs, dataclasses.replace(self.analysis, f0_ranges=None), **analysis)

    def encode(self, audio: str | Path | np.ndarray, fs: int | None = None, bitrate: float | None = None,
               **analysis) -> bytes:
        """A wav file or ``(N,)`` samples at ``fs`` Hz -> the bitstream (bytes): :meth:`analyze`, then
        :meth:`encode_features`."""
        return self.encode_features(self.analyze(audio, fs, **analysis), bitrate)

    def encode_features(self, feats: Features, bitrate: float | None = None) -> bytes:
        """Analysed :class:`Features` (the model's analysis settings) -> the bitstream."""
        check_compatible(feats, self.analysis, "features to encode")
        a = self.allocation(bitrate)
        codes = encode_codes(self.model, feats).astype(np.int64)[:, :a.codebooks]
        side = self.side.quantize(block_streams(feats.f0, feats.mcep[:, 0], feats.bap, a.stride),
                                  a.f0_bits, a.c0_bits, a.bap_bits)
        header = Header(self.fingerprint, feats.fs, round(feats.frame_period * 1000), a.stride, a.codebooks,
                        a.index_bits, a.f0_bits, a.c0_bits, a.bap_bits, a.bands, feats.frames)
        return write(header, np.concatenate([codes, side], axis=1))

    # --- decode -----------------------------------------------------------------------------------------
    def decode(self, data: bytes, postfilter: bool | None = None) -> tuple[np.ndarray, int]:
        """A bitstream -> ``(samples (N,) float64, fs)`` by WORLD synthesis of :meth:`decode_features`."""
        f = self.decode_features(data, postfilter)
        return vocode(f), f.fs

    def decode_features(self, data: bytes, postfilter: bool | None = None) -> Features:
        """A bitstream -> :class:`Features` (decoded c1..c39, dequantised F0, c0 and aperiodicity); BitstreamError
        (one line) for a file this model cannot decode. ``postfilter``: GV post-filter (None: the model's)."""
        h, fields = read(data)
        a = self.allocation(1e9)
        if h.fingerprint != self.fingerprint:
            raise BitstreamError(f"written by model {h.fingerprint.hex()}, not by this one ({self.fingerprint.hex()})"
                                 ": decode with the model that encoded it")
        mine = (round(self.analysis.frame_period * 1000), self.analysis.fs, a.stride, a.index_bits, a.bands)
        if (h.frame_period_us, h.fs, h.stride, h.index_bits, h.bands) != mine or not 1 <= h.codebooks <= a.codebooks:
            raise BitstreamError(f"header does not fit this model ({h.fs} Hz, {h.frame_period_us} us, stride "
                                 f"{h.stride}, {h.codebooks} x {h.index_bits}-bit codes, {h.bands} bands)")
        for bits in (h.f0_bits, h.c0_bits, h.bap_bits):
            if bits > 8:
                raise BitstreamError(f"{bits}-bit side stream: this model's quantisers hold 1..8 bits")
        side = self.side.dequantize(fields[:, h.codebooks:], h.f0_bits, h.c0_bits, h.bap_bits)
        f0, c0, bap = frame_streams(side, h.frames, h.stride)
        z = codes_to_latents(self.model, fields[:, :h.codebooks])
        mcep = np.zeros((h.frames, self.analysis.order + 1))
        mcep[:, 0] = c0
        an = self.analysis
        shell = Features(f0=f0, mcep=mcep, bap=bap, power_db=np.zeros(h.frames), fs=an.fs,
                         frame_period=an.frame_period, alpha=an.alpha, fft_size=an.fft_size)
        f = with_latents(self.model, shell, z, postfilter)
        power = 10.0 * np.log10(np.mean(mcep_to_sp(f.mcep, f.alpha, f.fft_size), axis=1))
        return dataclasses.replace(f, power_db=power)


def load_codec(model: str | Path, device: str = "cpu", **bits) -> Codec:
    """An experiment folder of a residual VQ-VAE (``recipes/codec``) -> :class:`Codec`; ``bits`` override its
    ``codec`` config (``bitrate``, ``f0_bits``, ``c0_bits``, ``bap_bits``). CPU by default: one utterance at a
    time decodes faster there than the transfer to a GPU takes."""
    tm = load_model(model, device)
    return Codec(tm, dataclasses.replace(tm.cfg.codec, **bits))
