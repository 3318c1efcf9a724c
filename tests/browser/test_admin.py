"""The admin page in a real headless Chromium (Debian's `chromium` and `chromium-driver`).

A live server runs on a data folder with generated data and two registered versions; the
browser signs in through the page's form, reads the counts, the growth chart and the champion,
promotes the other version, trains a new one, and leaves a screenshot in `test-artifacts/`.
Without the browser these tests skip, except in CI (`$CI` set), where they fail: `.ci/run`
installs it. Every wait is bounded; the module takes about two minutes on a busy 2-core machine.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from live import PASSWORD, USERNAME, LiveServer, trained_twice

from discerner import config
from discerner.store import Store

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # the dev extra brings it
    webdriver = None

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# Headless as root, and no background traffic to hosts this machine cannot reach.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1000",
)
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
WAIT = 30  # seconds any one change on the page may take
TRAIN_WAIT = 240  # a whole `discerner train` of one candidate, on a busy machine


def _browser_missing() -> str | None:
    if webdriver is None:
        return "selenium is not installed (pip install -e '.[dev]')"
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if missing:
        return f"{', '.join(missing)} missing: apt-get install chromium chromium-driver"
    return None


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """A headless Chromium driven by Selenium, with a fresh profile."""
    reason = _browser_missing()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser tests: {reason}")
        pytest.skip(reason)
    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(WAIT)
    driver.set_script_timeout(WAIT)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def today() -> datetime:
    return datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)


@pytest.fixture(scope="module")
def server(tmp_path_factory, browser, today):
    """A live server on generated data (60 users, 30 products, 900 activities from 2020 to
    2023) plus three recent activities, with versions 1 (champion) and 2, and alice."""
    home = tmp_path_factory.mktemp("admin-browser") / "home"
    trained_twice(home)
    with Store.open(config.store_dir(home)) as store:
        for moment in (today, today, today - timedelta(days=3)):
            store.add_activity(1, 2, timestamp=moment.isoformat())
    server = LiveServer(home).start()
    server.add_account()
    yield server
    assert server.stop() == 0


def _wait(browser, condition, timeout: float = WAIT):
    return WebDriverWait(browser, timeout, poll_frequency=0.1).until(lambda _: condition())


def _text(browser, element_id: str) -> str:
    return browser.find_element(By.ID, element_id).text


def _cells(browser, rows: str) -> list[list[str]]:
    """The text of each cell of the rows `rows` selects, read at once (tables are redrawn
    on every refresh, so elements found one by one can go stale in between)."""
    script = (
        "return [...document.querySelectorAll(arguments[0])]"
        ".map((row) => [...row.cells].map((cell) => cell.textContent.trim()))"
    )
    return browser.execute_script(script, rows)


def _marks(browser, version: int) -> str | None:
    """The champion/serving marks of a version's row ("" for none), None without the row."""
    found = _cells(browser, f"#models tr[data-version='{version}']")
    return found[0][6] if found else None


def _sign_in(browser, password: str) -> None:
    for field, value in (("login-username", USERNAME), ("login-password", password)):
        browser.find_element(By.ID, field).clear()
        browser.find_element(By.ID, field).send_keys(value)
    browser.find_element(By.CSS_SELECTOR, "#login button[type=submit]").click()


def _screenshot(browser, name: str) -> Path:
    """The whole page as a PNG in test-artifacts/, kept after the test."""
    ARTIFACTS.mkdir(exist_ok=True)
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1280, height + 100)
    path = ARTIFACTS / name
    assert browser.save_screenshot(str(path))
    return path


def test_a_wrong_password_is_refused_on_the_page(browser, server):
    browser.get(server.url + "/admin")
    assert browser.find_element(By.ID, "dashboard").is_displayed() is False
    _sign_in(browser, "not the password")
    _wait(browser, lambda: "wrong username or password" in _text(browser, "login-error"))
    assert browser.find_element(By.ID, "login").is_displayed()
    assert browser.find_element(By.ID, "login-password").get_attribute("value") == ""


def test_signing_in_shows_the_counts_the_growth_and_the_champion(browser, server, today):
    _sign_in(browser, PASSWORD)
    _wait(browser, lambda: _text(browser, "count-activities") == "903")
    assert not browser.find_element(By.ID, "login").is_displayed()
    # 900 generated activities plus the three recent ones; users and products as generated.
    assert (_text(browser, "count-users"), _text(browser, "count-products")) == ("60", "30")
    assert _text(browser, "username") == USERNAME
    per_day = browser.execute_script(
        "return Object.fromEntries([...document.querySelectorAll('#growth rect.bar')]"
        ".map((bar) => [bar.dataset.day, Number(bar.dataset.activities)]))"
    )
    assert len(per_day) == 14
    days_ago = lambda k: (today - timedelta(days=k)).date().isoformat()  # noqa: E731
    assert (per_day[days_ago(0)], per_day[days_ago(3)], per_day[days_ago(1)]) == (2, 1, 0)
    assert sum(per_day.values()) == 3  # the generated ones are years older
    _wait(browser, lambda: _text(browser, "serving") == "discerner/1")
    _wait(browser, lambda: _marks(browser, 1) == "championserving")
    assert _marks(browser, 2) == ""
    assert not browser.find_element(
        By.CSS_SELECTOR, "[aria-label='Promote version 1']"
    ).is_enabled()
    assert _text(browser, "experiments") == "No experiments are running."
    _wait(browser, lambda: len(_cells(browser, "#runs tr[data-run]")) == 2)
    _screenshot(browser, "admin-signed-in.png")


def test_promoting_a_version_moves_the_champion_and_what_serves(browser, server):
    browser.find_element(By.CSS_SELECTOR, "[aria-label='Promote version 2']").click()
    _wait(browser, lambda: _text(browser, "serving") == "discerner/2")
    _wait(browser, lambda: _marks(browser, 2) == "championserving")
    assert _marks(browser, 1) == ""
    assert _text(browser, "models-message") == "Version 2 is the champion and serves now."
    recs = server.login().get(server.url + "/users/1/recs")
    assert recs.headers["X-Model-Version"] == "discerner/2"


def test_train_now_runs_a_training_to_its_end(browser, server):
    browser.find_element(By.ID, "family-popularity").click()
    browser.find_element(By.ID, "train").click()
    state = lambda: browser.find_element(By.ID, "train-state").get_attribute("data-state")  # noqa: E731
    _wait(browser, lambda: state() in ("running", "succeeded"))
    _wait(browser, lambda: state() == "succeeded", timeout=TRAIN_WAIT)
    assert _text(browser, "train-state").startswith("Succeeded at ")
    # Popularity again ties with the champion: version 3 is registered and kept out.
    # The runs table is redrawn once the page sees the end: the new run, finished, on top.
    newest = lambda: _cells(browser, "#runs tr[data-run]")[0]  # noqa: E731
    _wait(
        browser,
        lambda: newest()[1] == "FINISHED" and len(_cells(browser, "#runs tr[data-run]")) == 3,
    )
    assert (newest()[3], newest()[7]) == ("903", "3")  # activities trained on, the version
    _wait(browser, lambda: _marks(browser, 3) == "")
    assert _marks(browser, 2) == "championserving"
    path = _screenshot(browser, "admin.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000


def test_starting_an_experiment_from_the_page_lists_it_and_stop_ends_it(browser, server):
    for field, value in (("experiment-name", "page-ab"), ("experiment-variants", "1:40, 2:50")):
        browser.find_element(By.ID, field).clear()
        browser.find_element(By.ID, field).send_keys(value)
    browser.find_element(By.ID, "experiment-start").click()
    _wait(browser, lambda: "Could not start" in _text(browser, "experiment-message"))
    assert "summing to 100: 40 + 50" in _text(browser, "experiment-message")  # nothing started
    browser.find_element(By.ID, "experiment-variants").clear()
    browser.find_element(By.ID, "experiment-variants").send_keys("champion:50, old=1:50")
    browser.find_element(By.ID, "experiment-start").click()
    _wait(
        browser, lambda: len(_cells(browser, "[data-experiment='page-ab'] tr[data-variant]")) == 2
    )
    rows = _cells(browser, "[data-experiment='page-ab'] tr[data-variant]")
    # Version 2 is the champion since the promotion above; `old` serves version 1.
    assert [r[:3] for r in rows] == [["champion", "champion (v2)", "50%"], ["old", "1 (v1)", "50%"]]
    session = server.login()
    answered = {}
    for user_id in range(1, 11):
        response = session.get(f"{server.url}/users/{user_id}/recs")
        answered[response.headers.get("X-Variant")] = response.headers["X-Model-Version"]
    assert answered == {"champion": "discerner/2", "old": "discerner/1"}

    # The page draws each variant's impressions (flushed within about a second) and intervals.
    def impressions():
        return [r[3] for r in _cells(browser, "[data-experiment='page-ab'] tr[data-variant]")]

    _wait(browser, lambda: sum(int(n) for n in impressions()) == 10, timeout=WAIT + 15)
    lines = browser.find_elements(By.CSS_SELECTOR, "[data-experiment='page-ab'] svg line.ci")
    assert {(x.get_attribute("data-variant"), x.get_attribute("data-kind")) for x in lines} == {
        ("champion", "ctr"),
        ("champion", "conversion"),
        ("old", "ctr"),
        ("old", "conversion"),
    }
    _screenshot(browser, "admin-experiment.png")
    browser.find_element(By.CSS_SELECTOR, "[data-stop='page-ab']").click()
    _wait(browser, lambda: _text(browser, "experiments") == "No experiments are running.")
    assert _text(browser, "experiment-message") == "Experiment page-ab stopped."
    assert "X-Experiment" not in session.get(f"{server.url}/users/1/recs").headers
