"""Recommenders: popularity, PureSVD, EASE, item and user kNN, implicit ALS; `load` rebuilds one."""

from discerner.models.base import Recommender, load
from discerner.models.blend import Blend
from discerner.models.ease import EASE
from discerner.models.factors import ImplicitALS
from discerner.models.knn import ItemKNN, UserKNN
from discerner.models.popularity import LivePopularity, Popularity
from discerner.models.svd import PureSVD

__all__ = [
    "EASE",
    "Blend",
    "ImplicitALS",
    "ItemKNN",
    "LivePopularity",
    "Popularity",
    "PureSVD",
    "Recommender",
    "UserKNN",
    "load",
]
