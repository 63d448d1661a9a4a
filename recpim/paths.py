"""Output paths are checked before any work starts, so a long run never ends in a write error.

`check_output_file(path, option)` and `check_output_dir(path, option)` create what is missing
above the path and prove it writable by creating and removing a probe file there (os.access
alone says yes to root on a read-only or pseudo file system). Each refusal is a ConfigError that
names the option, the path and what is wrong.
"""

from __future__ import annotations

import os
from pathlib import Path

from recpim.errors import ConfigError


def _refuse(option: str, path: Path, message: str) -> ConfigError:
    return ConfigError(option, [(str(path), message)])


def _make_folder(folder: Path, option: str, path: Path) -> None:
    for parent in [folder, *folder.parents]:
        if parent.exists():
            if not parent.is_dir():
                raise _refuse(option, path, f"{parent} is a file, not a folder, so nothing can be written under it")
            break
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise _refuse(option, path, f"cannot create the folder {folder}: {error.strerror or error}") from None


def _probe(folder: Path, option: str, path: Path) -> None:
    probe = folder / f".recpim-write-probe-{os.getpid()}"
    try:
        with open(probe, "wb") as handle:
            handle.write(b"x")
    except OSError as error:
        raise _refuse(option, path, f"the folder {folder} is not writable: {error.strerror or error}") from None
    finally:
        probe.unlink(missing_ok=True)


def check_output_file(path: Path | str, option: str = "--out") -> Path:
    """`path` as given, after checking a file can be written there (its folders are created)."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise _refuse(option, path, f"is a folder; this option takes a file path (e.g. {path / 'NAME'})")
    if path.exists() and not os.access(path, os.W_OK):
        raise _refuse(option, path, "exists and is not writable")
    folder = path.parent if str(path.parent) else Path(".")
    _make_folder(folder, option, path)
    _probe(folder, option, path)
    return path


def check_output_dir(path: Path | str, option: str = "--out") -> Path:
    """`path` as given, after creating it (if missing) and checking files can be written in it."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise _refuse(option, path, "is a file; this option takes a folder (it is created if missing)")
    _make_folder(path, option, path)
    _probe(path, option, path)
    return path
