"""Recommenders: popularity, PureSVD, item and user kNN; `load` rebuilds a saved model."""

from discerner.models.base import Recommender, load
from discerner.models.blend import Blend
from discerner.models.knn import ItemKNN, UserKNN
from discerner.models.popularity import LivePopularity, Popularity
from discerner.models.svd import PureSVD

__all__ = [
    "Blend",
    "ItemKNN",
    "LivePopularity",
    "Popularity",
    "PureSVD",
    "Recommender",
    "UserKNN",
    "load",
]
