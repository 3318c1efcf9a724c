"""Where Discerner keeps its state: one data folder, `DISCERNER_HOME`, read from the environment."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_HOME = "discerner-data"
# The names training, the registry and the server agree on (each overridable where it is used).
MODEL_NAME = "discerner"  # the registered model
CHAMPION_ALIAS = "champion"  # the alias of the version that serves
EXPERIMENT = "discerner"  # the MLflow experiment of training runs


def home(path: str | os.PathLike[str] | None = None) -> Path:
    """Return the data folder: `path`, else `$DISCERNER_HOME`, else the nearest `discerner-data`.

    Without either, an existing `discerner-data` folder in the current folder or one of its
    parents is the data folder, so a notebook whose kernel runs in `notebooks/` finds the
    project's data; when there is none, `./discerner-data`.

    Args:
        path: An explicit folder that wins over the environment.

    Returns:
        The absolute path of the folder (not created).
    """
    chosen = path if path is not None else os.environ.get("DISCERNER_HOME")
    if chosen:
        return Path(chosen).expanduser().resolve()
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / DEFAULT_HOME).is_dir():
            return folder / DEFAULT_HOME
    return here / DEFAULT_HOME


def ensure_home(path: str | os.PathLike[str] | None = None) -> Path:
    """Return the data folder like `home`, creating it (owner-only) when missing.

    Each folder it creates is made durable (its parent is fsynced), so a crash right after
    cannot lose the folder that the store and the signing secret are then written into.
    """
    # Imported here: the store package loads pyarrow, and `discerner --help` should stay fast.
    from discerner.store.files import fsync_dir

    folder = home(path)
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    for created in reversed(missing):  # outermost first, as mkdir made them
        fsync_dir(created.parent)
    return folder


def store_dir(root: Path) -> Path:
    """The store's folder inside the data folder."""
    return root / "store"


def store_url(root: Path) -> str | Path:
    """Where the store is: `$DISCERNER_STORE` (a `postgresql://` URL), else `store_dir(root)`.

    `discerner.store.open_store` opens either.
    """
    return os.environ.get("DISCERNER_STORE") or store_dir(root)


def tracking_uri(root: Path) -> str:
    """`$MLFLOW_TRACKING_URI`, else a SQLite database inside the data folder."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{root / 'mlflow.db'}"


def tracking_database_missing(uri: str) -> bool:
    """Whether `uri` is a SQLite tracking database that does not exist yet.

    Asking MLflow anything about such a URI would create the database (with the `Default`
    experiment's artifacts in `./mlruns`), so readers check first.
    """
    return uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists()


def artifact_root(root: Path) -> Path:
    """Where MLflow keeps artifacts (models, plots) for experiments Discerner creates."""
    return root / "mlartifacts"
