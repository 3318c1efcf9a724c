"""Data sources: a seeded synthetic generator with planted structure, and interaction file readers.

`generate` makes users, products (with a readable name and a shop category such as `books` or
`garden`) and activities whose right answer is known:
each user prefers one category, and most of their activities fall in it, drawn by a long-tailed
(Zipf-like) product popularity. A recommender that learns should put a user's favourite category
at the top far more often than popularity does.

`read_interactions` reads MovieLens (`u.data`, `ratings.dat`, `ratings.csv`), generic CSV and
Parquet files into the one frame shape of `discerner.schema.validate_interactions`, naming the
file and line of the first malformed row.
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from discerner.errors import DataFormatError
from discerner.schema import INTERACTION_COLUMNS, PRODUCT_ID, SCORE, USER_ID, validate_interactions

FORMATS = ("csv", "movielens", "parquet")
_EPOCH_START = 1_600_000_000  # 2020-09-13, the first synthetic timestamp (Unix seconds)
_TIME_SPAN = 3 * 365 * 24 * 3600


@dataclass(frozen=True)
class SyntheticData:
    """A generated data set and its planted truth.

    Attributes:
        users: `id`, `category` (the user's favourite product category).
        products: `id`, `name` (such as "Blue Teapot"), `category` (`books`, `music`, …),
            `popularity` (the product's relative weight).
        activities: `user_id`, `product_id`, `score`, `timestamp` (validated shape).
    """

    users: pd.DataFrame
    products: pd.DataFrame
    activities: pd.DataFrame

    def favourite_category(self, user_ids: np.ndarray) -> np.ndarray:
        """The planted favourite category of each of `user_ids`."""
        return self.users.set_index("id").loc[np.asarray(user_ids), "category"].to_numpy()


def generate(
    n_users: int = 500,
    n_products: int = 200,
    n_activities: int = 10_000,
    *,
    n_categories: int = 10,
    affinity: float = 0.8,
    zipf_exponent: float = 1.0,
    seed: int = 0,
) -> SyntheticData:
    """Generate users, products and activities with a planted category preference.

    Each product has a category and a Zipf-like popularity weight (`1 / rank ** zipf_exponent`,
    ranks shuffled). Each user has a favourite category and a long-tailed activity count (at
    least one). An activity is, with probability `affinity`, a product of the user's favourite
    category, else any product, both drawn by popularity. Scores (1–5) are higher inside the
    favourite category; timestamps increase over three years. Everything is vectorised: 20M
    activities take seconds. Ids start at 1. Repeated (user, product) pairs can occur, as in
    real event logs.

    Args:
        n_users: Number of users (>= 1).
        n_products: Number of products (>= n_categories).
        n_activities: Number of activities (>= n_users: every user has at least one).
        n_categories: Number of product categories.
        affinity: Share of a user's activities that fall in their favourite category.
        zipf_exponent: Popularity skew; 0 is uniform.
        seed: Seed of the random generator: the same arguments give the same data.

    Returns:
        The data and its planted truth.

    Raises:
        ValueError: Sizes that cannot hold the structure.
    """
    if n_users < 1 or n_products < n_categories or n_categories < 1 or n_activities < n_users:
        raise ValueError(
            "need n_users >= 1, n_products >= n_categories >= 1 and n_activities >= n_users"
        )
    if not 0.0 <= affinity <= 1.0:
        raise ValueError("affinity must be between 0 and 1")
    rng = np.random.default_rng(seed)
    categories = _product_categories(n_products, n_categories, rng)
    popularity = 1.0 / rng.permutation(np.arange(1, n_products + 1)) ** zipf_exponent
    favourite = rng.integers(0, n_categories, n_users)
    counts = _activity_counts(n_users, n_activities, rng)
    user_index = np.repeat(np.arange(n_users), counts)
    in_favourite = rng.random(n_activities) < affinity
    product_index = _draw_products(
        categories, popularity, favourite[user_index], in_favourite, n_categories, rng
    )
    matches = categories[product_index] == favourite[user_index]
    scores = np.clip(np.rint(2.5 + 1.5 * matches + rng.normal(0, 0.8, n_activities)), 1, 5)
    seconds = _EPOCH_START + np.sort(rng.integers(0, _TIME_SPAN, n_activities))
    order = rng.permutation(n_activities)  # time order is independent of the user
    activities = pd.DataFrame(
        {
            USER_ID: user_index[order] + 1,
            PRODUCT_ID: product_index[order] + 1,
            SCORE: scores[order],
            "timestamp": pd.to_datetime(seconds, unit="s", utc=True).astype("datetime64[us, UTC]"),
        }
    )
    users = pd.DataFrame({"id": np.arange(1, n_users + 1), "category": _names(favourite)})
    products = pd.DataFrame(
        {
            "id": np.arange(1, n_products + 1),
            "name": _product_names(categories),
            "category": _names(categories),
            "popularity": popularity / popularity.sum(),
        }
    )
    return SyntheticData(users, products, activities)


# A small shop: category -> things it sells. Names are made from these, never drawn from the
# random generator, so the planted structure of a seed does not depend on them.
SHOP = {
    "books": ("Novel", "Cookbook", "Atlas", "Poetry Collection", "Biography", "Field Guide"),
    "music": ("Vinyl Album", "Jazz Record", "Piano Songbook", "Guitar Strings", "Live Album"),
    "games": ("Board Game", "Card Game", "Puzzle", "Chess Set", "Strategy Game"),
    "garden": ("Watering Can", "Seed Mix", "Trowel", "Planter", "Hose Reel", "Pruner"),
    "kitchen": ("Teapot", "Skillet", "Knife Set", "Mixing Bowl", "Coffee Grinder", "Apron"),
    "toys": ("Kite", "Building Blocks", "Plush Bear", "Toy Train", "Yo-yo"),
    "sports": ("Football", "Yoga Mat", "Tennis Racket", "Jump Rope", "Water Bottle"),
    "outdoors": ("Tent", "Backpack", "Lantern", "Sleeping Bag", "Compass"),
    "beauty": ("Hand Cream", "Soap Bar", "Hair Brush", "Face Mask", "Lip Balm"),
    "electronics": ("Headphones", "Speaker", "Charger", "Desk Lamp", "Keyboard"),
    "films": ("Western", "Documentary", "Comedy", "Thriller", "Animated Feature"),
    "crafts": ("Yarn", "Sketchbook", "Paint Set", "Sewing Kit", "Clay"),
}
_ADJECTIVES = (
    "Blue", "Classic", "Little", "Bright", "Quiet", "Golden", "Wild", "Cosy", "Modern", "Green",
    "Royal", "Rustic", "Silver", "Sunny", "Deluxe", "Simple", "Northern", "Velvet",
)  # fmt: skip


def _names(categories: np.ndarray) -> np.ndarray:
    """Category names: the shop's, then `category-12`, … when more are asked for."""
    names = [
        *SHOP,
        *(f"category-{i}" for i in range(len(SHOP), int(categories.max(initial=0)) + 1)),
    ]
    return np.asarray(names, dtype=object)[categories]


def _product_names(categories: np.ndarray) -> np.ndarray:
    """A readable name per product, unique: "Blue Teapot", "Classic Teapot", … "Blue Teapot 2"."""
    things = list(SHOP.values())
    names = np.empty(len(categories), dtype=object)
    seen = np.zeros(int(categories.max(initial=0)) + 1, dtype=np.int64)
    for position, category in enumerate(categories.tolist()):
        kinds = things[category] if category < len(things) else (f"Item of category-{category}",)
        count = int(seen[category])
        seen[category] += 1
        adjective = _ADJECTIVES[(count // len(kinds) + 5 * category) % len(_ADJECTIVES)]
        name = f"{adjective} {kinds[count % len(kinds)]}"
        cycle = count // (len(kinds) * len(_ADJECTIVES))
        names[position] = f"{name} {cycle + 1}" if cycle else name
    return names


def _product_categories(n_products: int, n_categories: int, rng) -> np.ndarray:
    """Every category gets at least one product; the rest are spread at random."""
    categories = np.concatenate(
        [np.arange(n_categories), rng.integers(0, n_categories, n_products - n_categories)]
    )
    return rng.permutation(categories)


def _activity_counts(n_users: int, n_activities: int, rng) -> np.ndarray:
    """Long-tailed (log-normal) counts, at least one each, summing to `n_activities`."""
    weights = rng.lognormal(0.0, 1.0, n_users)
    extra = n_activities - n_users
    counts = 1 + np.floor(weights / weights.sum() * extra).astype(np.int64)
    shortfall = n_activities - counts.sum()
    np.add.at(counts, rng.choice(n_users, shortfall, p=weights / weights.sum()), 1)
    return counts


def _draw_products(categories, popularity, wanted, in_favourite, n_categories, rng) -> np.ndarray:
    """Draw by popularity: within the wanted category where `in_favourite`, else from all."""
    by_category = np.argsort(categories, kind="stable")
    cumulative = np.cumsum(popularity[by_category])
    ends = np.searchsorted(categories[by_category], np.arange(n_categories), side="right")
    starts = np.concatenate([[0], ends[:-1]])
    low = np.where(starts > 0, cumulative[np.maximum(starts - 1, 0)], 0.0)
    high = cumulative[ends - 1]
    lower = np.where(in_favourite, low[wanted], 0.0)
    upper = np.where(in_favourite, high[wanted], cumulative[-1])
    targets = lower + rng.random(len(wanted)) * (upper - lower)
    positions = np.searchsorted(cumulative, targets, side="right")
    return by_category[np.minimum(positions, len(cumulative) - 1)]


def read_interactions(path: str | os.PathLike[str], format: str = "csv") -> pd.DataFrame:
    """Read an interactions file into the validated frame shape.

    Formats:
        `movielens`: MovieLens `u.data` (tab-separated user, item, rating, Unix time; no
        header), `ratings.dat` of MovieLens 1M and 10M (the same fields separated by `::`)
        or `ratings.csv` (header `userId,movieId,rating,timestamp`); chosen by the file's
        first line.
        `csv`: a header with `user_id`, `product_id` and optional `score`, `timestamp`, `type`.
        `parquet`: columns named as for `csv`.

    Args:
        path: The file to read.
        format: One of `csv`, `movielens`, `parquet`.

    Returns:
        A frame as `discerner.schema.validate_interactions` returns it.

    Raises:
        DataFormatError: Unknown format, unreadable file, or a malformed row (the message names
            the file and its line).
        FileNotFoundError: The file does not exist.
    """
    path = Path(path)
    if format not in FORMATS:
        raise DataFormatError(f"unknown format {format!r}; use one of {', '.join(FORMATS)}")
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    if format == "parquet":
        return _read_parquet(path)
    if format == "movielens":
        return _read_movielens(path)
    return _read_csv(path, sep=",", header=True, names=None)


def _read_movielens(path: Path) -> pd.DataFrame:
    with path.open(encoding="utf-8", errors="replace") as handle:
        first = handle.readline()
    if first.lower().startswith("userid"):
        renames = {"userId": USER_ID, "movieId": PRODUCT_ID, "rating": SCORE}
        return _read_csv(path, sep=",", header=True, names=None, renames=renames)
    sep = "::" if "::" in first else "\t"
    return _read_csv(path, sep=sep, header=False, names=list(INTERACTION_COLUMNS))


def _read_csv(path: Path, sep: str, header: bool, names, renames=None) -> pd.DataFrame:
    try:
        frame = pd.read_csv(
            path,
            sep=sep,
            header=0 if header else None,
            names=names,
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=False,
            engine="c" if len(sep) == 1 else "python",  # the C parser takes one-character seps
        )
    except pd.errors.EmptyDataError as error:
        raise DataFormatError("the file is empty", path=str(path)) from error
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        message, line = _parser_message(error), _parser_line(error)
        raise DataFormatError(message, path=str(path), line=line) from error
    if renames:
        frame = frame.rename(columns=renames)
    _check_row_widths(frame, path, header)
    first_line = 2 if header else 1
    return validate_interactions(frame, source=str(path), first_line=first_line)


def _check_row_widths(frame: pd.DataFrame, path: Path, header: bool) -> None:
    """Short rows come back padded with empty strings; report the first one."""
    if frame.empty:
        return
    needed = [c for c in (USER_ID, PRODUCT_ID) if c in frame.columns]
    empty = (frame[needed] == "").any(axis=1).to_numpy()
    if empty.any():
        position = int(np.flatnonzero(empty)[0])
        raise DataFormatError(
            "missing field(s): expected user_id and product_id",
            path=str(path),
            line=position + (2 if header else 1),
        )


def _parser_message(error: Exception) -> str:
    text = str(error).strip().splitlines()[-1]
    return f"cannot parse: {text}"


def _parser_line(error: Exception) -> int | None:
    found = re.search(r"\bline (\d+)", str(error))
    return int(found.group(1)) if found else None


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_parquet(path)
    except Exception as error:  # pyarrow raises several types for a file that is not Parquet
        raise DataFormatError(f"not a readable Parquet file ({error})", path=str(path)) from error
    return validate_interactions(frame, source=str(path), first_line=None)


def write_csv(frame: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write interactions as the generic CSV `read_interactions` reads (Unix-second timestamps)."""
    out = frame.loc[:, list(INTERACTION_COLUMNS)].copy()
    out["timestamp"] = out["timestamp"].astype("int64") // 1_000_000
    out.to_csv(path, index=False, quoting=csv.QUOTE_MINIMAL)
