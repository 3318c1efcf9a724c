"""Recommenders: popularity, PureSVD, item and user kNN; `load` rebuilds a saved model."""

from discerner.models.base import Recommender, load
from discerner.models.popularity import Popularity
from discerner.models.svd import PureSVD

__all__ = ["Popularity", "PureSVD", "Recommender", "load"]
