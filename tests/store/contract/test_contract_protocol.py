"""Every backend has the contract's methods with the contract's signatures."""

import inspect

from discerner.store import StoreContract


def _members(protocol: type) -> list[str]:
    """The methods a protocol declares (its own, not `Protocol`'s machinery)."""
    return sorted(
        name
        for name, value in vars(protocol).items()
        if callable(value) and (not name.startswith("_") or name in ("__enter__", "__exit__"))
    )


def test_the_contract_names_what_the_server_training_and_cli_call():
    assert {"create_user", "list_activities", "history_version", "import_interactions"} <= set(
        _members(StoreContract)
    )
    assert "compact" not in _members(StoreContract)  # the embedded files' business


def test_a_store_satisfies_the_contract(store):
    assert isinstance(store, StoreContract)


def test_a_store_has_the_contracts_signatures(store):
    for name in _members(StoreContract):
        promised = inspect.signature(getattr(StoreContract, name)).parameters.values()
        found = inspect.signature(getattr(type(store), name)).parameters.values()
        assert [(p.name, p.kind, p.default) for p in found] == [
            (p.name, p.kind, p.default) for p in promised
        ], name
