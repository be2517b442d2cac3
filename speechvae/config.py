"""Typed configuration: frozen dataclasses per section, loaded from YAML.

One YAML file holds every section (``analysis``, ``model``, ``init``, ``loss``, ``train``,
``postfilter``, ``codec``). Unknown keys are errors (a typo must not silently fall back to a default),
and ``--set section.key=value`` overrides are parsed with YAML rules, then checked against
the field's type.

>>> cfg = load_config(None, ["train.epochs=3", "init.scale=0.5"])
>>> cfg.train.epochs, cfg.init.scale
(3, 0.5)
"""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml

from speechvae.config_checks import first_problem
from speechvae.store import atomic_write_text


class ConfigError(ValueError):
    """A config file or override that does not fit the schema."""


@dataclass(frozen=True)
class AnalysisConfig:
    """WORLD analysis and mel-cepstrum settings (shared by analyze, resynth and the model)."""

    fs: int = 16000  # Hz; input audio at another rate is resampled to this one
    frame_period: float = 5.0  # ms between frames
    f0_method: str = "harvest"  # "harvest" or "dio" (dio is refined by stonemask)
    f0_floor: float = 71.0  # Hz, lowest F0 searched; also sets the CheapTrick FFT size
    f0_ceil: float = 800.0  # Hz, highest F0 searched
    highpass_hz: float = 70.0  # Hz, high-pass cut-off applied before analysis; 0 disables
    order: int = 39  # mel-cepstrum order: order + 1 coefficients, c0 is power
    alpha: Optional[float] = None  # all-pass constant; None -> pysptk.util.mcepalpha(fs)
    fft_size: Optional[int] = None  # None -> pyworld.get_cheaptrick_fft_size(fs, f0_floor)
    f0_ranges: Optional[str] = None  # file of "speaker floor_hz ceil_hz" lines: per-speaker F0 search range


@dataclass(frozen=True)
class ModelConfig:
    """The VAE: which model, its sizes (encoder input -> hidden... -> latent; the decoder mirrors it)."""

    kind: str = "mlp"  # "mlp" (frame-wise), "conv" (1-D convolutions over frames) or "block" (MLP on stacked frames)
    hidden: tuple[int, ...] = (256, 128)  # mlp, block: layer sizes; conv: channels of each convolution
    latent: int = 64
    kernel: int = 5  # conv: taps (frames) per convolution, odd
    stride: int = 1  # conv, block: frames coded by one latent vector (rate per second / stride)
    segment: int = 64  # conv, block: frames per training example (a multiple of stride)
    linear_path: bool = False  # block: a linear map beside the encoder and decoder MLPs (linear code + correction)
    residual: bool = False  # mlp: hidden layers as wide as their input add it (h + relu(W h + b))
    norm: str = "none"  # mlp: "none" or "layer" (a LayerNorm before each hidden ReLU)
    # Frames the model sees, and its loss is taken on: centred c1..c39 divided by "global" (one std for
    # every dim: squared error proportional to squared MCD) or "per_dim" (z-scores, c39 weighs as c1).
    scaling: str = "per_dim"
    # VQ-VAE: "none" (Gaussian latent, KL), "residual" or "product" vector quantisation of the latent with
    # `codebooks` codebooks of `codebook_size` entries (codebooks * log2(size) bits per latent vector)
    quantizer: str = "none"
    codebooks: int = 5
    codebook_size: int = 256
    vq_decay: float = 0.99  # EMA decay of the codebook updates
    # quantizer dropout (residual only): this share of training vectors is decoded from a random first m of the
    # codebooks, so the first m of them are a usable coarser code (a codec at several bit rates from one model)
    vq_dropout: float = 0.0
    # Speaker code (voice conversion): "none", "decoder" (a one-hot of the speaker beside z into the decoder) or
    # "both" (into the encoder too, so z need not carry who speaks); `speakers` is filled by training from the
    # training utterances' speakers (its order fixes the one-hot) and saved with the checkpoint
    conditioning: str = "none"
    speakers: tuple[str, ...] = ()
    # the decoder also takes each frame's log-F0 (normalised by the training set's voiced log-F0 mean/std; 0 when
    # unvoiced) and voicing (0/1): a conversion decodes with the F0 it will be voiced with (after the F0 map), so the
    # decoder need not guess the envelope's dependence on F0 (crank, CycleVAE-VC). Frame-wise mlp only
    prosody: bool = False

    @property
    def speaker_inputs(self) -> tuple[int, int]:
        """Extra (encoder, decoder) input channels the speaker one-hot takes."""
        n = len(self.speakers) if self.conditioning != "none" else 0
        return (n if self.conditioning == "both" else 0), n


@dataclass(frozen=True)
class InitConfig:
    """Hand initialisation of the weights (biases are zero). See ``model.init_weights``."""

    scheme: str = "he"  # "seed" (std = scale / fan_out), "he" (scale*sqrt(2/fan_in)), "xavier"
    scale: float = 1.0


@dataclass(frozen=True)
class LossConfig:
    """Gaussian reconstruction NLL + beta * KL."""

    beta: float = 0.01  # final KL weight
    beta_warmup_epochs: int = 0  # beta rises linearly from 0 over this many epochs
    free_bits: float = 0.0  # nats per latent dim: KL below this floor is not penalised
    decoder_variance: str = "per_dim"  # "unit", "shared" (one learned), "per_dim" (learned), "per_frame" (head)
    commitment: float = 0.25  # VQ-VAE: weight of ||z_e - sg(z_q)||^2 per latent vector (pulls the encoder to its codes)
    # speaker-conditioned models: weight of the cycle term (CycleVAE): each batch is also decoded as another
    # speaker, re-encoded, and decoded back as its own; the NLL of that round trip + beta * its KL is added
    cycle: float = 0.0
    # speaker-conditioned models: weight of the speaker-adversarial term (models/adversary.py): a classifier learns the
    # speaker from z, the encoder gets its gradient reversed times this weight (0: no classifier)
    adversarial: float = 0.0
    # how the encoder plays against it: "confusion" (the encoder pushes the classifier's posterior toward uniform,
    # through the classifier held fixed) or "reverse" (gradient reversal of the classifier's own cross-entropy)
    adversarial_mode: str = "confusion"
    # weight of the variance term (models.variance_term): per batch and dimension, the squared log ratio of the
    # variance of what the decoder makes of the posterior means (a conversion decodes them) to the frames' variance;
    # with the cycle term also each speaker's conversions against that speaker's frames. Against the over-smoothing
    # of a frame-wise Gaussian decoder, which regresses to the mean (0: off)
    gv: float = 0.0
    # weight of the squared error of that posterior-mean decode (unit-variance Gaussian NLL, nats per frame): ties the
    # decode that conversion uses to the frames, which the sampled-z reconstruction alone leaves loose (0: off)
    mean_recon: float = 0.0
    # speaker-conditioned frame-wise models on a parallel corpus: weight of the parallel term
    # (speechvae/training/pairs.py):
    # each step also takes as many DTW-aligned frame pairs of sentences two training speakers both read, and adds the
    # Gaussian NLL of the target frame under the conversion of its source frame (posterior mean decoded with the
    # target's code and, with model.prosody, the source's F0 mapped to the target), nats per pair (0: off)
    parallel: float = 0.0
    # re-align those pairs every this many epochs on the model's own conversions (0: only the first alignment, on the
    # source's c1..c39 mean/std-matched to the target's); the pairs in use are kept in the checkpoint, so a resumed
    # run trains on the same ones
    parallel_realign: int = 0


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation and data split."""

    epochs: int = 15
    lr: float = 1e-3  # Adam learning rate
    lr_schedule: str = "constant"  # "constant" or "cosine" (per epoch from lr down to lr / 100 at the last epoch)
    batch_size: int = 128  # frames per step
    seed: int = 0
    # early stopping on the held-out MCD (valid_mcd_db of log.csv): keep_best makes the checkpoint's model (what
    # evaluate, reconstruct, convert and encode use) the epoch with the lowest one; patience > 0 also stops training
    # once that many epochs in a row have not lowered it (0: run all train.epochs)
    keep_best: bool = False
    patience: int = 0
    valid_fraction: float = 0.1  # the last ceil(fraction * N) utterances (sorted ids) are held out
    device: str = "auto"  # "auto" (CUDA when present), "cpu" or "cuda"
    probe_frames: int = 4096  # fixed frames used to count dead ReLU units
    # training frames above this size (float32 MB) stream from a frame store in EXPDIR/frames (packed once)
    # in blocks of block_frames, so memory does not grow with the corpus; below it they sit in (device) memory
    max_memory_mb: float = 2048.0
    block_frames: int = 1048576
    # "auto": the frame-wise MLP VAE trains with its gradients written out by hand (fused_step.py, same
    # maths, ~2x faster steps at batch 128 on CPU); other models, and "autograd", through torch.autograd
    step: str = "auto"
    # CPU threads of the training step (N > 0), or 0: the cores not busy with other work when training starts.
    # 1 by measurement (benchmarks/train.py --section threads, VC config, 2 cores): a second thread buys 3% on a
    # quiet machine and costs 11x beside one other busy process (threads waiting for a held core spin)
    threads: int = 1


@dataclass(frozen=True)
class PostfilterConfig:
    """Post-filters applied to decoded frames (reconstructions, conversions) before resynthesis: the global-variance
    one and the modulation-spectrum one (:mod:`speechvae.analysis.modspec`; applied first when both are on)."""

    gv: bool = False  # scale each dim so its per-utterance variance matches the training GV (converted: the target's)
    gv_weight: float = 1.0  # how far toward that GV, in log variance: 1 all the way, 0.5 half way, 0 not at all
    # from c<gv_high_from> up, gv_weight_high instead (0: gv_weight for every dim). Why: the high quefrencies are the
    # most over-smoothed (a conversion keeps ~0.1 of their variance, ~0.8 of c1's) and the cheapest to restore in MCD
    # (their variance is small), so restoring them first buys the most variance per dB (measured on ARCTIC: the GV
    # ratio rises, similarity bdl -> slt falls; README "Against over-smoothing")
    gv_high_from: int = 0
    gv_weight_high: float = 1.0
    ms: bool = False  # move each dim's modulation spectrum to the training set's (converted: the target speaker's)
    ms_weight: float = 1.0  # how far, in log power per modulation frequency: 1 all the way, 0.5 half way


@dataclass(frozen=True)
class CodecConfig:
    """The speech codec's bit allocation (``speechvae codec encode``): per latent vector (``model.stride`` frames),
    the envelope's first residual codebooks, then log-F0 with voicing, c0 and each aperiodicity band, each a scalar
    quantiser fitted on the training set. For a VQ-VAE with residual codebooks."""

    bitrate: float = 2.4  # kbit/s a 3-s utterance may take, header included: the most envelope codebooks that fit
    f0_bits: int = 7  # log-F0 levels: 2**bits - 1 of them, code 0 = unvoiced
    c0_bits: int = 4  # power (c0) levels: 2**bits
    bap_bits: int = 1  # levels per aperiodicity band: 2**bits


@dataclass(frozen=True)
class Config:
    """The whole configuration of a run, one frozen section per stage: ``analysis``, ``model``, ``init``, ``loss``,
    ``train``, ``postfilter``, ``codec`` (YAML sections of the same names; :func:`load_config` reads one)."""

    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    init: InitConfig = field(default_factory=InitConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    postfilter: PostfilterConfig = field(default_factory=PostfilterConfig)
    codec: CodecConfig = field(default_factory=CodecConfig)


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against the annotation ``tp`` and convert where lossless (int -> float)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], where)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return tuple(_coerce(v, args[0], where) for v in value)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads "3e-4" (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{where}: unsupported type {tp}")  # pragma: no cover


def _section_from_dict(cls: type, data: dict, where: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known: {sorted(names)}")
    kwargs = {k: _coerce(v, hints[k], f"{where}.{k}") for k, v in data.items()}
    return cls(**kwargs)


def config_from_dict(data: dict | None) -> Config:
    """Build a :class:`Config` from nested plain data, validating every key and type."""
    data = data or {}
    if not isinstance(data, dict):
        raise ConfigError(f"config: expected a mapping of sections, got {data!r}")
    hints = typing.get_type_hints(Config)
    unknown = sorted(set(data) - set(hints))
    if unknown:
        raise ConfigError(f"config: unknown section(s) {unknown}; known: {sorted(hints)}")
    sections = {name: _section_from_dict(hints[name], data.get(name) or {}, name) for name in hints}
    cfg = Config(**sections)
    validate(cfg)
    return cfg


def config_to_dict(cfg: Config) -> dict:
    """Plain nested dict (tuples as lists) suitable for YAML/JSON."""

    def plain(v: Any) -> Any:
        if isinstance(v, tuple):
            return [plain(x) for x in v]
        return v

    return {
        s.name: {f.name: plain(getattr(getattr(cfg, s.name), f.name)) for f in dataclasses.fields(getattr(cfg, s.name))}
        for s in dataclasses.fields(cfg)
    }


def config_diff(old: Any, new: Any, prefix: str = "") -> list[str]:
    """``"key: old -> new"`` for every setting that differs between two configs (a :class:`Config`
    or one section), dotted ``section.key`` names for a whole config.

    >>> config_diff(load_config(None), load_config(None, ["loss.beta=0.1"]))
    ['loss.beta: 0.01 -> 0.1']
    """
    out = []
    for f in dataclasses.fields(old):
        a, b = getattr(old, f.name), getattr(new, f.name)
        if dataclasses.is_dataclass(a):
            out += config_diff(a, b, f"{prefix}{f.name}.")
        elif a != b:
            out.append(f"{prefix}{f.name}: {a!r} -> {b!r}".replace("'", ""))
    return out


def apply_overrides(data: dict, overrides: list[str] | None) -> dict:
    """Apply ``section.key=value`` strings (values parsed as YAML) to nested plain data."""
    data = {k: dict(v or {}) for k, v in (data or {}).items()}
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"override {item!r}: expected section.key=value")
        key, raw = item.split("=", 1)
        parts = key.strip().split(".")
        if len(parts) != 2:
            raise ConfigError(f"override {item!r}: key must be section.key, e.g. train.lr")
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError as e:
            raise ConfigError(f"override {item!r}: the value is not YAML ({_yaml_problem(e)})") from None
        data.setdefault(parts[0], {})[parts[1]] = value
    return data


def _yaml_problem(e: yaml.YAMLError) -> str:
    """A parser error in one line: what went wrong and where (``line L, column C``)."""
    mark = getattr(e, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"{getattr(e, 'problem', None) or type(e).__name__}{where}"


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Load a YAML config (None: all defaults) and apply ``--set`` style overrides."""
    data: dict = {}
    if path is not None:
        try:
            text = Path(path).read_text()
        except OSError as e:
            raise ConfigError(f"{path}: cannot read config ({e.strerror})") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{path}: not a text file; a config is a YAML file such as "
                              "recipes/folder/conf/default.yaml") from None
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: not valid YAML ({_yaml_problem(e)})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a mapping of sections")
    return config_from_dict(apply_overrides(data, overrides))


def save_config(cfg: Config, path: str | Path) -> None:
    atomic_write_text(path, yaml.safe_dump(config_to_dict(cfg), sort_keys=False))


def validate(cfg: Config) -> None:
    """Range checks that the type system cannot express (:mod:`speechvae.config_checks`): ConfigError naming the
    first key out of range."""
    problem = first_problem(cfg)
    if problem:
        raise ConfigError(problem)
