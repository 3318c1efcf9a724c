"""Entry point `evaluate`: score registered versions on a chosen split of the store's data.

Inputs: the store in `$DISCERNER_HOME`; the registered model name; `--version` (a number,
`champion` or `all`); the split (`random` or `temporal`), its seed and test fraction.
Outputs: an `evaluate` MLflow run with a nested run per version (its configuration refitted on
the split's training part, metrics on the test part) and `eval_<split>_ndcg_at_<k>` tags on
each version; the table is printed.
"""

from __future__ import annotations

import argparse
import logging

from discerner import config, training
from discerner.training import assessment


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments and run `discerner.training.assessment.evaluate_versions`."""
    parser = argparse.ArgumentParser(prog="python -m pipelines.evaluate", description=__doc__)
    parser.add_argument("--name", default=config.MODEL_NAME, help="Registered model name.")
    parser.add_argument(
        "--version", default=config.CHAMPION_ALIAS, help="A number, champion or all."
    )
    parser.add_argument("--split", choices=("random", "temporal"), default="random")
    parser.add_argument("--seed", type=float, default=42, help="Seed of the split.")
    parser.add_argument("--test-fraction", type=float, default=0.2)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    versions = {"champion": None, "all": "all"}.get(args.version, [args.version])
    table = assessment.evaluate_versions(
        name=args.name,
        versions=versions,
        split=args.split,
        seed=int(args.seed),
        test_fraction=args.test_fraction,
    )
    print(training.brief(table))


if __name__ == "__main__":
    main()
