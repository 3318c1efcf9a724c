"""Precomputed top lists: used only for the history they were computed from, hand-checked."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from discerner.models import Popularity
from discerner.store import Store
from serving.runtime.candidates import Candidates
from serving.runtime.filters import Filters
from serving.runtime.model_holder import ModelHolder, Served

# user -> products; popularity by distinct users: p1 = 3, p2 = 1, p3 = 1 (ties: lower id first)
HISTORIES = {1: (1, 2), 2: (1, 3), 3: (1,)}
THIRD = float(np.float32(1 / 3))  # the score of p2 and p3: the share of users who have it


@pytest.fixture
def shop(tmp_path):
    """Three users, four products (p4 unseen at training; p3 and p4 of category c), the
    activities of HISTORIES."""
    with Store.open(tmp_path / "store", compact_interval=0) as store:
        for _ in range(3):
            store.create_user()
        for category in (None, None, "c", "c"):
            store.create_product(attributes={"category": category} if category else None)
        for user, products in HISTORIES.items():
            for product in products:
                store.add_activity(user, product)
        yield store


@pytest.fixture
def model(shop):
    return Popularity().fit(shop.interactions())


def _lists(candidates, store, users=(1, 2, 3)):
    return {user: candidates.get(user, store.history_version(user)) for user in users}


def test_fill_computes_each_trained_users_list_without_their_history(shop, model):
    candidates = Candidates(model, depth=2)
    candidates.fill(shop)
    assert _lists(candidates, shop) == {
        1: ([3], [THIRD]),
        2: ([2], [THIRD]),
        3: ([2, 3], [THIRD, THIRD]),
    }
    assert (candidates.state["state"], candidates.state["users"]) == ("built", 3)


def test_a_list_is_only_given_for_the_history_it_was_computed_from(shop, model):
    candidates = Candidates(model, depth=2)
    candidates.fill(shop)
    old = shop.history_version(3)
    shop.add_activity(3, 2)
    assert candidates.get(3, shop.history_version(3)) is None  # user 3 changed
    assert candidates.get(3, old) == ([2, 3], [THIRD, THIRD])  # (a version no request holds now)
    assert _lists(candidates, shop, (1, 2)) == {1: ([3], [THIRD]), 2: ([2], [THIRD])}
    candidates.put(3, shop.history_version(3), ([3], [1.0]))
    assert candidates.get(3, shop.history_version(3)) == ([3], [1.0])


def test_a_user_whose_trained_products_are_all_gone_gets_an_empty_list(shop, model):
    shop.delete_product(1)
    shop.delete_product(3)  # user 2 has no activity left
    candidates = Candidates(model, depth=2)
    candidates.fill(shop)
    # User 1 still has p2; deleted products stay in lists (requests skip them).
    assert _lists(candidates, shop) == {1: ([1, 3], [1.0, THIRD]), 2: ([], []), 3: ([], [])}


class _Source:
    """A registry with one version of `model` (the holder's side of ChampionSource)."""

    def __init__(self, model):
        self.model = model

    def version(self):
        return SimpleNamespace(name="m", version=1)

    def load(self, version):
        return Served(self.model, "m/1")


@pytest.fixture
def holder(shop, model, wait_until):
    """The holder serving `model`, lists built; p4 now has an activity, by a user new since."""
    shop.create_user()
    shop.add_activity(4, 4)
    holder = ModelHolder(shop, _Source(model), poll_seconds=0, precompute_depth=2)
    holder.check()
    wait_until(lambda: holder.status()["precomputed"]["state"] == "built")
    yield holder
    holder.close()


def _ids(holder, user, n, exclude=(), category=None):
    page = holder.recommend(user, n, filters=Filters(tuple(exclude), category))
    return [pick["product_id"] for pick in page.picks], page.version


def test_the_holder_serves_precomputed_lists_and_scores_live_after_a_change(shop, holder):
    assert _ids(holder, 3, 2) == ([2, 3], "m/1")
    # Too short once p2 is excluded: scored live, topped up by live popularity (p4).
    assert _ids(holder, 3, 2, exclude=[2]) == ([3, 4], "m/1")
    shop.add_activity(3, 2)
    assert _ids(holder, 3, 1) == ([3], "m/1")  # never p2, the product just posted
    assert holder.candidates.get(3, shop.history_version(3)) == ([3], [THIRD])  # kept for next time
    shop.delete_product(3)
    assert _ids(holder, 3, 1) == ([4], "m/1")  # the model's only pick is gone: the top-up
    assert _ids(holder, 4, 1) == ([1], "popularity")  # the new user's p4 is unknown to it


def test_more_than_the_depth_or_a_category_scores_live(shop, holder):
    assert _ids(holder, 3, 3) == ([2, 3, 4], "m/1")
    assert _ids(holder, 3, 2, category="c") == ([3, 4], "m/1")
