"""Every README code block that talks to the API runs as written against a server set up like
`make serve` (`discerner demo` on a loopback URL, then `discerner serve`)."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import live
import pytest
import requests

README = Path(__file__).resolve().parents[1] / "README.md"
URL = "http://127.0.0.1:8000"  # where the README's examples expect `make serve`
BLOCK = re.compile(r"^```(python|sh)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def api_blocks() -> list[tuple[str, str]]:
    """(language, code) of each ```python and ```sh block that talks to the API."""
    return [(m[1], m[2]) for m in BLOCK.finditer(README.read_text()) if URL in m[2]]


def test_the_readme_has_the_examples_this_test_runs():
    assert [language for language, _ in api_blocks()] == ["python", "sh", "python", "python"]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """`make serve`'s two steps on a fresh data folder: the demo (data, account, champion)."""
    home = tmp_path_factory.mktemp("readme") / "discerner-data"
    server = live.LiveServer(home)
    done = live.run_discerner("demo", "--url", server.url, home=home, timeout=300)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    assert b"username 'alice', password 's3cret-pass'" in done.stdout
    server.start()
    # As a person would: the examples run once the server says it is ready (champion loaded).
    live.wait_until(lambda: requests.get(server.url + "/ready", timeout=5).ok, timeout=60)
    yield server
    server.stop()


def _run(language: str, code: str, url: str) -> str:
    code = code.replace(URL, url)
    command = [sys.executable, "-c", code] if language == "python" else ["bash", "-ec", code]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{code}\n--- stderr:\n{done.stderr}"
    return done.stdout


def _printed(text: str) -> list:
    """What Python's `print` showed: one literal per line."""
    return [ast.literal_eval(line) for line in text.splitlines() if line.startswith(("[", "{"))]


def _values(text: str) -> list:
    """The JSON documents curl wrote one after another (it adds no newline)."""
    decoder, found, position, text = json.JSONDecoder(), [], 0, text.strip()
    while position < len(text):
        value, position = decoder.raw_decode(text, position)
        found.append(value)
        while position < len(text) and text[position].isspace():
            position += 1
    return found


@pytest.mark.slow
@pytest.mark.parametrize("index", range(4), ids=["requests", "curl", "binding", "patches"])
def test_every_api_example_of_the_readme_runs_as_written(served, index):
    language, code = api_blocks()[index]
    printed = _run(language, code, served.url)
    answers = _values(printed) if language == "sh" else _printed(printed)
    if index == 3:  # types, labels, a hidden product, merge patches
        views, hidden, expiring, user = answers
        assert [(a["product_id"], a["type"]) for a in views] == [(7, "view")]
        assert (hidden["hidden"], hidden["labels"]) == (True, ["paperback"])
        assert "hidden" not in expiring
        assert expiring["expires_at"] == "2030-01-01T00:00:00.000000Z"
        assert user["country"] == "NZ"
        return
    recommendations = [a for a in answers if isinstance(a, list)]
    assert recommendations, printed
    for found in recommendations:  # every printed list has products in it
        assert found and all({"product_id", "score"} <= set(item) for item in found), found
    if index == 2:  # the binding: recommend(category="books"), then similar(7)
        books, similar = recommendations[:2]
        with served.login("alice", "s3cret-pass") as api:
            for item in books:
                product = api.get(f"{served.url}/products/{item['product_id']}").json()
                assert product["category"] == "books"
        assert len(similar) == 5 and all(0 < item["score"] <= 1 for item in similar)
