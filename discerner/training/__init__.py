"""Training: from the store's data to a registered champion, and the tables and plots around it.

- `pipeline`: `train` (snapshot, validation split, candidate search, refit, register, champion
  guard) and `tune`; its public names are this package's own (`training.train`, ...). How the
  champion is chosen: `pipeline.train`, with the search in `discerner.evaluation.selection`
  and the guard in `discerner.tracking.registry.decide`.
- `assessment`: re-scoring registered versions on a split (`discerner evaluate`).
- `explore`: the data and run tables the notebooks show.
- `plots`: the figures of training runs and notebooks.
"""

from discerner.errors import TrainingError
from discerner.training.pipeline import (
    AUTO,
    DEFAULT_KS,
    TrainOutcome,
    TrainSettings,
    brief,
    candidate_models,
    child_run,
    data_and_version,
    fit_candidates,
    frame_version,
    load_store,
    log_model,
    model_params,
    parse_budget,
    search_candidates,
    search_plan,
    train,
    tune,
    validation_split,
)

__all__ = [
    "AUTO",
    "DEFAULT_KS",
    "TrainOutcome",
    "TrainSettings",
    "TrainingError",
    "brief",
    "candidate_models",
    "child_run",
    "data_and_version",
    "fit_candidates",
    "frame_version",
    "load_store",
    "log_model",
    "model_params",
    "parse_budget",
    "search_candidates",
    "search_plan",
    "train",
    "tune",
    "validation_split",
]
