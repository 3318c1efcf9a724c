"""The Spark session of a training run: quiet (no UI, no progress bars), our Python everywhere."""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

import psutil
from pyspark import SparkContext
from pyspark.sql import SparkSession

from discerner.errors import TrainingError

logger = logging.getLogger(__name__)

DEFAULT_MASTER = "local[*]"
DEFAULTS = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "16",
    "spark.sql.adaptive.enabled": "true",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.session.timeZone": "UTC",
}
# In local mode the executors live in the driver's JVM, whose heap is Spark's 1 GB unless set:
# 20M activities do not stay cached in it and every pass reads them again. A local master gets
# this share of the machine's memory (within 1 and 32 GB) unless `spark.driver.memory` is given
# (as conf or `SPARK_DRIVER_MEMORY`).
LOCAL_MEMORY_SHARE = 0.5


def start(
    master: str = DEFAULT_MASTER, conf: Mapping[str, str] | None = None
) -> tuple[SparkSession, bool]:
    """Start (or reuse) a session on `master`.

    Executors run this interpreter (`PYSPARK_PYTHON` unless already set), which has Discerner
    and its dependencies on this machine and on a cluster that shares its environment; on
    other masters the `discerner` package itself is also shipped with `addPyFile`.

    Args:
        master: A Spark master URL: `local[*]`, `local[2]`, `spark://host:7077`, `yarn`, ...
        conf: Extra Spark settings (`spark.executor.memory`, ...), winning over the defaults.

    Returns:
        (session, owned): owned is False when this process already ran Spark on the same
        master and that was reused; the caller stops only a session it owns.

    Raises:
        TrainingError: Spark already runs in this process on another master.
    """
    running = SparkContext._active_spark_context  # one context per process, at most
    if running is not None:
        if running.master != master:
            raise TrainingError(
                f"this process already runs Spark on {running.master}, not {master}: stop it first"
            )
        return SparkSession(running), False
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.master(master).appName("discerner-train")
    for key, value in {**DEFAULTS, **local_defaults(master), **(conf or {})}.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("WARN")
    if not master.startswith("local"):
        ship_package(session)
    logger.info("Spark %s on %s", session.version, master)
    return session, True


def local_defaults(master: str) -> dict[str, str]:
    """`spark.driver.memory` for a local master (`LOCAL_MEMORY_SHARE` of the machine), else {}."""
    if not master.startswith("local") or os.environ.get("SPARK_DRIVER_MEMORY"):
        return {}
    gigabytes = int(psutil.virtual_memory().total * LOCAL_MEMORY_SHARE / 2**30)
    return {"spark.driver.memory": f"{min(max(gigabytes, 1), 32)}g"}


def ship_package(session: SparkSession) -> None:
    """Send the `discerner` package to the executors (they still need its dependencies)."""
    import discerner

    source = Path(discerner.__file__).parent
    folder = tempfile.mkdtemp(prefix="discerner-spark-")
    archive = shutil.make_archive(
        os.path.join(folder, "discerner"), "zip", source.parent, source.name
    )
    session.sparkContext.addPyFile(archive)
