"""The synthetic generator and the interaction file readers."""

import numpy as np
import pandas as pd
import pytest

from discerner.datasets import generate, read_interactions, write_csv
from discerner.errors import DataFormatError
from discerner.schema import INTERACTION_COLUMNS, TIMESTAMP_DTYPE


def test_generate_has_the_requested_sizes_and_positive_ids():
    data = generate(n_users=50, n_products=30, n_activities=400, n_categories=5, seed=3)
    activities = data.activities
    assert list(activities.columns) == list(INTERACTION_COLUMNS)
    assert len(activities) == 400
    assert activities["user_id"].nunique() == 50  # every user has at least one activity
    assert activities["user_id"].between(1, 50).all()
    assert activities["product_id"].between(1, 30).all()
    assert activities["score"].between(1, 5).all()
    assert str(activities["timestamp"].dtype) == TIMESTAMP_DTYPE
    assert list(data.products["id"]) == list(range(1, 31))
    assert set(data.products["category"]) == {"books", "music", "games", "garden", "kitchen"}
    assert data.products["name"].is_unique


def test_generated_products_have_readable_unique_names_and_categories():
    data = generate(n_users=20, n_products=2000, n_activities=100, n_categories=14, seed=1)
    assert data.products["name"].is_unique
    books = data.products[data.products["category"] == "books"]["name"]
    assert books.str.fullmatch(r"[A-Z][a-z]+ [A-Z][A-Za-z -]+( [0-9]+)?").all()
    assert {"crafts", "category-12", "category-13"} <= set(data.products["category"])


def test_generate_is_deterministic_for_a_seed():
    first = generate(n_users=20, n_products=10, n_activities=100, n_categories=2, seed=7)
    second = generate(n_users=20, n_products=10, n_activities=100, n_categories=2, seed=7)
    other = generate(n_users=20, n_products=10, n_activities=100, n_categories=2, seed=8)
    pd.testing.assert_frame_equal(first.activities, second.activities)
    assert not first.activities.equals(other.activities)


def _in_favourite(data) -> np.ndarray:
    """For each activity: is its product in the user's planted favourite category?"""
    activities = data.activities
    favourite = data.favourite_category(activities["user_id"].to_numpy())
    category = data.products.set_index("id").loc[activities["product_id"], "category"]
    return favourite == category.to_numpy()


def _share_in_favourite(data):
    return float(np.mean(_in_favourite(data)))


def test_planted_preference_matches_affinity():
    # With affinity a and C categories, a share a falls in the favourite category by
    # construction, plus 1/C (by popularity) of the rest: about 0.8 + 0.2 * 0.1 = 0.82.
    data = generate(n_users=400, n_products=200, n_activities=40_000, affinity=0.8, seed=1)
    assert _share_in_favourite(data) == pytest.approx(0.82, abs=0.04)
    always = generate(n_users=50, n_products=40, n_activities=500, affinity=1.0, seed=1)
    assert _share_in_favourite(always) == 1.0


def test_popularity_is_long_tailed():
    data = generate(n_users=1000, n_products=1000, n_activities=50_000, seed=2)
    counts = data.activities["product_id"].value_counts().to_numpy()
    # Zipf(1) over 1000 products: the top 1% hold about H(10)/H(1000) = 2.93/7.49 = 39%.
    assert counts[:10].sum() / counts.sum() > 0.25
    uniform = generate(n_users=1000, n_products=1000, n_activities=50_000, zipf_exponent=0, seed=2)
    top = uniform.activities["product_id"].value_counts().to_numpy()[:10]
    assert top.sum() / 50_000 < 0.05


def test_higher_scores_inside_the_favourite_category():
    data = generate(n_users=200, n_products=100, n_activities=5_000, affinity=0.5, seed=4)
    activities = data.activities
    inside = _in_favourite(data)
    assert activities["score"][inside].mean() > activities["score"][~inside].mean() + 1.0


@pytest.mark.parametrize(
    "arguments",
    [
        {"n_users": 0},
        {"n_products": 3, "n_categories": 5},
        {"n_users": 10, "n_activities": 5},
        {"affinity": 1.5},
    ],
)
def test_generate_rejects_impossible_sizes(arguments):
    with pytest.raises(ValueError):
        generate(**arguments)


def test_read_movielens_u_data(tmp_path):
    path = tmp_path / "u.data"
    path.write_text("196\t242\t3\t881250949\n186\t302\t3\t891717742\n")
    frame = read_interactions(path, format="movielens")
    assert frame["user_id"].tolist() == [196, 186]
    assert frame["product_id"].tolist() == [242, 302]
    assert frame["score"].tolist() == [3.0, 3.0]
    assert frame["timestamp"][0] == pd.Timestamp("1997-12-04 15:55:49", tz="UTC")


def test_read_movielens_ratings_dat(tmp_path):
    # MovieLens 1M: UserID::MovieID::Rating::Timestamp, no header.
    path = tmp_path / "ratings.dat"
    path.write_text("1::1193::5::978300760\n1::661::3::978302109\n2::1357::5::978298709\n")
    frame = read_interactions(path, format="movielens")
    assert frame["user_id"].tolist() == [1, 1, 2]
    assert frame["product_id"].tolist() == [1193, 661, 1357]
    assert frame["score"].tolist() == [5.0, 3.0, 5.0]
    assert frame["timestamp"][0] == pd.Timestamp("2000-12-31 22:12:40", tz="UTC")


def test_malformed_ratings_dat_names_the_line(tmp_path):
    path = tmp_path / "ratings.dat"
    path.write_text("1::1193::5::978300760\n1::661::three::978302109\n")
    with pytest.raises(DataFormatError, match=r"ratings.dat, line 2: score"):
        read_interactions(path, format="movielens")


def test_read_movielens_ratings_csv(tmp_path):
    path = tmp_path / "ratings.csv"
    path.write_text("userId,movieId,rating,timestamp\n1,31,2.5,1260759144\n1,1029,3.0,1260759179\n")
    frame = read_interactions(path, format="movielens")
    assert frame["product_id"].tolist() == [31, 1029]
    assert frame["score"].tolist() == [2.5, 3.0]


def test_read_csv_without_score_or_timestamp(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text("user_id,product_id\n1,2\n3,4\n")
    frame = read_interactions(path)
    assert frame["score"].tolist() == [1.0, 1.0]
    assert frame["timestamp"].isna().all()


def test_read_csv_with_iso_timestamps(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text("user_id,product_id,score,timestamp\n1,2,0.5,2024-01-02T03:04:05Z\n")
    frame = read_interactions(path)
    assert frame["timestamp"][0] == pd.Timestamp("2024-01-02 03:04:05", tz="UTC")


def test_csv_round_trip(tmp_path):
    data = generate(n_users=10, n_products=10, n_activities=50, n_categories=2, seed=0)
    path = tmp_path / "out.csv"
    write_csv(data.activities, path)
    pd.testing.assert_frame_equal(read_interactions(path), data.activities)


def test_read_parquet(tmp_path):
    path = tmp_path / "events.parquet"
    pd.DataFrame({"user_id": [5], "product_id": [6], "score": [2.0]}).to_parquet(path)
    frame = read_interactions(path, format="parquet")
    assert frame.loc[0, ["user_id", "product_id", "score"]].tolist() == [5, 6, 2.0]


@pytest.mark.parametrize(
    ("content", "line", "words"),
    [
        ("user_id,product_id,score\n1,2,3\n1,x,3\n", 3, "product_id must be a positive integer"),
        ("user_id,product_id,score\n1,2,3\n-4,2,3\n", 3, "user_id must be a positive integer"),
        ("user_id,product_id,score\n1,2,3\n1,2,3\n1,2.5,3\n", 4, "product_id"),
        ("user_id,product_id,score\n1,2,nan\n", 2, "score must be a finite number"),
        ("user_id,product_id,score\n1,2,inf\n", 2, "score must be a finite number"),
        ("user_id,product_id,score\n1,2,3\n1,2,3,4\n", 3, "cannot parse"),
        ("user_id,product_id,score\n1,2,3\n7\n", 3, "missing field"),
        ("user_id,product_id,score,timestamp\n1,2,3,yesterday\n", 2, "timestamp is not a time"),
    ],
)
def test_malformed_csv_names_file_and_line(tmp_path, content, line, words):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(DataFormatError) as caught:
        read_interactions(path)
    assert str(caught.value).startswith(f"{path}, line {line}: ")
    assert words in str(caught.value)
    assert caught.value.line == line


def test_malformed_u_data_names_the_line(tmp_path):
    path = tmp_path / "u.data"
    path.write_text("1\t2\t3\t881250949\n1\t2\tfive\t881250949\n")
    with pytest.raises(DataFormatError, match=r"u.data, line 2: score"):
        read_interactions(path, format="movielens")


def test_missing_column_is_named(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("user,product_id\n1,2\n")
    with pytest.raises(DataFormatError, match="missing column"):
        read_interactions(path)


def test_empty_file_and_unknown_format(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(DataFormatError, match="empty"):
        read_interactions(path)
    with pytest.raises(DataFormatError, match="unknown format"):
        read_interactions(path, format="xml")
    with pytest.raises(FileNotFoundError):
        read_interactions(tmp_path / "absent.csv")


def test_not_parquet_is_a_clear_error(tmp_path):
    path = tmp_path / "events.parquet"
    path.write_text("not parquet")
    with pytest.raises(DataFormatError, match="not a readable Parquet file"):
        read_interactions(path, format="parquet")


def test_movielens_100k(movielens_dir):
    frame = read_interactions(movielens_dir / "u.data", format="movielens")
    assert len(frame) == 100_000
    assert frame["user_id"].nunique() == 943
    assert frame["product_id"].nunique() == 1682
