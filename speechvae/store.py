"""On-disk storage: atomic writes, per-utterance feature files and the manifest.

Feature files are ``.npz`` (numpy zip archives), chosen over HDF5 because they need no extra
dependency, load with ``allow_pickle=False`` (no code is ever unpickled) and are written here
byte-for-byte deterministically (fixed zip timestamps), so re-runs can be compared with ``cmp``.

Every file is written to a temporary name in the same folder and renamed into place, so a
killed process never leaves a half-written file under its final name. The final file gets the
mode an ordinary ``open()`` would give it (0644 under umask 022), not mkstemp's private 0600.
"""
from __future__ import annotations

import csv
import io
import json
import os
import tempfile
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np



class StoreError(ValueError):
    """A stored file that is missing, corrupt or not of the expected form."""


def _read_umask() -> int:
    mask = os.umask(0o022)  # the only way to read it is to set it; put it straight back
    os.umask(mask)
    return mask


# Read once at import, before any worker threads exist (os.umask is process-wide).
FILE_MODE = 0o666 & ~_read_umask()
TMP_GLOB = ".*.tmp"


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, FILE_MODE)  # mkstemp makes 0600: others on a shared server could not read it
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def remove_stale_tmp(folder: str | Path) -> list[Path]:
    """Delete the temporary files (``.<name>.*.tmp``) a killed run left in ``folder``.

    Called when a run (re)starts on a folder it owns: those files were never renamed into place,
    so nothing refers to them. Returns what was removed."""
    folder = Path(folder)
    gone = [p for p in folder.glob(TMP_GLOB) if p.is_file()] if folder.is_dir() else []
    for p in gone:
        p.unlink(missing_ok=True)
    return gone


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, obj) -> None:
    """Atomically write ``obj`` as indented JSON."""
    atomic_write_text(path, json.dumps(obj, indent=2) + "\n")


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """Serialise arrays to npz bytes deterministically (sorted names, fixed timestamps)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for name in sorted(arrays):
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            arr = np.asarray(arrays[name])
            if arr.dtype == object:
                raise TypeError(f"array {name!r} has dtype object; refusing to pickle")
            sub = io.BytesIO()
            np.lib.format.write_array(sub, arr, allow_pickle=False)
            zf.writestr(info, sub.getvalue())
    return buf.getvalue()


def save_npz(path: str | Path, arrays: dict[str, np.ndarray]) -> None:
    """Atomically write ``arrays`` to ``path`` as a deterministic npz."""
    atomic_write_bytes(path, npz_bytes(arrays))


def load_npz(path: str | Path, required: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """Load an npz without unpickling anything; raise StoreError naming the file when broken."""
    try:
        with np.load(path, allow_pickle=False) as z:
            out = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise StoreError(f"{path}: no such file") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise StoreError(f"{path}: not a readable npz file ({e})") from None
    missing = [k for k in required if k not in out]
    if missing:
        raise StoreError(f"{path}: missing array(s) {missing}")
    return out




def write_csv(path: str | Path, rows: list[dict]) -> None:
    """Atomically write dict rows as CSV, header from the first row's keys."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(path, buf.getvalue())





