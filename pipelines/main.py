"""Entry point `main`: the whole workflow, each step run as its own MLflow project run.

Inputs: `--data` (an interactions file to import first; empty to train on the store as it is),
`--format`, and the train step's seed, validation fraction and candidates. Outputs: the runs of
`import` (when data is given), `train` and `evaluate` (the champion on a temporal split), whose
ids are recorded as tags on this run.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import mlflow
import mlflow.projects

from discerner import tracking

PROJECT = Path(__file__).resolve().parents[1]


def _step(entry_point: str, parameters: dict) -> str:
    submitted = mlflow.projects.run(
        str(PROJECT),
        entry_point=entry_point,
        parameters=parameters,
        env_manager="local",
        experiment_id=tracking.experiment_id(),
    )
    return submitted.run_id


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments and run import (optional), train and evaluate in turn."""
    parser = argparse.ArgumentParser(prog="python -m pipelines.main", description=__doc__)
    parser.add_argument("--data", default="", help="A file to import first (empty: none).")
    parser.add_argument("--format", default="csv", help="csv, movielens or parquet.")
    parser.add_argument("--seed", type=float, default=42)
    parser.add_argument("--validation-fraction", type=float, default=0.2)
    parser.add_argument("--candidates", default="all")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    tracking.setup()
    train = {
        "seed": int(args.seed),
        "validation_fraction": args.validation_fraction,
        "candidates": args.candidates,
    }
    with mlflow.start_run(experiment_id=tracking.experiment_id(), run_name="main"):
        if args.data:
            mlflow.set_tag(
                "import_run", _step("import", {"path": args.data, "format": args.format})
            )
        mlflow.set_tag("train_run", _step("train", train))
        mlflow.set_tag("evaluate_run", _step("evaluate", {"split": "temporal"}))


if __name__ == "__main__":
    main()
