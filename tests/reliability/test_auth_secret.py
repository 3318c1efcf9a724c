"""The signing secret and the data folder survive a crash: written atomically, folders fsynced."""

from __future__ import annotations

import os
import stat

import pytest

from discerner import config
from serving import create_app
from serving.api.auth import SECRET_FILE, load_secret_key


@pytest.mark.parametrize("content", ["", "\n"])
def test_an_empty_secret_left_by_a_crash_is_replaced_by_a_new_one(tmp_path, content):
    # An empty key never signed a token, so replacing it revokes nothing.
    home = tmp_path / "home"
    home.mkdir()
    (home / SECRET_FILE).write_text(content)
    app = create_app({"DISCERNER_HOME": str(home)})
    app.extensions["discerner"].close()
    secret = (home / SECRET_FILE).read_text()
    assert len(bytes.fromhex(secret)) == 32
    assert stat.S_IMODE(os.stat(home / SECRET_FILE).st_mode) == 0o600
    assert load_secret_key(home) == secret


def test_a_new_secret_is_renamed_into_place_and_its_folder_fsynced(tmp_path, fsynced_folders):
    secret = load_secret_key(tmp_path)
    assert (tmp_path / SECRET_FILE).read_text() == secret
    assert str(tmp_path) in fsynced_folders
    assert os.listdir(tmp_path) == [SECRET_FILE]  # no temporary file left behind


def test_a_stored_secret_is_read_as_it_is(tmp_path, fsynced_folders):
    (tmp_path / SECRET_FILE).write_text("ab" * 32 + "\n")
    os.chmod(tmp_path / SECRET_FILE, 0o600)
    assert load_secret_key(tmp_path) == "ab" * 32
    assert fsynced_folders == []  # nothing written, nothing to fsync


def test_ensure_home_fsyncs_every_folder_it_creates_in(tmp_path, fsynced_folders):
    home = config.ensure_home(tmp_path / "a" / "b")
    assert home.is_dir()
    assert stat.S_IMODE(os.stat(home).st_mode) == 0o700
    # The new entries `a` (in tmp_path) and `b` (in a) are durable once their parents are synced.
    assert {str(tmp_path), str(tmp_path / "a")} <= set(fsynced_folders)
