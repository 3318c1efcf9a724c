"""The accuracy protocol of the benchmarks: a per-user holdout, selection on the training part."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from discerner.evaluation.selection import Factory, Selection, evaluate, select_model
from discerner.evaluation.splits import random_split
from discerner.models import EASE, Blend, ImplicitALS, ItemKNN, Popularity, PureSVD, UserKNN
from discerner.models.base import Recommender


@dataclass
class ProtocolResult:
    """The outcome of `accuracy_protocol`: the test table and the selection that chose a model."""

    table: pd.DataFrame
    selection: Selection


def accuracy_protocol(
    interactions: pd.DataFrame,
    seed: int = 42,
    test_fraction: float = 0.2,
    k: Iterable[int] = (10,),
    candidates: Mapping[str, tuple[Factory, Any]] | None = None,
    baselines: Mapping[str, Recommender] | None = None,
    relevant: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
) -> ProtocolResult:
    """Score the library's selection and baselines on a held-out part of every user's rows.

    Holds out `test_fraction` of each user's rows (`random_split` with `seed`); every held-out
    row is relevant (but dislikes, rows with a negative score, and those `relevant` leaves out)
    and candidates are the training products the user has not rated. The
    library's `select_model` runs on the training part alone (its validation split is carved
    out of it); the selected configuration, refitted on the whole training part, and the
    baselines (default: every family with default parameters) are scored on the test part.

    Args:
        interactions: All interactions.
        seed: Seed of the test split and of the validation split.
        test_fraction: Share of each user's rows held out for the test.
        k: Cut-offs reported.
        candidates: Passed to `select_model`.
        baselines: Name -> unfitted model; default every family with default parameters.
        relevant: Picks the relevant rows of the test part (extra columns of `interactions`,
            such as a rating, are kept there), so that trainings on differently encoded copies
            of one data set are scored on one relevant set; default every row.

    Returns:
        ProtocolResult with the tidy test table (model `selected` is the selection's choice).
    """
    train, test = random_split(interactions, test_fraction, seed)
    if relevant is not None:
        test = relevant(test)
    selection = select_model(train, seed=seed, candidates=candidates)
    models = dict(baselines if baselines is not None else default_models())
    models["selected"] = selection.build()
    return ProtocolResult(table=evaluate(models, train, test, k), selection=selection)


def default_models() -> dict[str, Recommender]:
    """Every model family with its default parameters, keyed by family name."""
    return {
        "popularity": Popularity(),
        "pure_svd": PureSVD(),
        "item_knn": ItemKNN(),
        "rp3beta": ItemKNN(similarity="rp3beta", alpha=0.8, beta=0.6),
        "user_knn": UserKNN(),
        "blend": Blend(),
        "ease": EASE(),
        "als": ImplicitALS(),
    }
