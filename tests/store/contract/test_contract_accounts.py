"""The contract for API accounts: ids never reused, password changes, deletes, restarts."""


def test_a_recreated_account_gets_a_new_account_id(backend, store):
    first = store.create_account("alice", "scrypt$first")
    assert len(bytes.fromhex(first["account_id"])) == 16
    assert store.get_account("alice")["account_id"] == first["account_id"]
    assert store.set_password("alice", "scrypt$second")
    assert (
        store.get_account("alice")["account_id"] == first["account_id"]
    )  # same account, new version
    assert store.delete_account("alice")
    again = store.create_account("alice", "scrypt$first")
    # Tokens name the account_id, so the old account's tokens cannot match the new account.
    assert again["account_id"] != first["account_id"]
    with backend.reopen(store) as reopened:
        assert reopened.get_account("alice") == again
