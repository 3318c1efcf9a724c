"""Training on Apache Spark: the library's model families fitted and scored on a cluster.

`discerner train --engine spark [--spark-master URL]` runs the same pipeline as single-machine
training (`discerner.training.pipeline`: MLflow runs, registry, champion guard) with this
package's `SparkEngine` in place of the in-process one. What runs where:

- **Driver** (the `discerner train` process): the pipeline, MLflow logging and registration;
  the small results Spark sends back (product ids and counts, item factors, top-k neighbour
  lists, one row of summed metrics per candidate); and, for the winner only, the fit-time
  history the library model keeps (so the registered model answers known users by id).
- **Executors**: reading the Parquet export, the seeded validation split, merging repeated
  pairs and weighting, the distributed truncated SVD (`RowMatrix.computeSVD`), cosine item
  similarities (`RowMatrix.columnSimilarities`, exact or DIMSUM-sampled) and their top k per
  item, implicit ALS (`pyspark.ml.recommendation.ALS`), and the validation metrics: each
  executor scores its users' top k with the candidate (broadcast) and sums their metrics.

The registered artifact is the library's own model (`PureSVD`, `ItemKNN`, `ImplicitALS`,
`Popularity`), so serving needs neither Spark nor a JVM. Nothing outside this package imports
pyspark: single-machine training never loads it.
"""

from __future__ import annotations

import importlib.util
import os
import shutil

from discerner.errors import TrainingError

INSTALL_HINT = "pip install 'discerner[spark]'"


def require() -> None:
    """Check that pyspark and a Java runtime are installed.

    Raises:
        TrainingError: Saying what to install.
    """
    if importlib.util.find_spec("pyspark") is None:
        raise TrainingError(f"--engine spark needs pyspark: {INSTALL_HINT}")
    java_home = os.environ.get("JAVA_HOME")
    has_home = bool(java_home) and os.path.exists(os.path.join(java_home, "bin", "java"))
    if not has_home and shutil.which("java") is None:
        raise TrainingError(
            "--engine spark needs Java 17 or newer: install it (Debian/Ubuntu: "
            "apt-get install openjdk-17-jre-headless) or set JAVA_HOME"
        )


def __getattr__(name: str):
    # The engine imports pyspark: load it only when asked for.
    if name == "SparkEngine":
        require()
        from discerner.spark.engine import SparkEngine

        return SparkEngine
    raise AttributeError(name)


__all__ = ["INSTALL_HINT", "SparkEngine", "require"]
