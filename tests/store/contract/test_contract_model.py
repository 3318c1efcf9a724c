"""The contract as a whole: random writes, deletes, compactions and reopens agree with a model."""

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

OPS = st.lists(
    st.one_of(
        st.tuples(st.just("user")),
        st.tuples(st.just("product")),
        st.tuples(st.just("activity"), st.integers(1, 6), st.integers(1, 6), st.integers(0, 9)),
        st.tuples(st.just("del_user"), st.integers(1, 6)),
        st.tuples(st.just("del_product"), st.integers(1, 6)),
        st.tuples(st.just("compact")),
        st.tuples(st.just("reopen")),
    ),
    max_size=40,
)


class Model:
    """What the store should hold: live ids and activities as (id, user, product, score)."""

    def __init__(self):
        self.users, self.products, self.activities = set(), set(), []
        self.next = {"user": 1, "product": 1, "activity": 1}

    def apply(self, op) -> bool:
        """Apply a write; False when the store must refuse it."""
        kind = op[0]
        if kind in ("user", "product"):
            (self.users if kind == "user" else self.products).add(self.next[kind])
            self.next[kind] += 1
        elif kind == "activity":
            _, user, product, score = op
            if user not in self.users or product not in self.products:
                return False
            self.activities.append((self.next["activity"], user, product, float(score)))
            self.next["activity"] += 1
        elif kind == "del_user":
            self.users.discard(op[1])
            self.activities = [a for a in self.activities if a[1] != op[1]]
        elif kind == "del_product":
            self.products.discard(op[1])
            self.activities = [a for a in self.activities if a[2] != op[1]]
        return True


def _state(store):
    activities = [
        (a["id"], a["user_id"], a["product_id"], a["score"])
        for a in store.list_activities(limit=10**6)
    ]
    users = {u["id"] for u in store.list_users()}
    return users, {p["id"] for p in store.list_products()}, activities


def _run(store, op):
    kind = op[0]
    if kind == "user":
        store.create_user()
    elif kind == "product":
        store.create_product()
    elif kind == "activity":
        store.add_activity(op[1], op[2], op[3])
    elif kind == "del_user":
        store.delete_user(op[1])
    elif kind == "del_product":
        store.delete_product(op[1])


def _histories(store) -> dict[int, tuple]:
    """Each user id's (history, history_version); the ids ops can name are 1-6."""
    found = {}
    for user in range(1, 7):
        version = store.history_version(user)
        products, scores = store.user_history(user)
        found[user] = ((tuple(products.tolist()), tuple(scores.tolist())), version)
    return found


def _check_versions(before: dict, after: dict) -> None:
    """A user whose history changed has a new history_version."""
    for user, (history, version) in after.items():
        if history != before[user][0]:
            assert version != before[user][1], f"user {user}: history changed, version did not"


# Each example opens its own data set (`backend.elsewhere`), so sharing the fixture is safe.
SHARED_FIXTURE = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
_examples = itertools.count()


@settings(max_examples=30, deadline=None, suppress_health_check=SHARED_FIXTURE)
@given(ops=OPS)
def test_store_agrees_with_the_model(backend, ops):
    data = backend.elsewhere(f"model-{next(_examples)}")
    store, model = data.open(), Model()
    histories = _histories(store)
    try:
        for op in ops:
            if op[0] == "compact":
                data.compact(store)
            elif op[0] == "reopen":
                store = data.reopen(store)
                histories = _histories(store)  # versions belong to one open store
            elif model.apply(op):
                _run(store, op)
            else:
                try:
                    _run(store, op)
                except KeyError:  # UnknownUserError / UnknownProductError
                    pass
                else:
                    raise AssertionError(f"{op} should have been refused")
            now = _histories(store)
            _check_versions(histories, now)
            histories = now
        assert _state(store) == (model.users, model.products, model.activities)
    finally:
        store.close()
    with data.reader() as reader:
        assert _state(reader) == (model.users, model.products, model.activities)
