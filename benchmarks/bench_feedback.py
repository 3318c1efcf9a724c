"""Typed feedback on MovieLens 100k: low ratings as dislikes, beside today's all-positive training.

Usage: `python -m benchmarks.bench_feedback [--quick] [--data PATH] [--seed 42]`.

The same ratings, encoded two ways, each run through the accuracy protocol
(`discerner.evaluation.accuracy_protocol`: 20% of each user's ratings held out at random with
the seed, `select_model` on the training part only, the chosen configuration and every family
at its defaults refitted and scored on the test part):

- today: every rating is an activity of the default type `score`, its score the rating, all of
  them positive (what the library did before activity types);
- typed: ratings 4-5 are `like` (positive, weight 1) and 3 is `ok` (positive, weight 0.5), each
  with the rating as its score (how much it was liked, as today); 1-2 are `dislike` (negative,
  weight 1) with score 1, one dislike. `discerner.feedback.FeedbackTypes` applies it as training
  applies the data folder's configuration: a dislike becomes a negative score, which models
  learn from by its magnitude and which lowers similar products in the user's own scores.

Both are scored on one relevant set: the held-out ratings of 4 or 5 (what the user liked), so
the two columns are comparable. The split is the same (both frames have the same rows in the
same order). Prints NDCG@10, P@10 and R@10 side by side with the difference; exits 1 when the
typed selection's NDCG@10 is below today's. `--quick` searches one configuration per family.
Skips (exit 0) when the data file is absent: MovieLens' licence forbids copying it here.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

TEST_FRACTION = 0.2
LIKED = 4  # held-out ratings at least this are the relevant set of both encodings
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ml-100k" / "u.data"
METRICS = ("ndcg_at_10", "precision_at_10", "recall_at_10")
TYPED = {
    "types": {
        "like": {"weight": 1.0, "meaning": "positive"},
        "ok": {"weight": 0.5, "meaning": "positive"},
        "dislike": {"weight": 1.0, "meaning": "negative"},
    }
}


def encodings(ratings: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Today's frame and the typed one (after FeedbackTypes), both keeping `rating`."""
    from discerner.feedback import FeedbackTypes

    rating = ratings["score"].to_numpy()
    kinds = np.where(rating >= LIKED, "like", np.where(rating == 3, "ok", "dislike"))
    typed = ratings.assign(type=kinds, score=np.where(kinds == "dislike", 1.0, rating))
    return {
        "today": ratings.assign(rating=rating),
        "typed": FeedbackTypes.from_dict(TYPED).apply(typed).assign(rating=rating),
    }


def quick_candidates() -> dict:
    """One configuration per family: the selection's code path at a fraction of its cost."""
    from discerner.evaluation.selection import DEFAULT_CANDIDATES

    return {
        family: (factory, list(grid)[:1]) for family, (factory, grid) in DEFAULT_CANDIDATES.items()
    }


def run(ratings: pd.DataFrame, seed: int, quick: bool) -> pd.DataFrame:
    """NDCG@10, P@10, R@10 per (model, encoding); the model `selected` is select_model's."""
    from discerner.evaluation import accuracy_protocol

    rows = []
    for name, frame in encodings(ratings).items():
        started = time.perf_counter()
        result = accuracy_protocol(
            frame,
            seed,
            TEST_FRACTION,
            candidates=quick_candidates() if quick else None,
            relevant=lambda test: test[test["rating"] >= LIKED],
        )
        wide = result.table.pivot(index="model", columns="metric", values="value")
        chosen = f"{result.selection.family} {result.selection.params}"
        for model, values in wide.loc[:, list(METRICS)].iterrows():
            rows.append({"model": model, "encoding": name, **values.to_dict()})
        print(f"{name}: {time.perf_counter() - started:.0f} s, selected {chosen}", flush=True)
    return pd.DataFrame(rows)


def print_table(results: pd.DataFrame) -> float:
    """The side-by-side table, best typed NDCG first; returns typed - today of `selected`."""
    wide = results.pivot(index="model", columns="encoding", values=list(METRICS))
    wide = wide.sort_values(("ndcg_at_10", "typed"), ascending=False)
    print(
        "| model | NDCG@10 today | NDCG@10 typed | difference | P@10 today / typed "
        "| R@10 today / typed |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for model, row in wide.iterrows():
        name = f"**{model}**" if model == "selected" else model
        today, typed = row[("ndcg_at_10", "today")], row[("ndcg_at_10", "typed")]
        print(
            f"| {name} | {today:.4f} | {typed:.4f} | {typed - today:+.4f} | "
            f"{row[('precision_at_10', 'today')]:.4f} / {row[('precision_at_10', 'typed')]:.4f} | "
            f"{row[('recall_at_10', 'today')]:.4f} / {row[('recall_at_10', 'typed')]:.4f} |"
        )
    selected = wide.loc["selected"]
    return float(selected[("ndcg_at_10", "typed")] - selected[("ndcg_at_10", "today")])


def main(argv: list[str] | None = None) -> int:
    """Run both encodings, print the table; 1 when typed feedback trains worse than today."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_feedback", description=__doc__
    )
    parser.add_argument("--quick", action="store_true", help="one configuration per family")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="MovieLens u.data")
    parser.add_argument("--seed", type=int, default=42, help="seed of the split")
    args = parser.parse_args(argv)
    if not args.data.exists():
        print(f"{args.data} is absent: nothing to measure")
        return 0
    from discerner.datasets import read_interactions

    ratings = read_interactions(args.data, format="movielens")
    print(
        f"{len(ratings):,} ratings; relevant: held-out ratings >= {LIKED}; seed {args.seed}",
        flush=True,
    )
    gain = print_table(run(ratings, args.seed, args.quick))
    return 0 if gain >= 0 else 1


if __name__ == "__main__":
    sys.exit(main())
