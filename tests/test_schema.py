"""The one validation of interaction frames."""

import numpy as np
import pandas as pd
import pytest

from discerner.errors import DataFormatError
from discerner.schema import validate_interactions


def test_fills_defaults_and_normalises_dtypes():
    frame = pd.DataFrame({"user_id": ["1", "2"], "product_id": [3.0, 4.0]})
    out = validate_interactions(frame)
    assert out["user_id"].dtype == np.int64 and out["product_id"].tolist() == [3, 4]
    assert out["score"].tolist() == [1.0, 1.0]
    assert out["timestamp"].isna().all()
    assert list(frame.columns) == ["user_id", "product_id"]  # the input is untouched


def test_unix_seconds_become_utc_times():
    frame = pd.DataFrame({"user_id": [1], "product_id": [2], "timestamp": [86400]})
    assert validate_interactions(frame)["timestamp"][0] == pd.Timestamp("1970-01-02", tz="UTC")


def test_without_a_file_the_error_names_the_row():
    frame = pd.DataFrame({"user_id": [1, 0], "product_id": [2, 2]})
    with pytest.raises(DataFormatError, match=r"^row 1: user_id must be a positive integer"):
        validate_interactions(frame)


@pytest.mark.parametrize(
    "when",
    [
        np.datetime64(253402300800, "s").astype("datetime64[us]"),  # 10000-01-01
        np.datetime64("9999-12-31T23:59:59.500000", "us"),
    ],
)
def test_a_time_after_the_stores_range_is_refused_at_import(when):
    times = pd.Series(np.array(["NaT", when], dtype="datetime64[us]")).dt.tz_localize("UTC")
    frame = pd.DataFrame({"user_id": [1, 2], "product_id": [1, 1], "timestamp": times})
    with pytest.raises(DataFormatError, match="row 1: timestamp must be from 0001-01-01"):
        validate_interactions(frame)


def test_the_ends_of_the_time_range_are_imported():
    ends = ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"]
    frame = validate_interactions(
        pd.DataFrame({"user_id": [1, 2], "product_id": [1, 1], "timestamp": ends})
    )
    assert frame["timestamp"].dt.year.tolist() == [1, 9999]
