"""Attacks on authentication: forged algorithms and claims, revocation, throttling, leaks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import stat
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from live import PASSWORD, USERNAME

from discerner.security import hash_password
from serving import create_app
from serving.api.auth import SECRET_FILE
from serving.runtime.throttle import LoginThrottle, address_key


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(token: str) -> dict:
    return pyjwt.decode(token, options={"verify_signature": False})


def _unsigned(claims: dict, alg: str) -> str:
    header = _b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    return f"{header}.{_b64(json.dumps(claims).encode())}."


def _hmac(claims: dict, secret: str, alg: str) -> str:
    """A token signed with the right secret under another HMAC algorithm (PyJWT warns on it)."""
    header = _b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    body = f"{header}.{_b64(json.dumps(claims).encode())}"
    digest = {"HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    return f"{body}.{_b64(hmac.new(secret.encode(), body.encode(), digest).digest())}"


def _rs256(claims: dict) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return pyjwt.encode(claims, key, algorithm="RS256")


FORGERIES = {
    "alg-none": lambda claims, secret: _unsigned(claims, "none"),
    "alg-None": lambda claims, secret: _unsigned(claims, "None"),
    "hs512-right-secret": lambda claims, secret: _hmac(claims, secret, "HS512"),
    "hs384-right-secret": lambda claims, secret: _hmac(claims, secret, "HS384"),
    "rs256": lambda claims, secret: _rs256(claims),
    "wrong-secret": lambda claims, secret: pyjwt.encode(claims, "x" * 40, algorithm="HS256"),
    "expired": lambda claims, secret: pyjwt.encode(
        claims | {"exp": int(time.time()) - 1}, secret, algorithm="HS256"
    ),
    "no-expiry": lambda claims, secret: pyjwt.encode(
        {k: v for k, v in claims.items() if k != "exp"}, secret, algorithm="HS256"
    ),
}


@pytest.mark.parametrize("forge", FORGERIES.values(), ids=FORGERIES.keys())
def test_a_forged_token_is_refused(client, token, secret, forge):
    forged = forge(_claims(token), secret)
    response = client.get("/users", headers={"Authorization": f"Token {forged}"})
    assert response.status_code == 401
    assert response.get_json()["error"]["status"] == 401


def test_the_genuine_token_is_accepted_so_the_forgeries_test_something(client, token, secret):
    resigned = pyjwt.encode(_claims(token), secret, algorithm="HS256")
    assert client.get("/users", headers={"Authorization": f"Token {resigned}"}).status_code == 200


@pytest.mark.parametrize(("claim", "value"), [("sub", "root"), ("ver", 7), ("exp", 2**40)])
def test_a_tampered_payload_breaks_the_signature(client, token, claim, value):
    header, _, signature = token.split(".")
    payload = _b64(json.dumps(_claims(token) | {claim: value}).encode())
    response = client.get(
        "/users", headers={"Authorization": f"Token {header}.{payload}.{signature}"}
    )
    assert response.status_code == 401
    assert response.get_json()["error"]["message"] == "invalid token"


def test_unknown_user_and_wrong_password_look_the_same(client, account):
    def login(username):
        started = time.perf_counter()
        response = client.post("/token", data={"username": username, "password": "not it"})
        return response, time.perf_counter() - started

    # Interleaved, so that a burst of load on the shared machine hits both kinds alike.
    runs = [login(username) for _ in range(4) for username in ("mallory", account[0])]
    unknown, wrong = runs[-2][0], runs[-1][0]
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.get_data() == wrong.get_data()
    assert {k: v for k, v in unknown.headers if k != "Date"} == {
        k: v for k, v in wrong.headers if k != "Date"
    }
    # Both run one scrypt check, so neither is much faster (loose: the machine is shared).
    ratio = statistics.median(s for _, s in runs[::2]) / statistics.median(s for _, s in runs[1::2])
    assert 0.3 < ratio < 3.0


@pytest.mark.parametrize("secret", ["short", "x" * 31])
def test_a_configured_secret_under_256_bits_is_refused(tmp_path, secret):
    with pytest.raises(ValueError, match="at least 32"):
        create_app({"DISCERNER_HOME": str(tmp_path / "home"), "DISCERNER_SECRET_KEY": secret})


def test_a_stored_secret_under_256_bits_is_refused_without_printing_it(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / SECRET_FILE).write_text("0123456789abcdef")
    with pytest.raises(ValueError) as refused:
        create_app({"DISCERNER_HOME": str(home)})
    assert str(home / SECRET_FILE) in str(refused.value)
    assert "0123456789abcdef" not in str(refused.value)


def test_the_generated_secret_has_256_random_bits_and_is_owner_only(tmp_path):
    home = tmp_path / "home"
    app = create_app({"DISCERNER_HOME": str(home)})
    app.extensions["discerner"].close()
    path = home / SECRET_FILE
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert len(bytes.fromhex(path.read_text().strip())) == 32


def _fail_login_from(client, address):
    headers = {"X-Forwarded-For": address}
    return client.post("/token", data={"username": "x", "password": "y"}, headers=headers)


@pytest.mark.parametrize("settings", [{"DISCERNER_LOGIN_FAILURES_PER_ADDRESS": 2}])
def test_without_trusted_proxies_x_forwarded_for_cannot_dodge_the_address_limit(client):
    assert [_fail_login_from(client, f"10.0.0.{i}").status_code for i in range(3)] == [
        401,
        401,
        429,
    ]


@pytest.mark.parametrize(
    "settings",
    [{"DISCERNER_LOGIN_FAILURES_PER_ADDRESS": 2, "DISCERNER_TRUSTED_PROXIES": 1}],
)
def test_behind_a_trusted_proxy_each_client_address_has_its_own_limit(client):
    first = [_fail_login_from(client, "10.0.0.1").status_code for _ in range(3)]
    assert first == [401, 401, 429]
    assert _fail_login_from(client, "10.0.0.2").status_code == 401


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("192.0.2.7", "addr:192.0.2.7"),
        ("2001:db8::1", "addr:2001:db8::/64"),
        ("2001:db8::ffff:1", "addr:2001:db8::/64"),
        ("2001:db8:0:1::1", "addr:2001:db8:0:1::/64"),
        ("::ffff:192.0.2.7", "addr:192.0.2.7"),
        ("not an address", "addr:not an address"),
    ],
)
def test_ipv6_clients_are_limited_by_their_64_network(address, key):
    assert address_key(address) == key


@pytest.mark.parametrize(
    "settings",
    [{"DISCERNER_LOGIN_FAILURES_PER_ADDRESS": 2, "DISCERNER_TRUSTED_PROXIES": 1}],
)
def test_hopping_addresses_inside_one_ipv6_network_does_not_reset_the_limit(client):
    statuses = [_fail_login_from(client, f"2001:db8::{i}").status_code for i in range(1, 4)]
    assert statuses == [401, 401, 429]
    assert _fail_login_from(client, "2001:db8:0:1::1").status_code == 401


def test_a_deleted_and_recreated_account_does_not_revive_old_tokens(client, token, store):
    headers = {"Authorization": f"Token {token}"}
    assert client.get("/users", headers=headers).status_code == 200  # verified and cached
    store.delete_account(USERNAME)
    store.create_account(USERNAME, hash_password(PASSWORD))  # same name, same password
    response = client.get("/users", headers=headers)
    assert response.status_code == 401
    assert response.get_json()["error"]["message"] == "token has been revoked"
    fresh = client.post("/token", data={"username": USERNAME, "password": PASSWORD})
    assert fresh.status_code == 200
    headers = {"Authorization": f"Token {fresh.get_json()['token']}"}
    assert client.get("/users", headers=headers).status_code == 200


def _all_at_once(count, call):
    """Run `call()` on `count` threads released together; return the results."""
    barrier = threading.Barrier(count)

    def run(_):
        barrier.wait(10)
        return call()

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


class WrongPassword(Exception):
    pass


def _login_through(throttle, keys, right, seconds=0.02):
    """One login through `throttle`: "429", or the password check's outcome."""
    try:
        with throttle.attempt(keys) as wait:
            if wait is not None:
                return "429"
            time.sleep(seconds)  # the password check
            if not right:
                raise WrongPassword
    except WrongPassword:
        return "401"
    return "200"


def test_simultaneous_attempts_cannot_overrun_the_throttle():
    throttle = LoginThrottle({"user": 5, "addr": 100})
    keys = ["user:alice", "addr:10.0.0.1"]
    statuses = _all_at_once(16, lambda: _login_through(throttle, keys, right=False))
    assert sorted(statuses) == ["401"] * 5 + ["429"] * 11
    assert 55 <= throttle.retry_after(keys) <= 60


def test_simultaneous_right_passwords_all_get_in():
    throttle = LoginThrottle({"user": 5, "addr": 100})
    keys = ["user:alice", "addr:10.0.0.1"]
    statuses = _all_at_once(16, lambda: _login_through(throttle, keys, right=True))
    assert statuses == ["200"] * 16  # they wait for each other, never for the window
    assert throttle.retry_after(keys) is None


def test_a_wrong_attempt_in_progress_can_use_up_the_last_place():
    throttle = LoginThrottle({"user": 2})
    keys = ["user:alice"]
    throttle.failed(keys)
    with (
        ThreadPoolExecutor(1) as waiter,
        pytest.raises(WrongPassword),
        throttle.attempt(keys) as wait,  # the last place, held while the password is checked
    ):
        assert wait is None
        second = waiter.submit(_login_through, throttle, keys, right=True)
        time.sleep(0.05)
        assert not second.done()  # it waits for this attempt to settle ...
        raise WrongPassword
    assert second.result(5) == "429"  # ... which fails, so it is refused, not let in


@pytest.mark.parametrize("settings", [{"DISCERNER_LOGIN_FAILURES_PER_USER": 5}])
def test_simultaneous_wrong_passwords_get_only_the_limit_of_401s(app):
    def wrong_password():
        response = app.test_client().post("/token", data={"username": USERNAME, "password": "x"})
        return response.status_code

    statuses = _all_at_once(16, wrong_password)
    assert sorted(statuses) == [401] * 5 + [429] * 11


@pytest.mark.parametrize("settings", [{"DISCERNER_LOGIN_FAILURES_PER_USER": 5}])
def test_simultaneous_right_passwords_are_never_refused(app):
    def right_password():
        credentials = {"username": USERNAME, "password": PASSWORD}
        return app.test_client().post("/token", data=credentials).status_code

    assert _all_at_once(16, right_password) == [200] * 16
