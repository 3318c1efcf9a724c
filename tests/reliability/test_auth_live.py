"""Auth against a running `discerner serve`: CLI revocation, throttling over HTTP, clean logs."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest
import requests
from live import LiveServer

PASSWORDS = {"bob": "bob's long password 1", "carol": "carol's long password 2"}
LIMITS = {"DISCERNER_LOGIN_FAILURES_PER_USER": "3", "DISCERNER_LOGIN_FAILURES_PER_ADDRESS": "8"}


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """One server for the module with the accounts bob and carol."""
    server = LiveServer(tmp_path_factory.mktemp("auth") / "home").start()
    for name, password in PASSWORDS.items():
        server.add_account(name, password)
    yield server
    assert server.stop() == 0


def _login(server, username, password):
    return requests.post(server.url + "/token", data={"username": username, "password": password})


def _get_users(server, token):
    return requests.get(server.url + "/users", headers={"Authorization": f"Token {token}"})


def test_cli_password_change_and_deletion_revoke_tokens_at_once(live, cli):
    bob = _login(live, "bob", PASSWORDS["bob"]).json()["token"]
    carol = _login(live, "carol", PASSWORDS["carol"]).json()["token"]
    assert _get_users(live, bob).status_code == _get_users(live, carol).status_code == 200

    new_password = "bob's new long password"
    changed = cli(
        "accounts",
        "set-password",
        "bob",
        "--password-stdin",
        home=live.home,
        input=new_password.encode(),
    )
    assert changed.returncode == 0, changed.stderr
    refused = _get_users(live, bob)
    assert refused.status_code == 401
    assert refused.json()["error"]["message"] == "token has been revoked"
    assert _login(live, "bob", PASSWORDS["bob"]).status_code == 401
    assert _get_users(live, _login(live, "bob", new_password).json()["token"]).status_code == 200

    deleted = cli("accounts", "delete", "carol", home=live.home)
    assert deleted.returncode == 0, deleted.stderr
    assert _get_users(live, carol).status_code == 401
    assert _login(live, "carol", PASSWORDS["carol"]).status_code == 401


def _retry_after(response) -> int:
    assert response.status_code == 429
    assert response.json()["error"]["status"] == 429
    return int(response.headers["Retry-After"])


def test_failed_logins_are_limited_per_username_then_per_address(new_server):
    live = new_server(**LIMITS)
    live.add_account("dave", "dave's long password")
    live.add_account("erin", "erin's long password")
    for _ in range(3):
        assert _login(live, "dave", "guess").status_code == 401
    # dave is locked out, even with the right password; erin is not.
    assert 1 <= _retry_after(_login(live, "dave", "dave's long password")) <= 60
    assert _login(live, "erin", "erin's long password").status_code == 200
    for guess in range(5):  # 8 failures from this address in all
        assert _login(live, f"nobody{guess}", "guess").status_code == 401
    assert 1 <= _retry_after(_login(live, "erin", "erin's long password")) <= 60
    assert 1 <= _retry_after(_login(live, "someone-new", "guess")) <= 60


def test_no_password_token_secret_or_hash_reaches_the_log(live, cli):
    session = requests.Session()
    password = "frank's long password"
    live.add_account("frank", password)
    token = _login(live, "frank", password).json()["token"]
    session.headers["Authorization"] = f"Token {token}"
    assert session.post(live.url + "/users", json={"external_id": "u1"}).status_code == 201
    assert _login(live, "frank", "frank's wrong password").status_code == 401
    assert _get_users(live, token + "x").status_code == 401
    session.post(live.url + "/token", json={"username": "frank", "password": password})
    cli(
        "accounts",
        "set-password",
        "frank",
        "--password-stdin",
        home=live.home,
        input=b"frank's other password",
    )
    assert session.get(live.url + "/users").status_code == 401  # revoked: logged as a 401
    live.stop()
    log = live.log.read_text()
    assert "POST /token" in log and " 401 " in log  # the log is the server's access log
    secret = (live.home / "secret_key").read_text().strip()
    leaks = [password, "frank's wrong password", "frank's other password", token, secret]
    leaks += [*PASSWORDS.values(), token.split(".")[2], "scrypt$"]
    assert [leak for leak in leaks if leak in log] == []


def _worker_rss(server) -> int:
    return sum(c.memory_info().rss for c in psutil.Process(server.process.pid).children())


def test_a_burst_of_logins_leaves_no_memory_behind(new_server):
    server = new_server()
    server.add_account("gail", "gail's long password")
    assert _login(server, "gail", "gail's long password").status_code == 200
    before = _worker_rss(server)
    with ThreadPoolExecutor(16) as pool:  # scrypt takes 16 MiB per login while it runs
        answers = list(
            pool.map(lambda _: _login(server, "gail", "gail's long password"), range(48))
        )
    assert {answer.status_code for answer in answers} == {200}
    assert _worker_rss(server) - before < 40 * 2**20  # glibc gave the 16 MiB blocks back
