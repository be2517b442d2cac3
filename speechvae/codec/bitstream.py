"""The codec's file format: a 29-byte header, then the packed bits of every latent vector's fields.

Header (big-endian): magic ``SVC`` and the format version (1 byte), the model's fingerprint (6 bytes: the first 12
hex digits of :func:`speechvae.inference.codes.model_fingerprint`), sample rate (Hz, u16), frame period (us, u16),
stride (frames per latent vector), envelope codebooks sent, bits per codebook index, log-F0 bits, c0 bits,
aperiodicity bits per band, bands (1 byte each), frame count (u32) and a CRC-32 of the whole file computed with
this field zeroed.

Payload: per latent vector, in order, the envelope indices, the log-F0 index (0 = unvoiced), the c0 index and one
index per aperiodicity band, each most significant bit first, the vectors one after another with no padding; the
last byte is zero-padded. Its length follows from the header, so a file is checked for its exact size.

Every read is bounds-checked: a short, long, foreign, corrupted or future-version file raises
:class:`BitstreamError` with one line, and nothing is read past the end of the bytes given.

>>> import numpy as np
>>> h = Header(fingerprint=bytes(6), fs=16000, frame_period_us=5000, stride=4, codebooks=2, index_bits=8,
...            f0_bits=7, c0_bits=5, bap_bits=2, bands=1, frames=10)
>>> fields = np.array([[1, 2, 3, 4, 1], [255, 0, 127, 31, 3], [0, 0, 0, 0, 0]])
>>> data = write(h, fields)
>>> len(data), h.bits_per_vector          # 29 + ceil(3 x 30 / 8)
(41, 30)
>>> h2, f2 = read(data)
>>> h2 == h, bool(np.array_equal(f2, fields))
(True, True)
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import astuple, dataclass

import numpy as np

MAGIC = b"SVC"
VERSION = 1
_HEADER = struct.Struct(">3sB6sHHBBBBBBBII")
HEADER_BYTES = _HEADER.size  # 29
FINGERPRINT_BYTES = 6


class BitstreamError(ValueError):
    """A file that is not a speechvae bitstream this version and model can decode; the message says why."""


@dataclass(frozen=True)
class Header:
    fingerprint: bytes  # 6 bytes: the model that wrote it
    fs: int  # Hz
    frame_period_us: int  # microseconds between frames (5000: 5 ms)
    stride: int  # frames per latent vector
    codebooks: int  # envelope codebook indices per vector
    index_bits: int  # bits per codebook index (log2 of the entries)
    f0_bits: int
    c0_bits: int
    bap_bits: int  # per band
    bands: int  # aperiodicity bands
    frames: int  # frames of the utterance (T)

    @property
    def widths(self) -> list[int]:
        """Bits of each field of a latent vector, in order."""
        return [self.index_bits] * self.codebooks + [self.f0_bits, self.c0_bits] + [self.bap_bits] * self.bands

    @property
    def bits_per_vector(self) -> int:
        return sum(self.widths)

    @property
    def vectors(self) -> int:
        """Latent vectors: ceil(frames / stride)."""
        return -(-self.frames // self.stride)

    @property
    def payload_bytes(self) -> int:
        return -(-self.vectors * self.bits_per_vector // 8)

    def check(self) -> None:
        if len(self.fingerprint) != FINGERPRINT_BYTES:
            raise BitstreamError(f"model fingerprint of {len(self.fingerprint)} bytes, need {FINGERPRINT_BYTES}")
        for name in ("fs", "frame_period_us"):
            if not 1 <= getattr(self, name) <= 0xFFFF:
                raise BitstreamError(f"{name} {getattr(self, name)} does not fit the header (1..65535)")
        if self.stride < 1 or self.frames < 1:
            raise BitstreamError(f"stride {self.stride}, frames {self.frames}: both must be >= 1")
        if not 0 <= self.codebooks <= 255 or not 0 <= self.bands <= 255 or not 1 <= self.index_bits <= 16 \
                or not all(1 <= b <= 16 for b in (self.f0_bits, self.c0_bits, self.bap_bits)):
            raise BitstreamError(f"field widths out of range: {self.widths[:1]} x {self.codebooks} codebooks, "
                                 f"{self.f0_bits}/{self.c0_bits}/{self.bap_bits} bits, {self.bands} bands")
        if self.frames > 0xFFFFFFFF:
            raise BitstreamError(f"{self.frames} frames do not fit the header")


def write(header: Header, fields: np.ndarray) -> bytes:
    """Header + ``fields (vectors, n_fields)`` (non-negative ints, each below 2 ** its width) packed -> the file."""
    header.check()
    fields = np.asarray(fields, dtype=np.int64)
    widths = header.widths
    if fields.shape != (header.vectors, len(widths)):
        raise ValueError(f"fields of shape {fields.shape}, the header says ({header.vectors}, {len(widths)})")
    if fields.size and (fields.min() < 0 or np.any(fields >= (1 << np.asarray(widths))[None, :])):
        raise ValueError("a field value does not fit its bit width")
    payload = pack_bits(fields, widths)
    head = _HEADER.pack(MAGIC, VERSION, *astuple(header), 0)
    crc = zlib.crc32(payload, zlib.crc32(head))
    return head[:-4] + struct.pack(">I", crc) + payload


def read(data: bytes) -> tuple[Header, np.ndarray]:
    """A file's bytes -> (:class:`Header`, fields ``(vectors, n_fields)`` int64); BitstreamError with one line for
    anything that is not an intact bitstream of this format version."""
    data = bytes(data)
    if len(data) == 0:
        raise BitstreamError("empty file, not a speechvae bitstream")
    if not data.startswith(MAGIC):
        raise BitstreamError("not a speechvae bitstream (no 'SVC' magic at its start)")
    if len(data) < HEADER_BYTES:
        raise BitstreamError(f"truncated: {len(data)} bytes, shorter than the {HEADER_BYTES}-byte header")
    magic, version, *rest, crc = _HEADER.unpack_from(data)
    if version != VERSION:
        newer = version > VERSION
        raise BitstreamError(f"format version {version}: " + ("written by a newer speechvae, which this one "
                             f"(reads version {VERSION}) cannot decode; upgrade speechvae" if newer else
                             "unknown (corrupted?)"))
    header = Header(*rest)
    crc_ok = zlib.crc32(data[HEADER_BYTES:], zlib.crc32(data[:HEADER_BYTES - 4] + bytes(4))) == crc
    try:
        header.check()
    except BitstreamError as e:
        raise BitstreamError(f"corrupted header: {e}") from None
    want = HEADER_BYTES + header.payload_bytes
    if not crc_ok:
        if len(data) < want:
            raise BitstreamError(f"truncated or corrupted: {len(data)} bytes where its header announces {want}, "
                                 "and the checksum does not match")
        raise BitstreamError("corrupted: the checksum does not match the header and payload")
    if len(data) != want:  # a matching checksum over a wrong length: written by something else
        raise BitstreamError(f"{len(data)} bytes where its header announces {want}")
    return header, unpack_bits(data[HEADER_BYTES:], header.vectors, header.widths)


def pack_bits(fields: np.ndarray, widths: list[int]) -> bytes:
    """``fields (N, F)`` -> bytes: each row's fields at their widths, most significant bit first, rows one after
    another, zero-padded to a byte."""
    cols = [(fields[:, j, None] >> np.arange(w - 1, -1, -1)) & 1 for j, w in enumerate(widths)]
    bits = np.concatenate(cols, axis=1).astype(np.uint8) if cols else np.zeros((len(fields), 0), np.uint8)
    return np.packbits(bits.ravel()).tobytes()


def unpack_bits(payload: bytes, rows: int, widths: list[int]) -> np.ndarray:
    """The inverse of :func:`pack_bits` for ``rows`` rows; the payload must hold exactly their bits (and zero
    padding)."""
    total = rows * sum(widths)
    if len(payload) != -(-total // 8):
        raise BitstreamError(f"payload of {len(payload)} bytes, {rows} vectors of {sum(widths)} bits need "
                             f"{-(-total // 8)}")
    bits = np.unpackbits(np.frombuffer(payload, dtype=np.uint8))
    if bits[total:].any():
        raise BitstreamError("corrupted: non-zero padding after the last field")
    bits = bits[:total].reshape(rows, sum(widths)).astype(np.int64)
    out, at = np.zeros((rows, len(widths)), np.int64), 0
    for j, w in enumerate(widths):
        out[:, j] = bits[:, at:at + w] @ (1 << np.arange(w - 1, -1, -1))
        at += w
    return out
