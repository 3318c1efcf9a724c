"""Password hashing (salted scrypt, self-describing, constant-time checks) and the accounts file."""

import base64
import hashlib

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from discerner.security import hash_password, needs_rehash, verify_password
from discerner.store import AccountBook


def test_hash_records_its_parameters_and_verifies_only_the_password():
    encoded = hash_password("correct horse")
    algorithm, params, _, _ = encoded.split("$")
    assert (algorithm, params) == ("scrypt", "n=16384,r=8,p=1")
    assert verify_password("correct horse", encoded)
    assert not verify_password("correct horsE", encoded)
    assert not needs_rehash(encoded)


def test_each_hash_has_its_own_salt():
    assert hash_password("same") != hash_password("same")


def test_hash_is_scrypt_of_the_password_with_the_recorded_salt():

    encoded = hash_password("pw", n=1024, r=4, p=1)
    _, _, salt, key = encoded.split("$")
    expected = hashlib.scrypt(b"pw", salt=base64.b64decode(salt), n=1024, r=4, p=1, dklen=32)
    assert base64.b64decode(key) == expected
    assert verify_password("pw", encoded) and needs_rehash(encoded)


@pytest.mark.parametrize(
    "encoded",
    ["", "plain", "md5$n=2,r=1,p=1$AA==$AA==", "scrypt$n=3,r=8,p=1$AA==$AA==", "scrypt$x$y$z"],
)
def test_malformed_hashes_never_verify(encoded):
    assert not verify_password("anything", encoded)
    assert needs_rehash(encoded)


def test_empty_password_is_refused():
    with pytest.raises(ValueError):
        hash_password("")
    assert not verify_password("", hash_password("x"))


def test_accounts_written_before_account_ids_read_with_an_empty_one(tmp_path):
    created = pa.array([1_700_000_000_000_000], pa.int64()).cast(pa.timestamp("us", tz="UTC"))
    old = pa.table(
        {
            "username": ["alice"],
            "password_hash": ["scrypt$x"],
            "created_at": created,
            "token_version": pa.array([2], pa.int64()),
        }
    )
    pq.write_table(old, tmp_path / "accounts.parquet")
    book = AccountBook(tmp_path)
    assert book.get("alice") == {
        "username": "alice",
        "password_hash": "scrypt$x",
        "created_at": "2023-11-14T22:13:20.000000Z",
        "token_version": 2,
        "account_id": "",
    }
    book.create("bob", "scrypt$y")  # rewrites the file with the new column
    assert AccountBook(tmp_path).get("alice")["account_id"] == ""
