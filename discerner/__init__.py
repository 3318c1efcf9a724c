"""Discerner: a self-hosted recommendation service and the library behind it.

The parts: `store` (durable data behind the `StoreContract`), `matrix` and `models` (the
recommenders), `evaluation` (splits, metrics, model selection), `tracking` (MLflow runs, the
registry, the pyfunc flavour), `training` (the pipeline from data to a registered champion),
`client` (the HTTP API's Python binding) and `cli` (the `discerner` command).
"""

import os

# MLflow looks up a telemetry host at import time unless this is set first; Discerner never
# phones home, so it is set here, before any module of ours can import mlflow.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

__version__ = "0.1.0"
