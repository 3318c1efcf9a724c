"""The notebooks: library-only code with one parameters cell, executed on small generated data."""

import ast
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from discerner import config, datasets, training
from discerner.errors import TrackingStoreMissingError
from discerner.models import Popularity, PureSVD

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
NAMES = ("01-explore-data", "02-compare-models", "03-tune")


def _read(name: str):
    return nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)


def _code(cell) -> str:
    """A code cell's Python, without IPython magics."""
    return "\n".join(line for line in cell.source.splitlines() if not line.startswith("%"))


def run_notebook(name: str, folder: Path, **parameters):
    """Execute a notebook with `parameters` injected after its parameters cell (papermill-style).

    Returns:
        The executed notebook; nbclient raises CellExecutionError on any failing cell.
    """
    book = _read(name)
    tagged = [i for i, c in enumerate(book.cells) if "parameters" in c.metadata.get("tags", [])]
    injected = nbformat.v4.new_code_cell("\n".join(f"{k} = {v!r}" for k, v in parameters.items()))
    injected.metadata["tags"] = ["injected-parameters"]
    book.cells.insert(tagged[0] + 1, injected)
    client = NotebookClient(
        book, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
    )
    client.execute()
    return book


def _images(book) -> int:
    outputs = (o for c in book.cells if c.cell_type == "code" for o in c.get("outputs", []))
    return sum("image/png" in o.get("data", {}) for o in outputs)


@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_library_calls_with_one_parameters_cell(name):
    book = _read(name)
    code = [c for c in book.cells if c.cell_type == "code"]
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    for cell in code:
        for node in ast.walk(ast.parse(_code(cell))):
            assert not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            assert not isinstance(node, ast.Lambda)
            if isinstance(node, ast.ImportFrom):
                assert node.module.split(".")[0] == "discerner", node.module
            if isinstance(node, ast.Import):
                assert all(a.name.split(".")[0] == "discerner" for a in node.names)
    assert all(not c.get("outputs") for c in code), "notebooks are committed without outputs"


@pytest.fixture(scope="module")
def data_file(tmp_path_factory, generated):
    path = tmp_path_factory.mktemp("notebook-data") / "activities.csv"
    datasets.write_csv(generated.activities, path)
    return path


def test_explore_notebook_runs_on_a_file(data_file, tmp_path, home):
    book = run_notebook("01-explore-data", tmp_path, data_path=str(data_file))
    assert _images(book) == 4  # long tail, history lengths, activity over time, scores


def test_compare_notebook_reads_the_runs_and_shows_a_user(
    trained, trained_twice, data_file, tmp_path
):
    home = trained_twice[0]
    book = run_notebook(
        "02-compare-models", tmp_path, home=str(home), data_path=str(data_file), user_id=3, n=5
    )
    assert _images(book) == 2
    last = book.cells[-1].outputs[0]["data"]["text/plain"]
    assert "rank" in last and len(last.splitlines()) == 6  # a header and five rows


def test_tune_notebook_logs_a_search_and_registers_nothing(home, data_file, tmp_path):
    from discerner import tracking
    from discerner.tracking import registry

    run_notebook(
        "03-tune",
        tmp_path,
        home=str(home),
        data_path=str(data_file),
        n_components=[4, 8],
        popularity_exponent=[0.0],
    )
    tracking.setup(home)
    runs = tracking.runs_frame("discerner-tuning")
    assert sorted(runs["tags.mlflow.runName"]) == sorted(
        [
            "tune",
            "popularity",
            "pure_svd(n_components=4, popularity_exponent=0.0)",
            "pure_svd(n_components=8, popularity_exponent=0.0)",
        ]
    )
    assert registry.versions_frame().empty


@pytest.fixture
def project(tmp_path, trained_twice, generated, monkeypatch):
    """A project folder as `make serve` leaves it: `discerner-data` (store and trained
    registry) beside `notebooks/`; DISCERNER_HOME unset, as for someone who opened
    `jupyter lab notebooks/` from the project folder."""
    from discerner.store import Store

    folder = tmp_path / "project"
    shutil.copytree(trained_twice[0], folder / "discerner-data")
    with Store.open(config.store_dir(folder / "discerner-data")) as store:
        store.import_interactions(generated.activities, progress=False)
    (folder / "notebooks").mkdir()
    monkeypatch.delenv("DISCERNER_HOME", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return folder


def _text(book) -> str:
    outputs = [o for c in book.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    return "\n".join(str(o.get("text", "")) + str(o.get("data", {})) for o in outputs)


@pytest.mark.parametrize("name", NAMES)
def test_notebooks_opened_from_the_notebooks_folder_find_the_projects_data(project, name):
    small = {"03-tune": {"n_components": [4], "popularity_exponent": [0.0]}}.get(name, {})
    book = run_notebook(name, project / "notebooks", **small)
    assert sorted(p.name for p in (project / "notebooks").iterdir()) == []  # no data, no db
    assert "IProgress not found" not in _text(book)
    assert _images(book) >= 2


def test_reading_a_data_folder_without_a_tracking_database_is_an_error_not_a_new_one(
    tmp_path, monkeypatch
):
    from discerner import tracking

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    (tmp_path / "discerner-data").mkdir()
    with pytest.raises(TrackingStoreMissingError, match="nothing was trained"):
        tracking.setup(tmp_path / "discerner-data", create=False)
    assert list((tmp_path / "discerner-data").iterdir()) == []


def test_home_is_the_nearest_discerner_data_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("DISCERNER_HOME", raising=False)
    (tmp_path / "discerner-data").mkdir()
    (tmp_path / "notebooks" / "deeper").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "notebooks" / "deeper")
    assert config.home() == tmp_path / "discerner-data"
    monkeypatch.setenv("DISCERNER_HOME", str(tmp_path / "elsewhere"))
    assert config.home() == tmp_path / "elsewhere"


@pytest.mark.slow
@pytest.mark.movielens
def test_notebooks_run_on_movielens(movielens_dir, home, tmp_path):
    ratings = datasets.read_interactions(movielens_dir / "u.data", format="movielens")
    small = {"popularity": Popularity(), "svd32": PureSVD(n_components=32)}
    training.train(training.TrainSettings(candidates=small), ratings)
    data = {"data_path": str(movielens_dir / "u.data"), "data_format": "movielens"}
    run_notebook("01-explore-data", tmp_path, **data)
    book = run_notebook(
        "02-compare-models",
        tmp_path,
        home=str(home),
        products_path=str(movielens_dir / "u.item"),
        **data,
    )
    assert "title" in book.cells[-1].outputs[0]["data"]["text/plain"]
    run_notebook(
        "03-tune", tmp_path, home=str(home), n_components=[32], popularity_exponent=[0.0], **data
    )
