"""Entry point `train`: fit and compare candidates, register the best, guard the champion.

Inputs: the store in `$DISCERNER_HOME` (read-only snapshot); the registered model name, alias,
selection metric, seed, validation fraction, candidate families and search user cap; the engine
(`library`, or `spark` with a master URL and optionally a Parquet export to read).
Outputs: one parent MLflow run (data version, split, parameters, plots, `candidates.csv`) with a
nested run per candidate (parameters, `ndcg_at_10` and the other metrics, timings); the winner
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
    parser.add_argument("--max-search-users", type=float, default=20_000, help="0: every user.")
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
        max_search_users=int(args.max_search_users) or None,
        engine=args.engine,
        spark_master=args.spark_master,
        data=args.data or None,
    )
    print(training.train(settings).summary())


if __name__ == "__main__":
    main()
