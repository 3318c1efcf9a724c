"""`discerner train`, `evaluate`, `promote VERSION` and `models`: the MLflow side of the CLI."""

from __future__ import annotations

import click

from discerner import config
from discerner.cli import main

_NAME = click.option(
    "--name", default=config.MODEL_NAME, show_default=True, help="Registered model name."
)
_ALIAS = click.option(
    "--alias",
    default=config.CHAMPION_ALIAS,
    show_default=True,
    help="Alias of the serving version.",
)
_EXPERIMENT = click.option(
    "--experiment", default=config.EXPERIMENT, show_default=True, help="MLflow experiment."
)


class Budget(click.ParamType):
    """A time budget: `90s`, `5m`, `1h`, plain seconds, `none` or `0` (no limit), or `auto`."""

    name = "budget"

    def convert(self, value, param, ctx):
        """Seconds (a float), None for no limit, or "auto"."""
        if not isinstance(value, str):
            return value
        from discerner.training import pipeline

        try:
            return pipeline.parse_budget(value)
        except ValueError as error:
            self.fail(str(error), param, ctx)


@main.command()
@_NAME
@_ALIAS
@click.option("--metric", default="ndcg_at_10", show_default=True, help="Selection metric.")
@click.option("--seed", default=42, show_default=True, type=int, help="Seed of the split.")
@click.option(
    "--validation-fraction",
    default=0.2,
    show_default=True,
    type=float,
    help="Share of each user's activities held out for validation.",
)
@click.option(
    "--candidates",
    default=None,
    help="Comma-separated candidate families to fit (default: the library's whole grid).",
)
@click.option(
    "--budget",
    default="auto",
    show_default=True,
    type=Budget(),
    help="Time budget of the candidate search: 90s, 5m, 1h, seconds, or none (no limit). "
    "auto: none on small data (the whole grid on every user), about 5 minutes of training "
    "in all on large data.",
)
@click.option(
    "--max-search-users",
    default=None,
    type=int,
    help="Search candidates on at most this many users (seeded sample; 0: all; default: by "
    "the data's size). The winner is refitted on all users.",
)
@_EXPERIMENT
@click.option(
    "--engine",
    type=click.Choice(["library", "spark"]),
    default="library",
    show_default=True,
    help="Fit in this process, or on Apache Spark (pip install 'discerner[spark]', Java 17).",
)
@click.option(
    "--spark-master",
    default="local[*]",
    show_default=True,
    help="Spark master URL (local[N], spark://host:7077, yarn, ...).",
)
@click.option(
    "--data",
    default=None,
    help="With --engine spark: a Parquet export (`discerner export DIR`) to train on, as a "
    "path or URL every executor can read; default: export the store first.",
)
@click.option(
    "--spark-conf",
    multiple=True,
    metavar="KEY=VALUE",
    help="A Spark setting, e.g. spark.executor.memory=4g (repeatable).",
)
@click.option(
    "--similarity-threshold",
    default=0.0,
    show_default=True,
    type=float,
    help="With --engine spark: DIMSUM sampling threshold of item similarities (0: exact).",
)
def train(
    name: str,
    alias: str,
    metric: str,
    seed: int,
    validation_fraction: float,
    candidates: str | None,
    budget: float | str | None,
    max_search_users: int | None,
    experiment: str,
    engine: str,
    spark_master: str,
    data: str | None,
    spark_conf: tuple[str, ...],
    similarity_threshold: float,
) -> None:
    """Search candidates on the store's data, register the best, guard the champion.

    The search is successive halving over growing samples of users within --budget; each
    trial is an MLflow child run.
    """
    from discerner import training

    settings = training.TrainSettings(
        name=name,
        alias=alias,
        metric=metric,
        seed=seed,
        validation_fraction=validation_fraction,
        families=_families(candidates),
        budget_seconds=budget,
        max_search_users="auto" if max_search_users is None else max_search_users or None,
        experiment=experiment,
        engine=engine,
        spark_master=spark_master,
        spark_conf=_settings(spark_conf),
        data=data,
        similarity_threshold=similarity_threshold,
    )
    try:
        outcome = training.train(settings)
    except training.TrainingError as error:
        raise click.ClickException(str(error)) from None
    click.echo(outcome.summary())


def _settings(pairs: tuple[str, ...]) -> dict[str, str]:
    found = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--spark-conf")
        found[key.strip()] = value.strip()
    return found


def _families(text: str | None) -> tuple[str, ...] | None:
    if not text:
        return None
    return tuple(part.strip() for part in text.split(",") if part.strip())


@main.command()
@_NAME
@click.option("--version", "versions", multiple=True, help="Version to evaluate (repeatable).")
@click.option("--all", "every", is_flag=True, help="Evaluate every registered version.")
@click.option(
    "--split",
    type=click.Choice(["random", "temporal"]),
    default="random",
    show_default=True,
    help="How to split the store's data.",
)
@click.option("--seed", default=42, show_default=True, type=int, help="Seed of the split.")
@click.option("--test-fraction", default=0.2, show_default=True, type=float, help="Held-out share.")
@_EXPERIMENT
def evaluate(
    name: str,
    versions: tuple[str, ...],
    every: bool,
    split: str,
    seed: int,
    test_fraction: float,
    experiment: str,
) -> None:
    """Re-fit registered versions' configurations on a split of the store and score them.

    Without --version or --all, evaluates the champion.
    """
    from discerner import training
    from discerner.training import assessment

    try:
        table = assessment.evaluate_versions(
            name=name,
            versions="all" if every else (list(versions) or None),
            split=split,
            seed=seed,
            test_fraction=test_fraction,
            experiment=experiment,
        )
    except training.TrainingError as error:
        raise click.ClickException(str(error)) from None
    click.echo(training.brief(table))


@main.command()
@click.argument("version")
@_NAME
@_ALIAS
@click.option("--reason", default="promoted by hand", show_default=True, help="Recorded why.")
def promote(version: str, name: str, alias: str, reason: str) -> None:
    """Point the champion alias at VERSION (a person's decision, recorded on the version)."""
    from mlflow.exceptions import MlflowException

    from discerner import tracking
    from discerner.tracking import registry

    tracking.setup()
    try:
        promoted = registry.promote(version, name=name, alias=alias, reason=reason)
    except MlflowException as error:
        message = f"cannot promote {name} version {version}: {error.message}"
        raise click.ClickException(message) from None
    click.echo(f"{name}@{alias} -> version {promoted.version}")


@main.command()
@_NAME
@_ALIAS
def models(name: str, alias: str) -> None:
    """List registered versions with their scores; `*` marks the champion."""
    from discerner import tracking
    from discerner.tracking import registry

    tracking.setup()
    table = registry.versions_frame(name, alias)
    if table.empty:
        click.echo(f"No versions of {name!r} are registered yet; run `discerner train`.")
        return
    table.insert(0, "", table.pop("champion").map({True: "*", False: ""}))
    shown = table.drop(columns=["run_id"])
    click.echo(shown.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
