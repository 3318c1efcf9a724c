"""POST /token, the Authorization header, token expiry and revocation, login throttling."""

from __future__ import annotations

import base64
import json
import os
import stat
import time
from datetime import timedelta

import jwt as pyjwt
import pytest
from flask_jwt_extended import create_access_token

from discerner.security import hash_password
from serving import create_app
from serving.api.auth import load_secret_key
from serving.runtime.throttle import LoginThrottle
from serving.runtime.tokens import TokenCache, Verified


def _error(response):
    assert response.is_json
    return response.get_json()["error"]


def test_form_login_returns_a_token_that_is_not_cached(auth):
    response = auth.login()
    assert response.status_code == 200
    body = json.loads(response.text)
    assert set(body) == {"token", "expires_in"}
    assert body["expires_in"] == 3600
    assert response.headers["Cache-Control"] == "no-store"


def test_json_login_works_too(client, auth):
    credentials = {"username": "alice", "password": "correct horse battery staple"}
    response = client.post("/token", json=credentials)
    assert response.status_code == 200
    assert response.get_json()["token"]


def test_wrong_password_and_unknown_user_get_the_same_answer(auth):
    wrong_password = auth.login(password="nope")
    unknown_user = auth.login(username="mallory")
    assert wrong_password.status_code == unknown_user.status_code == 401
    assert wrong_password.get_json() == unknown_user.get_json()
    assert _error(wrong_password)["message"] == "wrong username or password"


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ({"username": "alice"}, "password"),
        ({"password": "x"}, "username"),
        ({}, "a request body is required"),
    ],
)
def test_login_without_a_field_is_400_naming_it(client, auth, data, where):
    response = client.post("/token", data=data)
    assert response.status_code == 400
    assert _error(response)["message"].startswith(where)


def test_login_with_a_text_body_is_415(client, auth):
    response = client.post("/token", data="alice:pw", content_type="text/plain")
    assert response.status_code == 415


@pytest.mark.parametrize("scheme", ["token", "Token", "TOKEN", "Bearer", "bearer"])
def test_every_spelling_of_the_scheme_is_accepted(client, auth, scheme):
    response = client.get("/users", headers=auth.headers(scheme))
    assert response.status_code == 200
    assert response.get_json() == []


def test_seed_header_written_in_lower_case_is_accepted(client, auth):
    token = json.loads(auth.login().text)["token"]
    response = client.get("/users", headers={"authorization": "token " + token})
    assert response.status_code == 200


def _tampered(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sub"] = "root"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


def _alg_none(token: str) -> str:
    payload = token.split(".")[1]
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    return f"{header}.{payload}."


@pytest.mark.parametrize(
    "make_header",
    [
        lambda token: None,
        lambda token: token,  # no scheme word
        lambda token: "Basic " + token,
        lambda token: "Token",
        lambda token: "Token not-a-jwt",
        lambda token: "Token " + _tampered(token),
        lambda token: "Token " + _alg_none(token),
        lambda token: "Token " + token[:-2],
    ],
    ids=["missing", "bare", "basic", "empty", "garbage", "tampered", "alg-none", "truncated"],
)
def test_bad_authorization_is_401_json_never_422(client, auth, make_header):
    header = make_header(auth.token())
    headers = {} if header is None else {"Authorization": header}
    response = client.get("/users", headers=headers)
    assert response.status_code == 401
    assert _error(response)["status"] == 401
    assert "WWW-Authenticate" in response.headers


def test_token_signed_with_another_secret_is_401(client, auth):
    now = int(time.time())
    claims = {"sub": "alice", "ver": 0, "type": "access", "fresh": False, "jti": "x"}
    claims |= {"iat": now, "nbf": now, "exp": now + 600}
    forged = pyjwt.encode(claims, "another-secret-of-enough-length-0123456789", "HS256")
    response = client.get("/users", headers={"Authorization": "Token " + forged})
    assert response.status_code == 401
    assert _error(response)["message"] == "invalid token"


def test_generated_secret_keeps_tokens_valid_across_restarts(tmp_path):
    config = {"TESTING": True, "DISCERNER_HOME": str(tmp_path / "home")}
    first = create_app(config)
    first.extensions["discerner"].store.create_account("alice", hash_password("pw"))
    login = first.test_client().post("/token", data={"username": "alice", "password": "pw"})
    token = login.get_json()["token"]
    first.extensions["discerner"].close()
    second = create_app(config)
    try:
        response = second.test_client().get("/users", headers={"authorization": "token " + token})
        assert response.status_code == 200
    finally:
        second.extensions["discerner"].close()


def test_expired_token_is_401_saying_so(app, client, auth):
    with app.app_context():
        expired = create_access_token(
            "alice", additional_claims={"ver": 0}, expires_delta=timedelta(seconds=-5)
        )
    response = client.get("/users", headers={"Authorization": "Token " + expired})
    assert response.status_code == 401
    assert _error(response)["message"] == "token has expired"


@pytest.mark.parametrize("settings", [{"DISCERNER_TOKEN_SECONDS": 1}])
def test_short_configured_expiry_ends_the_token(client, auth, settings):
    response = auth.login()
    assert response.get_json()["expires_in"] == 1
    headers = {"Authorization": "Token " + response.get_json()["token"]}
    assert client.get("/users", headers=headers).status_code == 200
    time.sleep(1.5)
    response = client.get("/users", headers=headers)
    assert response.status_code == 401
    assert _error(response)["message"] == "token has expired"


def test_changing_the_password_revokes_earlier_tokens(client, auth, store):
    headers = auth.headers()
    assert client.get("/users", headers=headers).status_code == 200  # now a verified token
    store.set_password("alice", hash_password("new password"))
    response = client.get("/users", headers=headers)
    assert response.status_code == 401
    assert _error(response)["message"] == "token has been revoked"
    assert auth.login(password="new password").status_code == 200


def test_deleting_the_account_revokes_its_tokens(client, auth, store):
    headers = auth.headers()
    assert client.get("/users", headers=headers).status_code == 200
    store.delete_account("alice")
    assert client.get("/users", headers=headers).status_code == 401


@pytest.mark.parametrize(
    "settings", [{"DISCERNER_LOGIN_FAILURES_PER_USER": 3, "DISCERNER_LOGIN_WINDOW_SECONDS": 60}]
)
def test_repeated_failures_are_throttled_per_username(auth, settings):
    for _ in range(3):
        assert auth.login(password="wrong").status_code == 401
    response = auth.login()  # even the right password waits out the window
    assert response.status_code == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert _error(response)["status"] == 429
    auth.create_account("bob", "bob's password")
    assert auth.login("bob", "bob's password").status_code == 200


@pytest.mark.parametrize(
    "settings",
    [{"DISCERNER_LOGIN_FAILURES_PER_USER": 100, "DISCERNER_LOGIN_FAILURES_PER_ADDRESS": 4}],
)
def test_repeated_failures_are_throttled_per_client_address(auth, settings):
    for name in ("u1", "u2", "u3", "u4"):
        assert auth.login(username=name, password="x").status_code == 401
    assert auth.login().status_code == 429
    other = {"REMOTE_ADDR": "10.1.2.3"}
    assert auth.login(environ_base=other).status_code == 200


def test_throttle_window_slides():
    now = [0.0]
    throttle = LoginThrottle({"user": 2}, window=10, clock=lambda: now[0])
    keys = ["user:a"]
    throttle.failed(keys)
    now[0] = 4.0
    throttle.failed(keys)
    assert throttle.retry_after(keys) == 6  # the first failure leaves the window at t=10
    now[0] = 10.5
    assert throttle.retry_after(keys) is None  # one failure left in the window
    throttle.failed(keys)
    assert throttle.retry_after(keys) == 4  # now the t=4 failure is the oldest: 14 - 10.5
    throttle.succeeded("user:a")
    assert throttle.retry_after(keys) is None


def test_throttle_memory_is_bounded():
    throttle = LoginThrottle({"addr": 1}, max_keys=3)
    for number in range(10):
        throttle.failed([f"addr:{number}"])
    assert throttle.retry_after(["addr:0"]) is None
    assert throttle.retry_after(["addr:9"]) is not None


def test_secret_is_generated_once_with_owner_only_permissions(tmp_path):
    first = load_secret_key(tmp_path)
    assert len(first) == 64
    mode = stat.S_IMODE(os.stat(tmp_path / "secret_key").st_mode)
    assert mode == 0o600
    assert load_secret_key(tmp_path) == first


def test_token_cache_forgets_the_least_recently_used():
    cache = TokenCache(size=2)
    for name in ("a", "b"):
        cache.put(name, Verified(1.0, name, 0))
    assert cache.get("a") == Verified(1.0, "a", 0)  # "b" is now the least recently used
    cache.put("c", Verified(1.0, "c", 0))
    assert cache.get("b") is None
    assert cache.get("a") is not None and cache.get("c") is not None
    cache.drop("a")
    assert cache.get("a") is None


@pytest.mark.parametrize(
    "make_header",
    [
        lambda token: token,
        lambda token: " " + token,
        lambda token: "Basic " + token,
        lambda token: "JWT " + token,
        lambda token: "Tokens " + token,
        lambda token: "Token:" + token,
        lambda token: f"Token {token} {token}",
    ],
    ids=["bare", "space", "basic", "jwt", "tokens", "colon", "twice"],
)
def test_a_verified_token_still_needs_the_token_or_bearer_scheme(client, auth, make_header):
    token = auth.token()
    assert client.get("/users", headers={"Authorization": "Token " + token}).status_code == 200
    response = client.get("/users", headers={"Authorization": make_header(token)})
    assert response.status_code == 401
    assert _error(response)["message"] == "missing or malformed Authorization"
