"""The notebook helpers: summaries, the typical user, one user's report, product files."""

import numpy as np
import pandas as pd
import pytest

from discerner.models import Popularity
from discerner.training import explore

FRAME = pd.DataFrame(
    {
        "user_id": [1, 1, 1, 2, 2, 3],
        "product_id": [10, 20, 30, 10, 20, 10],
        "score": [5.0, 4.0, 3.0, 5.0, 1.0, 2.0],
        "timestamp": pd.to_datetime([1, 2, 3, 4, 5, 6], unit="D", utc=True),
    }
)
PRODUCTS = pd.DataFrame({"id": [10, 20, 30], "title": ["Ten", "Twenty", "Thirty"]})


def test_describe_counts_and_density():
    summary = explore.describe(FRAME)
    assert summary["activities"] == 6
    assert (summary["users"], summary["products"]) == (3, 3)
    assert summary["density"] == pytest.approx(6 / 9)
    assert summary["median activities per user"] == 2.0
    assert summary["first activity"] == pd.Timestamp("1970-01-02", tz="UTC")


def test_typical_user_has_the_median_history():
    assert explore.typical_user(FRAME) == 2  # 3, 2 and 1 activities: the median is 2


def test_user_report_shows_history_newest_first_and_unseen_recommendations():
    model = Popularity().fit(FRAME)
    history, recs = explore.user_report(model, FRAME, 2, PRODUCTS, n=5)
    assert history["product_id"].tolist() == [20, 10]
    assert history["title"].tolist() == ["Twenty", "Ten"]
    assert recs.to_dict("list") == {
        "rank": [1],
        "product_id": [30],
        "score": [float(np.float32(1 / 3))],  # the share of the 3 users who have it
        "title": ["Thirty"],
    }


def test_user_report_without_products_has_no_titles():
    _, recs = explore.user_report(Popularity().fit(FRAME), FRAME, 3, None, n=1)
    assert list(recs.columns) == ["rank", "product_id", "score"]
    assert recs["product_id"].tolist() == [20]


def test_load_products_reads_movielens_items(tmp_path):
    path = tmp_path / "u.item"
    path.write_bytes(
        "1|Toy Story (1995)|01-Jan-1995||http://x|0|1\n2|Café (1996)|x||y|1|0\n".encode("latin-1")
    )
    products = explore.load_products(path=path)
    assert products.to_dict("list") == {"id": [1, 2], "title": ["Toy Story (1995)", "Café (1996)"]}


def test_load_products_without_a_store_is_empty(tmp_path):
    assert explore.load_products(home=tmp_path / "nothing").empty


def test_load_interactions_from_a_file_has_a_version(tmp_path):
    from discerner import datasets

    path = tmp_path / "a.csv"
    datasets.write_csv(FRAME, path)
    frame, version = explore.load_interactions(path=path)
    assert len(frame) == 6
    assert version["activities"] == 6 and version["source"] == str(path)
