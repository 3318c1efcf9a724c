"""Discerner: a self-hosted recommendation service and the library behind it."""

import os

# MLflow looks up a telemetry host at import time unless this is set first; Discerner never
# phones home, so it is set here, before any module of ours can import mlflow.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

__version__ = "0.1.0"
