"""KDD Cup 2012 track 2: training.txt (or TestPublic.txt) rows joined with the user profile side
file (Gender, Age by UserID), read by the text reader of formats.py."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recpim.arch.data.formats import (
    Converted,
    IntParser,
    RowCheck,
    TextFileSource,
    TextFormat,
    check_lines,
    digit_columns,
    int_columns,
    iter_lines,
    read_first_line,
)
from recpim.arch.data.parsing import BadRowReport, log1p_clamped, parse_int_cells, show
from recpim.errors import DataError

KDD_COLUMNS = (
    "Click", "Impression", "DisplayURL", "AdID", "AdvertiserID", "Depth", "Position", "QueryID",
    "KeywordID", "TitleID", "DescriptionID", "UserID",
)
KDD_ID_COLUMNS = (2, 3, 4, 7, 8, 9, 10, 11)
KDD_TEST_PUBLIC_COLUMNS = (
    "id", "click", "impression", "adid", "advertiserid", "depth", "position", "queryid", "keywordid",
    "titleid", "description", "userid", "displayurl",
)
# TestPublic column feeding each training.txt column, in KDD_COLUMNS order.
_KDD_TEST_PUBLIC_ORDER = [1, 2, 12, 3, 4, 5, 6, 7, 8, 9, 10, 11]


@dataclass
class UserProfiles:
    """KDD's userid_profile.txt (UserID, Gender, Age) as arrays indexed by UserID (-1 = unknown)."""

    gender: np.ndarray
    age: np.ndarray
    bad_rows: BadRowReport
    path: Path | None

    @staticmethod
    def empty() -> UserProfiles:
        return UserProfiles(np.zeros(0, np.int16), np.zeros(0, np.int16), BadRowReport(), None)

    def lookup(self, user_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Gender and Age cells (bytes) of each user; empty (reserved id) where unknown."""
        known = (user_ids >= 0) & (user_ids < len(self.gender))
        index = np.where(known, user_ids, 0)
        cells = []
        for table in (self.gender, self.age):
            values = table[index] if len(table) else np.full(len(user_ids), -1, np.int16)
            present = known & (values >= 0)
            cells.append(np.where(present, values.astype(bytes), b""))
        return cells[0], cells[1]


class KddFormat(TextFormat):
    """KDD Cup 2012 track 2 `training.txt` (TSV, no header), or `TestPublic.txt` (CSV with header)
    when `test_public` is set. As NASRec: label = Click > 0; dense = Impression, Depth, Position;
    sparse = DisplayURL, AdID, AdvertiserID, QueryID, KeywordID, TitleID, DescriptionID, UserID and
    the user's Gender and Age joined from userid_profile.txt (reserved id where unknown)."""

    name = "kdd12"
    dense_names = ("Impression", "Depth", "Position")
    sparse_names = ("DisplayURL", "AdID", "AdvertiserID", "QueryID", "KeywordID", "TitleID", "DescriptionID",
                    "UserID", "Gender", "Age")

    def __init__(self, profiles: UserProfiles, test_public: bool = False):
        self.profiles = profiles
        self.test_public = test_public
        if test_public:
            self.delimiter, self.column_names = b",", KDD_TEST_PUBLIC_COLUMNS
            self.header = b",".join(c.encode() for c in KDD_TEST_PUBLIC_COLUMNS)
        else:
            self.delimiter, self.column_names, self.header = b"\t", KDD_COLUMNS, None

    def convert(self, cells: np.ndarray, ints: IntParser | None = None) -> Converted:
        def file_columns(columns: list[int]) -> list[int]:
            return [_KDD_TEST_PUBLIC_ORDER[j] for j in columns] if self.test_public else columns

        if self.test_public:
            cells = cells[:, _KDD_TEST_PUBLIC_ORDER]
        counts, counts_ok = int_columns(cells[:, [0, 1, 5, 6]], ["Click", "Impression", "Depth", "Position"],
                                        parsed=ints(file_columns([0, 1, 5, 6])) if ints is not None else None)
        clicks = counts[:, 0]
        click_cells = cells[:, 0]
        label_bad = (click_cells == b"") | (clicks < 0)
        label_ok = RowCheck(label_bad, lambda i: f"Click must be a count >= 0, found {show(click_cells[i])}")
        ids_ok = digit_columns(cells[:, KDD_ID_COLUMNS], [KDD_COLUMNS[j] for j in KDD_ID_COLUMNS])
        user_ids, user_ok = (parse_int_cells(cells[:, 11]) if ints is None
                             else tuple(a[:, 0] for a in ints(file_columns([11]))))
        gender, age = self.profiles.lookup(np.where(user_ok & (cells[:, 11] != b""), user_ids, -1))
        sparse = np.concatenate([cells[:, KDD_ID_COLUMNS], gender[:, None], age[:, None]], axis=1)
        label = (clicks > 0).astype(np.float32)
        return Converted(log1p_clamped(counts[:, 1:]), sparse, label, [counts_ok, label_ok, ids_ok])


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------


class UserProfileFormat(TextFormat):
    """KDD's userid_profile.txt: UserID, Gender, Age as tab-separated non-negative integers."""

    name = "kdd12 user profiles"
    delimiter = b"\t"
    column_names = ("UserID", "Gender", "Age")
    dense_names = column_names
    sparse_names = ()

    def convert(self, cells: np.ndarray, ints: IntParser | None = None) -> Converted:
        values, ints_ok = int_columns(cells, list(self.column_names), allow_empty=False,
                                      parsed=ints([0, 1, 2]) if ints is not None else None)
        negative = RowCheck((values < 0).any(axis=1), lambda i: f"negative value in {show(b'|'.join(cells[i]))}")
        # "dense" carries the raw int64 values here; they index the profile tables.
        return Converted(values, cells[:, :0], np.zeros(len(cells), np.float32), [ints_ok, negative])


def load_user_profiles(path: Path | None, on_bad_row: str, chunk_rows: int = 262_144) -> UserProfiles:
    """Read KDD's user profile side file into tables indexed by UserID."""
    if path is None:
        return UserProfiles.empty()
    fmt, report = UserProfileFormat(), BadRowReport()
    parts = [check_lines(fmt, lines, first_line, str(path), report, on_bad_row)[0].dense
             for first_line, lines in iter_lines(path, chunk_rows)]
    table = np.concatenate(parts) if parts else np.zeros((0, 3), np.int64)
    size = int(table[:, 0].max()) + 1 if len(table) else 0
    gender, age = np.full(size, -1, np.int16), np.full(size, -1, np.int16)
    gender[table[:, 0]] = table[:, 1]
    age[table[:, 0]] = table[:, 2]
    return UserProfiles(gender, age, report, path)


def _first_existing(folder: Path, names: tuple[str, ...]) -> Path | None:
    return next((folder / n for n in names if (folder / n).is_file()), None)


def kdd_source(path: Path, vocab_sizes: tuple[int, ...], on_bad_row: str,
               **options) -> tuple[TextFileSource, list[str]]:
    """A KDD12 directory (training.txt and side files) or one file (training.txt or TestPublic.txt
    format, detected from its first line). Returns the source and notes on what was joined."""
    training_names = ("training.txt", "training.txt.gz")
    if path.is_dir():
        data_file = _first_existing(path, training_names)
        if data_file is None:
            raise DataError(f"no KDD Cup 2012 training file in {path}; looked for {', '.join(training_names)}")
    else:
        data_file = path
    user_file = _first_existing(data_file.parent, ("userid_profile.txt", "userid_profile.txt.gz", "user.txt",
                                                   "user.txt.gz"))
    notes = []
    if user_file is None:
        notes.append(f"no userid_profile.txt/user.txt beside {data_file}: Gender and Age are all missing (id 0)")
    profiles = load_user_profiles(user_file, on_bad_row)
    test_public = read_first_line(data_file).startswith(b"id,click,")
    source = TextFileSource(data_file, KddFormat(profiles, test_public), vocab_sizes, on_bad_row,
                            side_file_bad_rows=profiles.bad_rows, **options)
    return source, notes
