"""FORMATS: the one table of the CTR file formats `open_dataset("KIND:PATH")` reads (datasets.py):
per format, its spec prefix, row checks and features, default schema, what PATH names and how a path
becomes a source. A new format is one TextFormat subclass (formats.py) and one entry here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from recpim.arch.data.formats import AvazuFormat, CriteoFormat, TextFileSource, TextFormat
from recpim.arch.data.kdd import KddFormat, kdd_source
from recpim.arch.data.schema import DatasetSchema, avazu_schema, criteo_schema, kdd_schema
from recpim.errors import DataError


def single_file_source(path: Path, fmt: TextFormat, vocab_sizes: tuple[int, ...], on_bad_row: str,
                       kind: str, **options) -> tuple[TextFileSource, list[str]]:
    """A format whose rows are one text file (Criteo, Avazu)."""
    if path.is_dir():
        raise DataError(f"{kind}:PATH must name a file, {path} is a directory")
    return TextFileSource(path, fmt, vocab_sizes, on_bad_row, **options), []


@dataclass(frozen=True)
class FileFormat:
    """One entry of FORMATS: what `open_dataset("KIND:PATH")` needs to read a format."""

    kind: str                                   # the spec prefix
    text_format: type[TextFormat]               # row checks and features (its dense/sparse names)
    default_schema: Callable[[], DatasetSchema]
    path_form: str                              # what PATH names, for messages
    open_source: Callable[..., tuple[TextFileSource, list[str]]]  # (path, vocab, on_bad_row, **options)


def _kdd(path: Path, vocab_sizes: tuple[int, ...], on_bad_row: str, kind: str, **options):
    return kdd_source(path, vocab_sizes, on_bad_row, **options)


def _plain(format_class: type[TextFormat]) -> Callable[..., tuple[TextFileSource, list[str]]]:
    def open_source(path: Path, vocab_sizes: tuple[int, ...], on_bad_row: str, kind: str, **options):
        return single_file_source(path, format_class(), vocab_sizes, on_bad_row, kind, **options)
    return open_source



FORMATS: dict[str, FileFormat] = {entry.kind: entry for entry in (
    FileFormat("criteo", CriteoFormat, criteo_schema, "PATH", _plain(CriteoFormat)),
    FileFormat("avazu", AvazuFormat, avazu_schema, "PATH", _plain(AvazuFormat)),
    FileFormat("kdd12", KddFormat, kdd_schema, "DIR_OR_FILE", _kdd),
)}
