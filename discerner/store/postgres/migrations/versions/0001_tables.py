"""The first schema: users, products, activities, accounts, login failures, write counters.

Revision ID: 0001
Revises:
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Activities hold no foreign keys: a per-row foreign-key check would dominate a 20M-row COPY.
# The store keeps references valid itself: a write locks the users and products it names
# (FOR KEY SHARE or an UPDATE), a delete removes the entity first, then its activities.
TABLES = """
CREATE TABLE users (
    id bigint PRIMARY KEY,
    created_at timestamptz NOT NULL,
    external_id text UNIQUE,
    attributes jsonb,
    history_version bigint NOT NULL DEFAULT 0
);
CREATE TABLE products (
    id bigint PRIMARY KEY,
    created_at timestamptz NOT NULL,
    external_id text UNIQUE,
    attributes jsonb
);
CREATE TABLE activities (
    id bigint PRIMARY KEY,
    user_id bigint NOT NULL,
    product_id bigint NOT NULL,
    score double precision NOT NULL,
    timestamp timestamptz NOT NULL
);
CREATE INDEX activities_user_id ON activities (user_id, id);
CREATE INDEX activities_product_id ON activities (product_id, id);
CREATE SEQUENCE users_ids;
CREATE SEQUENCE products_ids;
CREATE SEQUENCE activities_ids;
CREATE SEQUENCE history_versions;
CREATE TABLE accounts (
    username text PRIMARY KEY,
    password_hash text NOT NULL,
    created_at timestamptz NOT NULL,
    token_version bigint NOT NULL DEFAULT 0,
    account_id text NOT NULL UNIQUE
);
CREATE TABLE login_failures (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key text NOT NULL,
    at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_key_at ON login_failures (key, at);
CREATE TABLE write_counts (
    shard smallint PRIMARY KEY,
    writes bigint NOT NULL DEFAULT 0,
    product_writes bigint NOT NULL DEFAULT 0,
    cascades bigint NOT NULL DEFAULT 0
);
INSERT INTO write_counts (shard) SELECT generate_series(0, 15);
"""

# Ids: a block of n consecutive values of a sequence. Sequences are not transactional, so
# nextval + setval would race with another session's nextval; a session advisory lock (held
# for microseconds, not until commit) makes the pair atomic without serialising commits.
FUNCTIONS = """
CREATE FUNCTION discerner_take_ids(seq regclass, n bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    first bigint;
BEGIN
    PERFORM pg_advisory_lock(1684628325, seq::oid::int);
    BEGIN
        first := nextval(seq);
        IF n > 1 THEN
            PERFORM setval(seq, first + n - 1);
        END IF;
    EXCEPTION WHEN OTHERS THEN
        PERFORM pg_advisory_unlock(1684628325, seq::oid::int);
        RAISE;
    END;
    PERFORM pg_advisory_unlock(1684628325, seq::oid::int);
    RETURN first;
END $$;

CREATE FUNCTION discerner_raise_ids(seq regclass, at_least bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_lock(1684628325, seq::oid::int);
    BEGIN
        IF at_least > coalesce(pg_sequence_last_value(seq), 0) THEN
            PERFORM setval(seq, at_least);
        END IF;
    EXCEPTION WHEN OTHERS THEN
        PERFORM pg_advisory_unlock(1684628325, seq::oid::int);
        RAISE;
    END;
    PERFORM pg_advisory_unlock(1684628325, seq::oid::int);
END $$;
"""


def upgrade() -> None:
    op.execute(TABLES)
    op.execute(FUNCTIONS)


def downgrade() -> None:
    op.execute(
        "DROP FUNCTION discerner_raise_ids; DROP FUNCTION discerner_take_ids;"
        " DROP TABLE write_counts, login_failures, accounts, activities, products, users;"
        " DROP SEQUENCE users_ids, products_ids, activities_ids, history_versions;"
    )
