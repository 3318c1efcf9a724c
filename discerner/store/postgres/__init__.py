"""The PostgreSQL store: the store's contract on one database that many processes share.

Open it with `PostgresStore.open("postgresql://…")`, or `discerner.store.open_store(url)`
(which `DISCERNER_STORE` feeds). A writer creates and upgrades the tables with Alembic
(`migrations/`, one advisory lock so that simultaneous starts take turns).

How writes become durable
    Each write is one transaction on a pooled connection with `synchronous_commit=on`: it
    returns after COMMIT, once PostgreSQL has flushed its WAL, and one that raised left
    nothing behind. A failure of the database or the connection raises `StoreError`.

Tables
    users, products      id bigint, created_at timestamptz, external_id text UNIQUE,
                         attributes jsonb (a product's labels, hidden and expires_at too);
                         users also history_version bigint
    activities           id bigint, user_id, product_id bigint (each indexed with id),
                         score double precision, timestamp timestamptz (indexed;
                         migration 0005), type text (default 'score', indexed with id;
                         migration 0003)
    accounts             username, password_hash, created_at, token_version, account_id
    login_failures       key, at, settled (the login throttle across processes and hosts)
    write_counts         16 rows of counters (writes, product_writes, cascades)
    server_secrets       the token signing secret every server on the database uses
    top_lists            precomputed top products per (model version, user) with the user's
                         history version; top_list_builds names the complete builds

What servers share (shared.py)
    The signing secret (created by the first server that needs one), failed logins (a row
    per failure; a login holds its place while its password is checked) and each champion's
    top lists (computed by one process under an advisory lock, read by every other): so
    `discerner serve --workers N` and servers on many hosts act as one service.

Ids
    Sequences `users_ids`, `products_ids` and `activities_ids` hand out ids, never reused;
    `discerner_take_ids(seq, n)` takes a block of n consecutive ids under a short session
    advisory lock, so a batch's ids are consecutive and an import can raise a sequence past
    the ids it brings (`discerner_raise_ids`). A write checks its references before it takes
    ids, so a refused write leaves no gap. Activities hold no foreign keys (a per-row check
    would dominate a bulk COPY); writes lock the rows they reference (an activity's user row
    by the history-version update, its product FOR KEY SHARE) and a delete removes the entity
    and then its activities, so no activity outlives its user or product.

Versions
    Every write adds one to the `write_counts` row of its connection's backend (pid % 16):
    the sum is the number of writes committed, the data version, without making all
    writers queue for one row until their commit. A later snapshot sees a superset of the
    commits an earlier one saw, so equal sums mean equal data. `history_version(user)` is
    the user's own version (a fresh `history_versions` value per write, on their row) plus
    the count of writes that may reach every history (product and user deletes, imports);
    both only grow, so the sum changes with every change and never repeats. Every write to
    products (a create, a PATCH, a delete) counts in `product_writes` too, so each process
    keeps its `product_categories` and `product_rules` until that sum moves: one small query
    per request sees a change made through any process.

Whole-table reads
    `interactions`, `data_version` and `export` read one REPEATABLE READ snapshot, shared
    with worker connections (`pg_export_snapshot`), in ranges of ids (see `bulk`).
"""

from discerner.store.postgres.store import PostgresStore

SCHEMES = ("postgresql://", "postgres://")


def is_url(location: object) -> bool:
    """Whether `location` names a PostgreSQL store (a postgresql:// or postgres:// URL)."""
    return isinstance(location, str) and location.startswith(SCHEMES)


__all__ = ["SCHEMES", "PostgresStore", "is_url"]
