"""Entry point `import`: bulk-load an interactions file into the store.

Inputs: `--path` (a csv, MovieLens or Parquet file) and `--format`; the store
(`$DISCERNER_STORE`, else the one in `$DISCERNER_HOME`). Outputs: the rows added to the store
(all or nothing); on the MLflow run, the file and format as parameters, the counts as metrics
and the store's data version as a tag.
"""

from __future__ import annotations

import argparse
import json
import logging

import mlflow

from discerner import config, tracking
from discerner.datasets import FORMATS, read_interactions
from discerner.store import open_store


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments, import the file, and record what was imported."""
    parser = argparse.ArgumentParser(prog="python -m pipelines.import_data", description=__doc__)
    parser.add_argument("--path", required=True, help="The interactions file.")
    parser.add_argument("--format", choices=FORMATS, default="csv", help="The file's format.")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    tracking.setup()
    frame = read_interactions(args.path, format=args.format)
    with open_store(config.store_url(config.ensure_home())) as store:
        counts = store.import_interactions(frame)
        version = store.data_version()
    with mlflow.start_run(experiment_id=tracking.experiment_id(), run_name="import"):
        tracking.log_new_params({"path": args.path, "format": args.format})
        mlflow.log_metrics({k: v for k, v in counts.items() if isinstance(v, int | float)})
        mlflow.set_tag("data_version", json.dumps(version, sort_keys=True, default=str))
    print(f"Imported {counts['activities']} activities; data version {version}")


if __name__ == "__main__":
    main()
