# ruff: noqa: E501  (the examples are kept exactly as the seed prints them)
"""The seed reference's Python examples, verbatim, against a live `discerner serve`.

The examples are copied from shared/seed-api.md unchanged. Running them changes only what the
seed asks readers to change: the host (`http://discernerapi.com`), the `:user_id` and
`:product_id` placeholders, and the credentials `your_username`/`your_password`. The seed's
examples also send `token_string`, a name they never define (they build `auth_string`); the
namespace they run in resolves that one missing name to `auth_string`, so the code itself is
run exactly as published.
"""

from __future__ import annotations

import pytest
import requests

SEED_HOST = "http://discernerapi.com"

SEED_EXAMPLES = {
    "authentication": """\
import requests
import json

response = requests.post("http://discernerapi.com/token", {"username":your_username, "password":your_password})
token = json.loads(response.text)["token"]
auth_string = "token " + token

users = requests.get("http://discernerapi.com/users", headers = {"authorization": token_string})

""",
    "get_all_users": """\
import requests
import json

response = requests.post("http://discernerapi.com/token", {"username":your_username, "password":your_password})
token = json.loads(response.text)["token"]
auth_string = "token " + token

users = requests.get("http://discernerapi.com/users", headers = {"authorization": token_string})
""",
    "create_user": """\
import requests
import json

response = requests.post("http://discernerapi.com/token", {"username":your_username, "password":your_password})
token = json.loads(response.text)["token"]
auth_string = "token " + token

new_user = requests.post("http://discernerapi.com/users", headers = {"authorization": token_string})
""",
    "get_all_products": """\
import requests
import json

response = requests.post("http://discernerapi.com/token", {"username":your_username, "password":your_password})
token = json.loads(response.text)["token"]
auth_string = "token " + token

users = requests.get("http://discernerapi.com/products", headers = {"authorization": token_string})
""",
    "create_product": """\
import requests
import json

response = requests.post("http://discernerapi.com/token", {"username":your_username, "password":your_password})
token = json.loads(response.text)["token"]
auth_string = "token " + token

new_user = requests.post("http://discernerapi.com/products", headers = {"authorization": token_string})
""",
    "get_all_activities": """\
import requests
import json

response = requests.post("http://discernerapi.com/token", {"username":your_username, "password":your_password})
token = json.loads(response.text)["token"]
auth_string = "token " + token

users = requests.get("http://discernerapi.com/activities", headers = {"authorization": token_string})
""",
    "post_activity": """\
import requests
import json

response = requests.post("http://discernerapi.com/token", {"username":your_username, "password":your_password})
token = json.loads(response.text)["token"]
auth_string = "token " + token

requests.post("http://discernerapi.com/users/:user_id/products/:product_id/activities", headers = {"authorization": token_string})
""",
    "get_recommendations": """\
import requests
import json

response = requests.post("http://discernerapi.com/token", {"username":your_username, "password":your_password})
token = json.loads(response.text)["token"]
auth_string = "token " + token

users = requests.get("http://discernerapi.com/users/:user_id/recs", headers = {"authorization": token_string})
""",
}


class SeedNamespace(dict):
    """Module namespace for an example: `token_string` (never defined there) is `auth_string`."""

    def __missing__(self, name):
        if name == "token_string":
            return self["auth_string"]
        raise KeyError(name)


def run_example(name, server, **placeholders):
    """Run one seed example against `server`; return the names it defined."""
    code = SEED_EXAMPLES[name].replace(SEED_HOST, server.url)
    for placeholder, value in placeholders.items():
        code = code.replace(f":{placeholder}", str(value))
    credentials = {"your_username": "alice", "your_password": "correct horse battery staple"}
    namespace = SeedNamespace()
    exec(compile(code, f"seed-api.md:{name}", "exec"), credentials, namespace)
    return namespace


@pytest.fixture(scope="module")
def seeded(live_server):
    """The examples run once, in the seed's order, each seeing what the previous ones did."""
    names = {}
    for name in SEED_EXAMPLES:
        names[name] = run_example(name, live_server, user_id=1, product_id=1)
    return names


def test_authentication_example_gets_a_token_and_lists_users(seeded):
    ns = seeded["authentication"]
    assert ns["response"].status_code == 200
    assert ns["auth_string"].startswith("token ")
    assert ns["users"].status_code == 200
    assert ns["users"].json() == []


def test_create_user_example_returns_the_new_id(seeded):
    response = seeded["create_user"]["new_user"]
    assert response.status_code == 201
    assert response.json() == {"id": 1}
    assert seeded["get_all_users"]["users"].json() == []  # listed before the create


def test_create_product_example_returns_the_new_id(seeded):
    response = seeded["create_product"]["new_user"]
    assert response.status_code == 201
    assert response.json() == {"id": 1}


def test_post_activity_example_records_score_one(seeded, live_server):
    again = run_example("get_all_activities", live_server)["users"]
    assert again.status_code == 200
    rows = [{k: a[k] for k in ("id", "user_id", "product_id", "score")} for a in again.json()]
    assert rows == [{"id": 1, "user_id": 1, "product_id": 1, "score": 1.0}]


def test_recommendations_example_returns_a_json_array(seeded):
    response = seeded["get_recommendations"]["users"]
    assert response.status_code == 200
    assert response.json() == []  # user 1 already has the only product with an activity


def test_an_account_created_while_serving_can_log_in_at_once(live_server):
    live_server.add_account("carol", "carol's password")
    namespace = run_example("authentication", live_server)  # logs in as alice
    assert namespace["users"].status_code == 200
    response = requests.post(
        live_server.url + "/token", {"username": "carol", "password": "carol's password"}
    )
    assert response.status_code == 200
