"""The old home of `discerner.tracking.pyfunc`, kept for models registered before the move.

A registered version's pickled `python_model` names its class by module; versions logged
before the MLflow side moved into `discerner.tracking` name `discerner.pyfunc.RecommenderModel`.
"""

from discerner.tracking.pyfunc import RecommenderModel

__all__ = ["RecommenderModel"]
