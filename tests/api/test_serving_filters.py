"""What a request may recommend (`serving.runtime.filters`), and the holder's ranking when many
ranked products are gone, hand-checked on an embedded store without HTTP."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from discerner.models import ItemKNN
from discerner.store import Store
from serving.runtime.filters import UNRESTRICTED, Catalogue, Filters
from serving.runtime.model_holder import SPARE, ModelHolder, Served

NOW = 1_900_000_000.0  # 2030-03-17T17:46:40Z
# Products 1-6: labels, category, hidden, expiry (Unix seconds).
PRODUCTS = [
    {"labels": ["a", "b"], "category": "c"},
    {"labels": ["b"]},
    {"labels": ["a"], "hidden": True},
    {"expires_at": NOW},  # expires exactly now: gone
    {"expires_at": NOW + 1, "labels": ["a"], "category": "c"},
    {},
]


@pytest.fixture
def store(tmp_path):
    with Store.open(tmp_path / "store", compact_interval=0) as store:
        for attributes in PRODUCTS:
            store.create_product(attributes=attributes)
        yield store


def _admitted(eligible):
    return [p for p in range(1, 7) if eligible.admits(p)]


def test_the_shops_rules_apply_to_every_request(store):
    eligible = Catalogue(store).eligibility(now=NOW)
    assert _admitted(eligible) == [1, 2, 5, 6]  # p3 hidden, p4 expired at NOW
    assert sorted(eligible.banned.tolist()) == [3, 4] and eligible.allowed is None
    assert _admitted(Catalogue(store).eligibility(now=NOW - 1)) == [1, 2, 4, 5, 6]


@pytest.mark.parametrize(
    ("filters", "allowed", "admitted"),
    [
        # labels: a {1, 3, 5}, b {1, 2}; category c {1, 5}; 3 hidden, 4 expired throughout.
        (Filters(labels_any=("a", "b")), [1, 2, 3, 5], [1, 2, 5]),
        (Filters(labels_all=("a", "b")), [1], [1]),
        (Filters(labels_exclude=("b",)), None, [5, 6]),
        (Filters(category="c", labels_any=("b",)), [1], [1]),
        (Filters(category="c", labels_all=("a",), exclude=(1,)), [1, 5], [5]),
        (Filters(labels_any=("z",)), [], []),
    ],
)
def test_label_filters_combine_with_category_and_exclude(store, filters, allowed, admitted):
    eligible = Catalogue(store).eligibility(filters, now=NOW)
    assert (None if eligible.allowed is None else eligible.allowed.tolist()) == allowed
    assert _admitted(eligible) == admitted


def test_a_plain_request_without_rules_builds_nothing(tmp_path):
    with Store.open(tmp_path / "plain", compact_interval=0) as store:
        store.create_product(attributes={"labels": ["a"]})  # labels alone restrict nothing
        assert Catalogue(store).eligibility() is UNRESTRICTED
        assert UNRESTRICTED.unrestricted and UNRESTRICTED.admits(1)


def test_a_changed_rule_is_seen_at_the_next_request(store):
    catalogue = Catalogue(store)
    assert _admitted(catalogue.eligibility(Filters(labels_any=("b",)), now=NOW)) == [1, 2]
    store.update_product(6, {"labels": ["b"]})
    store.update_product(3, {"hidden": None})
    assert _admitted(catalogue.eligibility(Filters(labels_any=("b",)), now=NOW)) == [1, 2, 6]
    assert _admitted(catalogue.eligibility(now=NOW)) == [1, 2, 3, 5, 6]


def test_pages_go_on_in_the_models_order_past_more_deleted_products_than_spare(tmp_path):
    # 60 products; users 1..59 each own p_i and p60, so cosine W(60, i) = 1 / sqrt(59) for
    # every i: user 60 with p60 sees p1..p59 tied, in id order. Deleting the first SPARE + 5
    # must not let popularity (or a skip) in: the model's next products come, still in order.
    with Store.open(tmp_path / "store", compact_interval=0) as store:
        for _ in range(60):
            store.create_user()
            store.create_product()
        rows = [(u, p) for u in range(1, 60) for p in (u, 60)]
        frame = pd.DataFrame(rows, columns=["user_id", "product_id"]).assign(score=1.0)
        store.import_interactions(frame, progress=False)
        store.add_activity(60, 60)
        holder = ModelHolder(store, precompute_depth=0)
        holder.champion = Served(ItemKNN(k=100, shrink=0.0).fit(frame), "m/1")
        gone = range(1, SPARE + 6)
        for product in gone:
            store.delete_product(product)
        pages = [holder.recommend(60, 5, offset=o).picks for o in (0, 5, 10)]
        ids = [pick["product_id"] for page in pages for pick in page]
        assert ids == list(range(SPARE + 6, SPARE + 21))
        # Every one scored by the model (popularity would score a share of the activities).
        scores = [pick["score"] for page in pages for pick in page]
        np.testing.assert_allclose(scores, [1 / np.sqrt(59)] * 15, rtol=1e-6)
        holder.close()
