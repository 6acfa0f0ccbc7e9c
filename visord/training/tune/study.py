"""Where a study lives, and creating or resuming it.

Owns opening the storage: an Optuna journal file (the default,
`OUTPUT/journal.log`; resumable, and safe for several processes on one host,
unlike SQLite) or any RDB URL (`postgresql://user@host/db`, several machines on
one study). A URL's credentials never appear in messages. A study is created
once; later runs (a resume, another worker, another machine) load it and must
describe the same search: its fingerprint (space, cv, metric, the training
config less its paths) is stored with the study and compared.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.storages import BaseStorage

from visord.contract.redact import redact_url
from visord.training.config import TrainingConfigError
from visord.training.tune.samplers import build_pruner, build_sampler
from visord.training.tune.settings import TuneConfig

FINGERPRINT = "visord_search"
# Keys that name or place things without changing what a trial trains.
_PATH_KEYS = ("name", "output_dir")
_DATA_PATH_KEYS = ("path", "validation_path", "name")


class StorageError(RuntimeError):
    """The storage cannot be opened; the message names it, without credentials."""


@dataclass
class StudyHandle:
    """An open study with the storage it lives in (the queue claims trials through the storage)."""

    study: optuna.Study
    storage: BaseStorage
    study_id: int
    created: bool


def _journal(path: Path) -> BaseStorage:
    from optuna.storages import journal

    path.parent.mkdir(parents=True, exist_ok=True)
    # JournalFileStorage: optuna < 4
    backend = getattr(journal, "JournalFileBackend", None) or optuna.storages.JournalFileStorage
    return journal.JournalStorage(backend(str(path)))


def _rdb(url: str) -> BaseStorage:
    try:
        return optuna.storages.RDBStorage(url)
    except ImportError as error:
        raise StorageError(
            f"storage {redact_url(url)} needs a database driver: {error} "
            "(for PostgreSQL: pip install 'visord[postgres]', the psycopg driver)"
        ) from None
    except Exception as error:
        # sqlalchemy's errors: unreachable host, bad credentials, unknown dialect
        first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise StorageError(
            f"cannot open storage {redact_url(url)}: {redact_url(first_line)}"
        ) from None


def _is_url(tune: TuneConfig) -> bool:
    return bool(tune.storage) and "://" in tune.storage


def _journal_path(tune: TuneConfig) -> Path:
    return Path(tune.storage) if tune.storage else tune.output_dir / "journal.log"


def open_storage(tune: TuneConfig) -> BaseStorage:
    """The configured RDB URL or journal file, else OUTPUT/journal.log."""
    return _rdb(tune.storage) if _is_url(tune) else _journal(_journal_path(tune))


def storage_label(tune: TuneConfig) -> str:
    """The storage as it may be printed."""
    return redact_url(tune.storage) if _is_url(tune) else str(_journal_path(tune))


def fingerprint(tune: TuneConfig) -> str:
    """What must not change between runs of one study (paths may: machines mount data
    differently)."""
    train = {k: v for k, v in tune.base.model_dump(mode="json").items() if k not in _PATH_KEYS}
    train["data"] = {k: v for k, v in train["data"].items() if k not in _DATA_PATH_KEYS}
    space = {key: param.model_dump(mode="json") for key, param in tune.settings.space.items()}
    search = {
        "space": space,
        "cv": tune.settings.cv,
        "metric": tune.settings.metric,
        "train": train,
    }
    return json.dumps(search, sort_keys=True)


def _create_or_load(
    tune: TuneConfig, storage: BaseStorage, worker: int
) -> tuple[optuna.Study, bool]:
    options = {
        "study_name": tune.settings.name,
        "storage": storage,
        "sampler": build_sampler(tune.settings.sampler, worker),
        "pruner": build_pruner(tune.settings.pruning),
    }
    try:
        study = optuna.create_study(direction=tune.settings.direction, **options)
    except optuna.exceptions.DuplicatedStudyError:
        return optuna.load_study(**options), False
    study.set_user_attr(FINGERPRINT, fingerprint(tune))
    return study, True


def _check_same_search(study: optuna.Study, tune: TuneConfig) -> None:
    stored = study.user_attrs.get(FINGERPRINT)
    if stored is not None and stored != fingerprint(tune):
        raise TrainingConfigError(
            f"{tune.source}: study '{tune.settings.name}' in {storage_label(tune)} was made by a "
            "different search (space, cv, metric or training config differ); give this search a "
            "new name, or run it with its original config"
        )
    if study.direction.name.lower() != tune.settings.direction:
        raise TrainingConfigError(
            f"{tune.source}: study '{tune.settings.name}' was made to "
            f"{study.direction.name.lower()}, metric {tune.settings.metric} needs "
            f"{tune.settings.direction}"
        )


def open_study(tune: TuneConfig, worker: int = 0) -> StudyHandle:
    """Creates the study, or loads it and checks that it is the same search."""
    storage = open_storage(tune)
    study, created = _create_or_load(tune, storage, worker)
    if not created:
        _check_same_search(study, tune)
    return StudyHandle(study, storage, storage.get_study_id_from_name(tune.settings.name), created)
