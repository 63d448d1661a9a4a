"""Where a run's data lives, recorded so a checkpoint works from any folder.

`resolve_data_spec("criteo:holdout.tsv")` gives "criteo:/abs/path/holdout.tsv" (synthetic specs
are returned unchanged); a checkpoint stores that spec and `data_fingerprint(spec)` (size and a
SHA-256 of the first MiB of each file) so a later command can tell a missing file from a changed
one. `require_data(spec, option)` is the clear error for a file that is not there.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from recpim.errors import DataError

FINGERPRINT_BYTES = 1 << 20   # hashing the first MiB tells files apart without reading gigabytes


def _split(spec: str) -> tuple[str, str]:
    kind, _, rest = spec.partition(":")
    return kind, rest


def is_file_spec(spec: str) -> bool:
    kind, rest = _split(spec)
    return kind != "synthetic" and bool(rest)


def data_path(spec: str) -> Path | None:
    """The file (or folder, kdd12) a spec reads; None for synthetic data."""
    return Path(_split(spec)[1]).expanduser() if is_file_spec(spec) else None


def resolve_data_spec(spec: str) -> str:
    """The spec with its path made absolute (symlinks resolved), so it means the same from any folder."""
    path = data_path(spec)
    if path is None:
        return spec
    return f"{_split(spec)[0]}:{path.resolve()}"


def _file_digest(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read(FINGERPRINT_BYTES)).hexdigest()


@dataclass(frozen=True)
class DataFingerprint:
    """What identifies a data file (a folder: its files in name order): its resolved path, its size
    and the SHA-256 of each file's first MiB. Saved in a checkpoint as a dict with these keys."""

    path: str
    size_bytes: int
    sha256_first_mib: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> DataFingerprint | None:
        """The fingerprint a checkpoint stored (None when it stored none)."""
        if not data:
            return None
        return cls(path=str(data["path"]), size_bytes=int(data["size_bytes"]),
                   sha256_first_mib=str(data["sha256_first_mib"]))

    def same_content(self, other: DataFingerprint) -> bool:
        return (self.size_bytes, self.sha256_first_mib) == (other.size_bytes, other.sha256_first_mib)


def data_fingerprint(spec: str) -> DataFingerprint | None:
    """The spec's file's fingerprint; None for synthetic data or a path that is not there."""
    path = data_path(spec)
    if path is None or not path.exists():
        return None
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    digest = hashlib.sha256()
    for file in files:
        digest.update(f"{file.relative_to(path) if path.is_dir() else file.name}\0".encode())
        digest.update(_file_digest(file).encode())
    return DataFingerprint(path=str(path.resolve()), size_bytes=sum(f.stat().st_size for f in files),
                           sha256_first_mib=digest.hexdigest())


def require_data(spec: str, option: str = "--data", what: str = "the data") -> None:
    """DataError naming the missing file and the option that gives another one."""
    path = data_path(spec)
    if path is not None and not path.exists():
        raise DataError(f"{what} file is missing: {path} (from the spec {spec!r}); it was moved or deleted, or the "
                        f"path was relative to another folder. Give its location with {option} "
                        f"{_split(spec)[0]}:PATH")


def fingerprint_note(saved: DataFingerprint | None, spec: str) -> str | None:
    """A warning line when the file at `spec` differs from the one a checkpoint was trained on."""
    if saved is None:
        return None
    now = data_fingerprint(spec)
    if now is None or now.same_content(saved):
        return None
    return (f"the data {now.path} differs from the file the supernet was trained on ({saved.path}: "
            f"{saved.size_bytes} bytes, now {now.size_bytes})")
