"""The search's persistent record: an Optuna study (SQLite file by default, any Optuna storage URL
such as postgresql://... for a shared database).

Every evaluated candidate becomes one trial, written in a single transaction when its evaluation
completes (`Study.add_trial`), so a kill -9 at any moment leaves only whole trials: a candidate
that was being evaluated is simply absent and the resumed run evaluates it again; nothing is
counted twice. Trials carry:

- state COMPLETE (feasible; values = the objective's values) or FAIL (infeasible or error);
- params: the candidate's scalar choices per block, the embedding bits and the chip knobs as
  categorical parameters, so Optuna's tools (optuna-dashboard, importance...) can read them;
- user attrs: every metric under its own name, plus `candidate_index`, `subnet_id` (c<index>, the
  name of its files in the outputs), `config` (the subnet and chip knobs), `status`, `message` and
  `record` (the whole evaluation as JSON, what a resume reads back).

optuna-dashboard reads all of it (`optuna-dashboard sqlite:///out/search/study.db`); the metric names
are set at creation, and the reports layer adds the front's report pages as the study's
`recpim_reports` attribute once written (recpim/reports/search_outputs.py).

The study's own user attrs hold the resolved settings of the run (`recpim_settings`) and the
recpim version: a resume takes its settings from there.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import optuna
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState, create_trial

from recpim import __version__
from recpim.arch.model.space import SearchSpace
from recpim.errors import ConfigError
from recpim.search.candidate import Candidate, Evaluated, KnobRanges
from recpim.search.objectives import Objective

STUDY_NAME = "recpim-search"
SETTINGS_ATTR = "recpim_settings"
VERSION_ATTR = "recpim_version"
RECORD_ATTR = "record"
BLOCK_PARAMS = ("dense_op", "dense_width", "sparse_op", "sparse_width", "dense_to_sparse", "sparse_to_dense_fm",
                "weight_bits", "activation_bits")


def storage_url(location: str | Path) -> str:
    """A storage URL as given (it holds '://'), or a SQLite URL for a file path."""
    text = str(location)
    if "://" in text:
        _check_driver(text)
        return text
    path = Path(text).expanduser().resolve()
    _check_sqlite_file(path, text)
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


SQLITE_HEADER = b"SQLite format 3\x00"
# The pip package of each database driver module SQLAlchemy imports (what the error names).
DRIVER_PACKAGES = {"psycopg": "psycopg[binary]", "psycopg2": "psycopg2-binary", "MySQLdb": "mysqlclient",
                   "pymysql": "PyMySQL", "pg8000": "pg8000", "asyncpg": "asyncpg", "oracledb": "oracledb",
                   "cx_Oracle": "cx_Oracle", "pyodbc": "pyodbc", "pymssql": "pymssql"}


def _check_driver(url: str) -> None:
    """A storage URL whose database driver is importable; otherwise a ConfigError naming the package
    to install (Optuna's own error is an ImportError traceback that names none)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    shown = url.split("@")[-1] if "@" in url else url     # never print a password
    try:
        parsed = make_url(url)
        dialect = parsed.get_dialect()
    except (ArgumentError, NoSuchModuleError, ValueError) as error:
        raise ConfigError("--study", [(shown, f"not a storage URL SQLAlchemy knows ({error}); give a study file "
                                              "path or e.g. postgresql+psycopg2://USER:PASSWORD@HOST/DB")]) from None
    try:
        dialect.import_dbapi() if hasattr(dialect, "import_dbapi") else dialect.dbapi()
    except ImportError as error:
        module = (error.name or "").split(".")[0]
        package = DRIVER_PACKAGES.get(module, module or "its driver")
        raise ConfigError("--study", [(f"{parsed.drivername}://...{shown if '@' in url else ''}",
                                       f"the database driver for {parsed.get_backend_name()} is not installed "
                                       f"({error}); install it with `pip install {package}`")]) from None


def _check_sqlite_file(path: Path, given: str) -> None:
    """A study path that exists must be an SQLite database (SQLAlchemy's own error is a traceback
    about 'file is not a database' that names neither the file nor the option)."""
    if path.is_dir():
        raise ConfigError("--study", [(given, "is a folder; give a study file (e.g. out/search/study.db) or an "
                                              "Optuna storage URL")])
    if path.is_file() and path.stat().st_size > 0:
        with open(path, "rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
        if header != SQLITE_HEADER:
            raise ConfigError("--study", [(given, f"is not an SQLite database (it starts with {header[:12]!r}); give "
                                                  "the study.db a search wrote, a new file path, or an Optuna "
                                                  "storage URL")])


def _choices(values) -> tuple:
    return tuple(str(v) if isinstance(v, str) else v for v in values)   # StrEnum -> plain str


def candidate_params(candidate: Candidate, space: SearchSpace,
                     knob_ranges: KnobRanges) -> tuple[dict[str, Any], dict[str, CategoricalDistribution]]:
    """The candidate's scalar choices as Optuna parameters with their categorical distributions
    (input sets stay in the `record` attr: they are not scalars)."""
    options = {**space.block_choices(), "dense_to_sparse": (False, True), "sparse_to_dense_fm": (False, True)}
    params: dict[str, Any] = {"embedding_bits": candidate.subnet.embedding_bits}
    distributions = {"embedding_bits": CategoricalDistribution(_choices(space.embedding_bits))}
    if space.embedding_dims:   # only a space that searches dims has the parameter (studies stay as before)
        params["embedding_dim"] = candidate.subnet.embedding_dim
        distributions["embedding_dim"] = CategoricalDistribution(_choices(space.embedding_dims))
    for number, block in enumerate(candidate.subnet.blocks, start=1):
        for name in BLOCK_PARAMS:
            value = getattr(block, name)
            params[f"block{number}.{name}"] = str(value) if isinstance(value, str) else value
            distributions[f"block{number}.{name}"] = CategoricalDistribution(_choices(options[name]))
    for key, values in knob_ranges.items():
        params[f"chip.{key}"] = candidate.chip_knobs[key]
        distributions[f"chip.{key}"] = CategoricalDistribution(_choices(values))
    return params, distributions


class SearchStudy:
    """An Optuna study holding one recpim search."""

    def __init__(self, study: optuna.Study, url: str):
        self.study = study
        self.url = url

    @classmethod
    def create(cls, location: str | Path, settings: dict[str, Any], objective: Objective) -> SearchStudy:
        """A new study; refuses one that exists (resume it, or name another location)."""
        url = storage_url(location)
        if STUDY_NAME in optuna.study.get_all_study_names(storage=url):
            raise ConfigError("search study", [(str(location), "already holds a search; continue it with --resume, "
                                                               "or give a new --study location")])
        directions, names = objective.study_directions()
        study = optuna.create_study(storage=url, study_name=STUDY_NAME, directions=directions)
        with warnings.catch_warnings():   # set_metric_names is marked experimental; its result is just a label
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(names)
        study.set_user_attr(VERSION_ATTR, __version__)
        study.set_user_attr(SETTINGS_ATTR, settings)     # last: a study without settings is not resumable
        return cls(study, url)

    @classmethod
    def open(cls, location: str | Path) -> SearchStudy:
        """An existing study, for a resume."""
        if "://" not in str(location) and not Path(location).expanduser().is_file():
            raise ConfigError("search study", [(str(location), "no such file: it holds no recpim search to resume; "
                                                               "start one without --resume")])
        url = storage_url(location)
        if STUDY_NAME not in optuna.study.get_all_study_names(storage=url):
            raise ConfigError("search study", [(str(location), "holds no recpim search to resume; start one "
                                                               "without --resume")])
        study = optuna.load_study(study_name=STUDY_NAME, storage=url)
        if SETTINGS_ATTR not in study.user_attrs:
            raise ConfigError("search study", [(str(location), "has no saved settings (it was interrupted while "
                                                               "being created); delete it and start again")])
        return cls(study, url)

    @property
    def settings(self) -> dict[str, Any]:
        return self.study.user_attrs.get(SETTINGS_ATTR, {})

    def commit(self, record: Evaluated, objective: Objective, space: SearchSpace, knob_ranges: KnobRanges) -> None:
        """Write one evaluated candidate as one trial, atomically."""
        params, distributions = candidate_params(record.candidate, space, knob_ranges)
        attrs: dict[str, Any] = record.metrics.to_dict() if record.metrics else {}
        attrs.update(candidate_index=record.index, status=record.status, message=record.message,
                     violation=record.violation, parent=record.parent, duplicate_of=record.duplicate_of,
                     eval_s=record.eval_s)
        # what optuna-dashboard shows per trial: its id in the outputs (front_reports/c<index>...) and config
        attrs.update(subnet_id=f"c{record.index}", config={"subnet": record.candidate.subnet.to_dict(),
                                                            "chip_knobs": dict(record.candidate.chip_knobs)})
        attrs[RECORD_ATTR] = record.to_dict()
        feasible = record.feasible
        trial = create_trial(state=TrialState.COMPLETE if feasible else TrialState.FAIL,
                             values=objective.study_values(record.metrics) if feasible else None,
                             params=params, distributions=distributions, user_attrs=attrs)
        self.study.add_trial(trial)

    def held(self) -> int:
        """How many candidates the study holds (distinct indices), without reading their records
        (which need the search's space)."""
        trials = self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL))
        return len({t.user_attrs["candidate_index"] for t in trials if RECORD_ATTR in t.user_attrs})

    def history(self, space: SearchSpace | None = None) -> dict[int, Evaluated]:
        """Every evaluated candidate by index (the first trial of an index wins, should a study
        ever hold two, e.g. after two drivers wrote to it at once)."""
        records: dict[int, Evaluated] = {}
        trials = self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL))
        for trial in sorted(trials, key=lambda t: t.number):
            raw = trial.user_attrs.get(RECORD_ATTR)
            if raw is None:
                continue                      # not written by recpim
            record = Evaluated.from_dict(raw, space)   # the search's space (None: a built-in one)
            records.setdefault(record.index, record)
        return records
