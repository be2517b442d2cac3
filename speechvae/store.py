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
import re
import socket
import tempfile
import time
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
# Each temporary name carries the host and process that write it (``.<name>.@<host>-<pid>@<random>.tmp``), so that a
# run starting on a folder removes what a killed run left and never what a live one is writing (two analyses of one
# folder at once: the second used to delete the first's files under it, which then failed to rename them).
HOST = re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname())[:64] or "host"
_TMP_OWNER = re.compile(r"\.@(?P<host>[A-Za-z0-9_-]*)-(?P<pid>\d+)@[^@]*\.tmp$")
OTHER_HOST_STALE_S = 24 * 3600  # a file of another machine's process (a shared disk) is stale after a day


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.@{HOST}-{os.getpid()}@", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, FILE_MODE)  # mkstemp makes 0600: others on a shared server could not read it
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine (signal 0 checks without sending anything)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def stale_tmp(path: Path) -> bool:
    """Whether a temporary file (``.<name>.*.tmp``) was left by a run that is gone: its process no longer exists on
    this machine, or it is another machine's and over :data:`OTHER_HOST_STALE_S` old, or its name does not say
    (written before names carried their owner)."""
    m = _TMP_OWNER.search(path.name)
    if m is None:
        return True
    if m["host"] != HOST:
        return time.time() - path.stat().st_mtime > OTHER_HOST_STALE_S
    return not _alive(int(m["pid"]))


def remove_stale_tmp(folder: str | Path) -> list[Path]:
    """Delete the temporary files (``.<name>.*.tmp``) a killed run left in ``folder`` (:func:`stale_tmp`); those of
    a live process, another run writing into the same folder, stay.

    Called when a run (re)starts on a folder it owns: those files were never renamed into place,
    so nothing refers to them. Returns what was removed."""
    folder = Path(folder)
    gone = []
    for p in folder.glob(TMP_GLOB) if folder.is_dir() else []:
        try:
            if p.is_file() and stale_tmp(p):
                p.unlink()
                gone.append(p)
        except FileNotFoundError:  # renamed into place or removed by its owner meanwhile
            pass
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





