"""The speech codec: side-stream quantisers, quantizer dropout, the bitstream format and its refusals, the codec's
encode / decode against the model's own reconstruction, the commands."""
import dataclasses
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from speechvae.analysis.featdir import feature_path, read_manifest
from speechvae.analysis.features import Features
from speechvae.cli import main
from speechvae.codec import bitstream
from speechvae.codec.bitstream import HEADER_BYTES, BitstreamError, Header
from speechvae.codec.codec import Codec, load_codec
from speechvae.codec.folder import decode_files, encode_files
from speechvae.inference.model import codes_to_latents, decode, load_model, reconstruct
from speechvae.models.side import SideQuantizers, block_streams, frame_streams, lloyd_max
from speechvae.models.vq import Quantizer
from speechvae.training.loop import fit
from tests.conftest import tiny_config

CODEC_SETS = {"model.kind": "conv", "model.stride": 4, "model.segment": 32, "model.quantizer": "residual",
              "model.codebooks": 3, "model.codebook_size": 16, "model.vq_dropout": 0.5, "model.scaling": "global",
              "loss.decoder_variance": "shared", "codec.f0_bits": 6, "codec.c0_bits": 4, "codec.bap_bits": 2}


@pytest.fixture(scope="module")
def codec_exp(tmp_path_factory, three_part_featdir):
    exp = tmp_path_factory.mktemp("codec") / "exp"
    fit(three_part_featdir, exp, tiny_config(**CODEC_SETS), progress=False)
    return exp


@pytest.fixture(scope="module")
def codec(codec_exp):
    return load_codec(codec_exp)


# --- side-stream quantisers ------------------------------------------------------------------------------
def test_lloyd_max_matches_the_uniform_optimum():
    # for a uniform density the least-squares quantiser of L levels has them at the cell centres (i + 1/2) / L
    v = np.linspace(0, 1, 100001)
    assert np.allclose(lloyd_max(v, 8), (np.arange(8) + 0.5) / 8, atol=1e-4)


def test_lloyd_max_beats_uniform_levels_on_a_peaked_density():
    v = np.random.default_rng(0).standard_normal(20000)
    lev = lloyd_max(v, 8)
    uni = np.linspace(v.min(), v.max(), 8)

    def mse(levels):
        return np.mean((v - levels[np.abs(v[:, None] - levels[None]).argmin(1)]) ** 2)
    # and the Gaussian's published 8-level Lloyd-Max error: 0.03455 (Max 1960)
    assert mse(lev) < 0.5 * mse(uni) and mse(lev) == pytest.approx(0.03455, rel=0.05)


def test_block_streams_by_hand():
    f0 = np.array([0, 0, 100, 100, 200, 0, 200, 200.0])
    b = block_streams(f0, np.arange(8.0), np.arange(16.0).reshape(8, 2), stride=4)
    assert b["voiced"].tolist() == [True, True]  # 2 of 4 and 3 of 4 voiced frames
    assert np.allclose(np.exp(b["lf0"]), [100.0, 200.0])
    assert b["c0"].tolist() == [1.5, 5.5] and b["bap"].tolist() == [[3.0, 4.0], [11.0, 12.0]]
    f, c0, bap = frame_streams(b, 8, 4)
    assert np.all(f > 0) and c0[1] == pytest.approx(1.5) and bap.shape == (8, 2)


def test_side_quantizers_refuse_damaged_tables():
    blocks = [block_streams(np.full(40, 120.0) * np.linspace(1, 2, 40), np.linspace(-1, 1, 40), np.zeros((40, 1)), 4)]
    t = SideQuantizers.fit(blocks).to_arrays()
    bad = {**t, "c0": t["c0"][::-1].copy()}
    with pytest.raises(ValueError, match="not finite and sorted"):
        SideQuantizers(bad)
    with pytest.raises(ValueError, match="no 'bap' table"):
        SideQuantizers({"lf0": t["lf0"], "c0": t["c0"]})


# --- quantizer dropout -------------------------------------------------------------------------------------
def test_quantizer_dropout_decodes_prefixes_of_the_codebooks():
    torch.manual_seed(0)
    q = Quantizer(latent=4, codebooks=3, size=8, kind="residual", dropout=1.0)
    z = torch.randn(2000, 4)
    q(z)  # the first training batch fills the codebooks
    before = q.embed.clone()  # a training step moves the codebooks after it has used them
    out, codes, _ = q(z)  # training mode: every vector keeps a random first m in 1..3
    q.eval()
    q.embed.copy_(before)
    prefixes = [q.lookup(codes[:, :m]) for m in (1, 2, 3)]
    hit = torch.stack([torch.isclose(out, p, atol=1e-6).all(1) for p in prefixes])
    assert bool(hit.any(0).all())  # each output is one of the prefix sums
    share = hit.float().mean(1)  # ... and every prefix length occurs, about a third each
    assert bool(((share > 0.25) & (share < 0.42)).all())
    out_eval, codes_eval, _ = q(z)  # evaluation: no dropout, all codebooks
    assert torch.allclose(out_eval, q.lookup(codes_eval), atol=1e-6)


def test_quantizer_dropout_needs_residual_codebooks():
    with pytest.raises(ValueError, match="residual"):
        Quantizer(latent=4, codebooks=2, size=8, kind="product", dropout=0.5)
    with pytest.raises(ValueError, match="vq_dropout"):
        tiny_config(**{"model.quantizer": "product", "model.codebooks": 4, "model.vq_dropout": 0.5})


# --- the codec ---------------------------------------------------------------------------------------------
def test_training_stores_side_quantizers(codec_exp, tmp_path, three_part_featdir):
    tm = load_model(codec_exp, "cpu")
    side = SideQuantizers(tm.checkpoint.side_quantizers)
    assert side.bands == 1 and np.isfinite(side.tables["c0"][3, :16]).all()
    plain = tmp_path / "plain"
    fit(three_part_featdir, plain, tiny_config(**{"train.epochs": 1}), progress=False)
    assert load_model(plain, "cpu").checkpoint.side_quantizers is None
    with pytest.raises(ValueError, match="residual codebooks"):
        load_codec(plain)


def test_allocation_and_measured_size(codec, three_part_featdir):
    # 3 codebooks x 4 bits + 6 + 4 + 2 x 1 band = 24 bits per 20 ms: 1.2 kbit/s of payload
    top = codec.allocation(1e9)
    assert (top.codebooks, top.bits_per_vector) == (3, 24)
    assert codec.allocation(top.kbit_per_s() - 1e-6).codebooks == 2
    assert [round(r, 4) for r in codec.rates()] == [
        round((HEADER_BYTES * 8 + np.ceil(150 * b / 8) * 8) / 3 / 1000, 4) for b in (16, 20, 24)]
    with pytest.raises(ValueError, match="lowest rate"):
        codec.allocation(0.5)
    f = Features.load(feature_path(three_part_featdir, "part0"))
    data = codec.encode_features(f, bitrate=1e9)
    vectors = -(-f.frames // 4)
    assert len(data) == HEADER_BYTES + -(-vectors * 24 // 8)


def test_decode_gives_the_models_own_reconstruction(codec, three_part_featdir):
    tm = codec.model
    f = Features.load(feature_path(three_part_featdir, "part1"))
    out = codec.decode_features(codec.encode_features(f, bitrate=1e9))
    # all codebooks: c1..c39 exactly what reconstruct gives from the same analysis
    assert np.array_equal(out.mcep[:, 1:], reconstruct(tm, f).mcep[:, 1:])
    # one codebook: the decode of the first codebook's vectors
    one = codec.decode_features(codec.encode_features(f, bitrate=codec.rates()[0]))
    h, fields = bitstream.read(codec.encode_features(f, bitrate=codec.rates()[0]))
    assert h.codebooks == 1
    assert np.array_equal(one.mcep[:, 1:], decode(tm, codes_to_latents(tm, fields[:, :1]), f.frames))
    # side streams: voicing per 20 ms, F0 within a half step of 6-bit log levels, c0 near the analysis
    blocks = block_streams(f.f0, f.mcep[:, 0], f.bap, 4)
    voiced = np.repeat(blocks["voiced"], 4)[:f.frames]
    assert np.array_equal(out.f0 > 0, voiced)
    both = (f.f0 > 0) & voiced
    cents = 1200 * np.abs(np.log2(out.f0[both] / f.f0[both]))
    assert np.median(cents) < 100
    assert np.corrcoef(out.mcep[:, 0], f.mcep[:, 0])[0, 1] > 0.9
    y, fs = codec.decode(codec.encode_features(f))
    assert fs == 16000 and abs(len(y) - f.frames * 80) <= 80 and np.isfinite(y).all()


def test_encode_from_samples_equals_encode_from_file(codec, example_wav):
    import soundfile as sf
    x, fs = sf.read(example_wav)
    assert codec.encode(x[:16000], fs) == codec.encode(x[:16000], fs)  # deterministic
    assert bitstream.read(codec.encode(x[:16000], fs))[0].frames == 201


# --- refusals: one line each, never past the end ---------------------------------------------------------------
@pytest.fixture(scope="module")
def good(codec, three_part_featdir):
    return codec.encode_features(Features.load(feature_path(three_part_featdir, "part0")), bitrate=1e9)


def test_refusals_name_the_problem(codec, good):
    cases = {
        "empty": (b"", "empty file"),
        "not a bitstream": (b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(40), "not a speechvae bitstream"),
        "truncated header": (good[:20], "shorter than the 29-byte header"),
        "truncated payload": (good[:-3], "truncated or corrupted"),
        "one byte more": (good + b"\x00", "checksum"),
        "future version": (good[:3] + b"\x07" + good[4:], "newer speechvae"),
    }
    for name, (data, msg) in cases.items():
        with pytest.raises(BitstreamError, match=msg):
            codec.decode_features(data)
    # another model's bitstream: a valid file whose fingerprint is not this model's
    h, fields = bitstream.read(good)
    other = bitstream.write(dataclasses.replace(h, fingerprint=bytes(6)), fields)
    with pytest.raises(BitstreamError, match="not by this one"):
        codec.decode_features(other)


def test_every_single_bit_flip_is_refused(codec, good):
    for i in range(len(good) * 8):
        flipped = bytearray(good)
        flipped[i // 8] ^= 1 << (i % 8)
        with pytest.raises(BitstreamError):
            codec.decode_features(bytes(flipped))


def test_a_consistent_file_with_impossible_fields_is_refused(codec, good):
    # a crafted header whose checksum matches: fields beyond the model are refused, not decoded
    h, fields = bitstream.read(good)
    crafted = bytearray(bitstream.write(Header(h.fingerprint, h.fs, h.frame_period_us, h.stride, 3, h.index_bits,
                                               h.f0_bits, h.c0_bits, h.bap_bits, h.bands, h.frames), fields))
    crafted[20] = 9  # c0 bits: 9 (the model holds 1..8); the payload no longer fits either
    struct.pack_into(">I", crafted, HEADER_BYTES - 4, 0)
    struct.pack_into(">I", crafted, HEADER_BYTES - 4, zlib.crc32(bytes(crafted)))
    with pytest.raises(BitstreamError):
        codec.decode_features(bytes(crafted))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=200))
def test_random_bytes_never_escape_as_another_error(codec, data):
    with pytest.raises(BitstreamError):
        codec.decode_features(data)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_damaged_bitstreams_are_refused(codec, good, data):
    cut = data.draw(st.integers(0, len(good) - 1))
    junk = data.draw(st.binary(max_size=8))
    with pytest.raises(BitstreamError):
        codec.decode_features(good[:cut] + junk if junk != good[cut:cut + len(junk)] else good[:cut])


def test_codec_needs_side_tables(codec_exp):
    tm = load_model(codec_exp, "cpu")
    tm.checkpoint.side_quantizers = None
    with pytest.raises(ValueError, match="no side-stream quantisers"):
        Codec(tm)


# --- the commands -------------------------------------------------------------------------------------------------
def test_codec_commands(codec_exp, three_part_featdir, tmp_path, capsys):
    wavs = [r["path"] for r in read_manifest(three_part_featdir)]
    bits, out = tmp_path / "bits", tmp_path / "wavs"
    assert main(["codec", "encode", *wavs, "--model", str(codec_exp), "-o", str(bits), "--bitrate", "1.1",
                 "-q"]) == 0
    files = sorted(bits.glob("*.svc"))
    assert [p.stem for p in files] == ["part0", "part1", "part2"]
    assert {bitstream.read(p.read_bytes())[0].codebooks for p in files} == {2}  # 20 bits / 20 ms + header: 1.08 kbit/s
    assert main(["codec", "decode", str(bits), "--model", str(codec_exp), "-o", str(out), "-q"]) == 0
    assert sorted(p.stem for p in out.glob("*.wav")) == ["part0", "part1", "part2"]
    (bits / "part1.svc").write_bytes((bits / "part1.svc").read_bytes()[:-5])
    capsys.readouterr()
    assert main(["codec", "decode", str(bits), "--model", str(codec_exp), "-o", str(tmp_path / "w2"), "-q"]) == 2
    err = capsys.readouterr().err
    assert "part1.svc: truncated" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert (tmp_path / "w2" / "part0.wav").is_file()  # the intact files are decoded
    (tmp_path / "x.svc").write_bytes(b"")
    assert main(["codec", "decode", str(tmp_path / "x.svc"), "--model", str(codec_exp), "-o", str(out), "-q"]) == 2
    assert "empty file" in capsys.readouterr().err
    assert main(["codec", "encode", wavs[0], "--model", str(codec_exp), "-o", str(bits), "--bitrate", "0.1",
                 "-q"]) == 2
    assert "lowest rate" in capsys.readouterr().err
    short = tmp_path / "short.wav"
    import soundfile as sf
    sf.write(short, np.zeros(100), 16000)
    assert main(["codec", "encode", wavs[0], str(short), "--model", str(codec_exp), "-o", str(tmp_path / "b3"),
                 "-q"]) == 1  # the short file is named, the other encoded
    assert "short.wav: " in capsys.readouterr().err and (tmp_path / "b3" / "part0.svc").is_file()


def test_folder_api_counts_bytes(codec, three_part_featdir, tmp_path):
    wavs = [r["path"] for r in read_manifest(three_part_featdir)]
    info = encode_files(codec, wavs, tmp_path / "b", progress=False)
    size = sum(p.stat().st_size for p in (tmp_path / "b").glob("*.svc"))
    assert info["bytes"] == size and info["kbit_per_s"] == pytest.approx(size * 8 / info["seconds"] / 1000)
    assert decode_files(codec, tmp_path / "b", tmp_path / "w", progress=False) == (3, [])


# --- judged beside the reference codecs ------------------------------------------------------------------------
def test_codec_evaluate_beside_the_references(codec_exp, codec, three_part_featdir, tmp_path):
    pytest.importorskip("pesq", reason="speechvae[quality] not installed")
    import json
    import re

    from speechvae.analysis.audio import read_audio
    from speechvae.codec.references import available

    wavs = [r["path"] for r in read_manifest(three_part_featdir)]
    out = tmp_path / "eval"
    rate = codec.rates()[1] + 1e-6
    assert main(["codec", "evaluate", *wavs, "--model", str(codec_exp), "-o", str(out), "--rates", str(rate),
                 "--codec2", "3200", "--opus", "8", "-q"]) == 0
    res = json.loads((out / "results.json").read_text())
    sys_ = res["systems"]
    mine = sys_[f"speechvae_{rate:g}k"]
    # the rate from the files: the same bitstreams encoded here, bytes x 8 / seconds
    secs = sum(len(read_audio(w, 16000)) / 16000 for w in wavs)
    assert mine["kbit_per_s"] == pytest.approx(sum(len(codec.encode(w, bitrate=rate)) for w in wavs) * 8 / secs
                                               / 1000, rel=1e-9)
    assert mine["encode_x_realtime"] > 0 and mine["decode_x_realtime"] > 0
    # the recording against itself: PESQ's ceiling (4.64) and STOI 1
    assert sys_["recording"]["pesq_wb"] == pytest.approx(4.64, abs=0.01) and sys_["recording"]["stoi"] > 0.999
    assert sys_["world"]["kbit_per_s"] is None and 1.0 < sys_["world"]["pesq_wb"] < 4.64
    if available("codec2"):  # Codec2 3200: 64 bits per 20 ms, 8 bytes a frame
        assert sys_["codec2_3200"]["kbit_per_s"] == pytest.approx(3.2, abs=0.1)
    if available("opus"):
        assert sys_["opus_8k"]["kbit_per_s"] > 8  # its Ogg container counts too
    assert (out / "rate_quality.png").stat().st_size > 10_000
    page = (out / "index.html").read_text()
    for key in sys_:
        for w in wavs:
            stem = Path(w).stem
            assert f'src="wavs/{key}/{stem}.wav"' in page and (out / "wavs" / key / f"{stem}.wav").is_file()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        return  # the page check below needs a browser (Debian: apt-get install chromium); CI installs it
    (out / "wavs" / "world" / "part1.wav").unlink()  # the page must report a file that does not load
    r = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                        f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000", "--dump-dom",
                        (out / "index.html").as_uri()], capture_output=True, text=True, timeout=120)
    assert 'data-ready="1"' in r.stdout
    errors = re.search(r'<pre id="load-errors"[^>]*>(.*?)</pre>', r.stdout, re.S).group(1)
    assert errors.strip().endswith("wavs/world/part1.wav") and len(errors.strip().splitlines()) == 1


@pytest.mark.skipif(not (shutil.which("c2enc") and shutil.which("opusenc")),
                    reason="Codec2 / Opus tools not installed (apt-get install codec2 opus-tools)")
def test_reference_codecs_at_their_published_rates(example_wav):
    import soundfile as sf

    from speechvae.codec.references import align, codec2, opus

    x, fs = sf.read(example_wav)
    secs = len(x) / fs
    for mode, bits_per_s in (("3200", 3200), ("1300", 1300)):  # Codec2's modes: whole bytes per frame
        y, nbytes = codec2(x, fs, mode)
        assert len(y) == len(x) and nbytes * 8 / secs == pytest.approx(bits_per_s, rel=0.1)
        # speech came back where it was (delay removed): frame energies follow the recording's
        ya, n = align(x, y, fs), len(x) // 320 * 320
        energy = [10 * np.log10(np.mean(v[:n].reshape(-1, 320) ** 2, axis=1) + 1e-10) for v in (x, ya)]
        assert np.corrcoef(*energy)[0, 1] > 0.9
    y, nbytes = opus(x, fs, 8)
    assert abs(len(y) - len(x)) < 0.05 * fs and nbytes * 8 / secs / 1000 > 8  # the Ogg pages cost on top of 8
    with pytest.raises(ValueError, match="Codec2 mode"):
        codec2(x, fs, "9999")
