"""Entry point `train`: fit and compare candidates, register the best, guard the champion.

Inputs: the store in `$DISCERNER_HOME` (read-only snapshot); the registered model name, alias,
selection metric, seed, validation fraction, candidate families, the search's time budget and
user cap (`auto`: by the data's size); the engine (`library`, or `spark` with a master URL and
optionally a Parquet export to read).
Outputs: one parent MLflow run (data version, split, search plan and rounds, plots,
`candidates.csv`) with a nested run per trial of the search (parameters, `ndcg_at_10` and the
other metrics, timings, its round and sample of users); the winner
refitted on all data and logged as the pyfunc model `model`; a new registered version; the
`champion` alias moved only when the winner beats the current champion on the same split.
"""

from __future__ import annotations

import argparse
import logging

from discerner import config, training


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments and run `discerner.training.train`."""
    parser = argparse.ArgumentParser(prog="python -m pipelines.train", description=__doc__)
    parser.add_argument("--name", default=config.MODEL_NAME, help="Registered model name.")
    parser.add_argument(
        "--alias", default=config.CHAMPION_ALIAS, help="Alias of the serving version."
    )
    parser.add_argument("--metric", default="ndcg_at_10", help="Selection metric.")
    parser.add_argument("--seed", type=float, default=42, help="Seed of the split.")
    parser.add_argument("--validation-fraction", type=float, default=0.2)
    parser.add_argument("--candidates", default="all", help="Comma-separated families, or all.")
    parser.add_argument(
        "--budget", type=budget, default="auto", help="Search budget: 5m, 90s, none, auto."
    )
    parser.add_argument(
        "--max-search-users", type=users, default="auto", help="0: every user; auto: by size."
    )
    parser.add_argument("--engine", choices=["library", "spark"], default="library")
    parser.add_argument("--spark-master", default="local[*]", help="Spark master URL.")
    parser.add_argument("--data", default="", help="A Parquet export for Spark (default: export).")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    families = None if args.candidates == "all" else tuple(args.candidates.split(","))
    settings = training.TrainSettings(
        name=args.name,
        alias=args.alias,
        metric=args.metric,
        seed=int(args.seed),
        validation_fraction=args.validation_fraction,
        families=families,
        budget_seconds=args.budget,
        max_search_users=args.max_search_users,
        engine=args.engine,
        spark_master=args.spark_master,
        data=args.data or None,
    )
    print(training.train(settings).summary())


def budget(text: str) -> float | str | None:
    """`--budget`: seconds, None (no limit) or "auto" (`discerner.training.parse_budget`)."""
    try:
        return training.parse_budget(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def users(text: str) -> int | str | None:
    """`--max-search-users`: a count (MLflow may write it as a float), 0 for all, or "auto"."""
    return text if text == training.AUTO else int(float(text)) or None


if __name__ == "__main__":
    main()
