"""Stores written before activities had types open as they were, every activity a "score".

`data/store-before-types/` was written by the previous version (commit 5b40576): a snapshot
(version 6) whose activities.parquet has no type column, then a log holding an `acts` record
of five fields and an import whose segment has no type column either. Its four activities:
id 1 (user 1, product 1, 2.0, t=10 s) and 2 (user 2, product 2, 3.0, t=20 s, imported) in
the snapshot, 3 (user 2, product 1, 5.0, t=30 s) in the log, 4 (user 1, product 2, 4.0,
t=40 s) in the segment.
"""

import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from discerner.store import Store

OLD = Path(__file__).with_name("data") / "store-before-types"


@pytest.fixture
def old(tmp_path):
    """A copy of the old store (opening it for writing changes its files)."""
    return Path(shutil.copytree(OLD, tmp_path / "store"))


def test_an_old_store_reads_every_activity_as_score(old):
    with Store.open(old, readonly=True) as reader:
        assert [(a["id"], a["type"]) for a in reader.list_activities()] == [
            (1, "score"),
            (2, "score"),
            (3, "score"),
            (4, "score"),
        ]
        assert reader.interactions()["type"].tolist() == ["score"] * 4
        assert reader.user_activity(2)[2].tolist() == ["score", "score"]
    assert "type" not in pq.read_schema(old / "snapshots" / f"{6:020d}" / "activities.parquet")


def test_an_old_store_takes_typed_writes_and_compacts_to_the_new_layout(old):
    with Store.open(old, compact_interval=0) as store:
        assert [a["id"] for a in store.list_activities(type="score")] == [1, 2, 3, 4]
        assert store.add_activity(1, 1, 1.0, type="view")["id"] == 5
        before = store.data_version()
        version = store.compact()
        assert version["hash"] == before["hash"]
    with Store.open(old, readonly=True) as reader:
        assert [a["type"] for a in reader.list_activities()] == ["score"] * 4 + ["view"]
        assert reader.list_activities(type="view")[0]["id"] == 5
        assert reader.data_version()["hash"] == before["hash"]
    snapshot = old / "snapshots" / f"{version['version']:020d}" / "activities.parquet"
    assert pq.read_table(snapshot).column("type").to_pylist() == ["score"] * 4 + ["view"]
