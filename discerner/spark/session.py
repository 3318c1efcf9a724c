"""The Spark session of a training run: quiet (no UI, tqdm for progress), our Python everywhere."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

import psutil
from pyspark import SparkContext
from pyspark.sql import SparkSession
from tqdm.auto import tqdm

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


@contextlib.contextmanager
def progress(spark: SparkSession, desc: str, every: float = 1.0) -> Iterator[tqdm]:
    """A tqdm bar of the Spark tasks that run inside the block: done / started so far.

    Spark's own console bar is off (it fights with logs and tqdm); this one polls the status
    tracker every `every` seconds from a thread, over the jobs started since the block began.
    A stage counts once it runs (a stage skipped for a cached shuffle never does), so the total
    grows as Spark starts more stages.
    """
    tracker = spark.sparkContext.statusTracker()
    before = set(tracker.getJobIdsForGroup())
    stages: dict[int, tuple[int, int]] = {}  # stage -> (tasks, completed)
    stop = threading.Event()
    bar = tqdm(desc=desc, unit="task", total=0, leave=False)

    def update() -> None:
        for job in set(tracker.getJobIdsForGroup()) - before:
            info = tracker.getJobInfo(job)
            for stage in list(info.stageIds) if info is not None else []:
                if stage in stages and stages[stage][0] == stages[stage][1]:
                    continue  # finished
                found = tracker.getStageInfo(stage)
                if found is not None and found.numActiveTasks + found.numCompletedTasks > 0:
                    stages[stage] = (found.numTasks, found.numCompletedTasks)
        bar.total = sum(tasks for tasks, _ in stages.values())
        bar.n = sum(done for _, done in stages.values())
        bar.refresh()

    def poll() -> None:
        while not stop.wait(every):
            update()

    watcher = threading.Thread(target=poll, name="spark-progress", daemon=True)
    watcher.start()
    try:
        yield bar
    finally:
        stop.set()
        watcher.join()
        update()
        bar.close()
