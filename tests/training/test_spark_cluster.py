"""Spark training on a real standalone cluster: one master and two workers on this machine."""

import json
import os
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from spark_marks import SPARK_TESTS

from discerner.models import PureSVD
from serving.runtime.launch import free_port

pyspark = pytest.importorskip("pyspark")
pytestmark = SPARK_TESTS


def read_json(url: str):
    with urllib.request.urlopen(url, timeout=30) as answer:
        return json.load(answer)


def wait_for(condition, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError("timed out")


@pytest.fixture
def cluster(tmp_path):
    """A master and two one-core workers started with pyspark's own spark-class."""
    home = Path(pyspark.__file__).parent
    env = {**os.environ, "SPARK_HOME": str(home), "SPARK_LOCAL_IP": "127.0.0.1"}
    env["SPARK_LOG_DIR"] = env["SPARK_WORKER_DIR"] = str(tmp_path)
    port, ui = free_port(), free_port()
    master = f"spark://127.0.0.1:{port}"
    spark_class = str(home / "bin" / "spark-class")
    commands = [
        [
            spark_class,
            "org.apache.spark.deploy.master.Master",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--webui-port",
            str(ui),
        ],
        *(
            [
                spark_class,
                "org.apache.spark.deploy.worker.Worker",
                master,
                "--cores",
                "1",
                "--memory",
                "1g",
                "--host",
                "127.0.0.1",
                "--webui-port",
                str(free_port()),
                "--work-dir",
                str(tmp_path / f"worker{n}"),
            ]
            for n in range(2)
        ),
    ]
    logs = [open(tmp_path / f"process{n}.log", "wb") for n in range(3)]  # noqa: SIM115
    processes = []
    try:
        for command, log in zip(commands, logs, strict=True):
            processes.append(subprocess.Popen(command, env=env, stdout=log, stderr=log))
        status = f"http://127.0.0.1:{ui}/json"
        wait_for(
            lambda: len([w for w in read_json(status)["workers"] if w["state"] == "ALIVE"]) == 2
        )
        yield master, status
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        for log in logs:
            log.close()


def test_training_on_a_standalone_cluster_uses_both_workers(cluster, home, generated):
    from discerner import training
    from discerner.spark import session
    from discerner.tracking import registry

    master, status = cluster
    ui_port = free_port()
    conf = {
        "spark.cores.max": "2",
        "spark.executor.cores": "1",
        "spark.executor.memory": "512m",
        "spark.ui.enabled": "true",  # the app's REST API says which executor ran what
        "spark.ui.port": str(ui_port),
        "spark.driver.host": "127.0.0.1",
        "spark.sql.shuffle.partitions": "2",
    }
    spark, _ = session.start(master, conf)
    try:
        context = spark.sparkContext
        app = context.applicationId
        # The driver counts as one: wait for both workers' executors to register.
        wait_for(lambda: context._jsc.sc().getExecutorMemoryStatus().size() == 3)
        settings = training.TrainSettings(
            engine="spark",
            spark_master=master,
            candidates={"svd8": PureSVD(n_components=8)},
        )
        outcome = training.train(settings, generated.activities)
        executors = read_json(f"http://127.0.0.1:{ui_port}/api/v1/applications/{app}/executors")
    finally:
        spark.stop()
    assert outcome.version == "1" and outcome.decision.promote
    model, info = registry.load_champion()
    assert info["model_class"] == "PureSVD"
    assert len(model.recommend(model.known_users()[:2], n=5)) == 10
    workers = [e for e in executors if e["id"] != "driver"]
    assert len(workers) == 2
    assert all(e["totalTasks"] > 0 for e in workers), workers
    master_status = read_json(status)  # the master saw the application too
    apps = master_status["activeapps"] + master_status["completedapps"]
    assert app in {found["id"] for found in apps}
