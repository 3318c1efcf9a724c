"""`discerner experiment start|status|stop|list`: A/B experiments between registered versions."""

from __future__ import annotations

import click

from discerner import config
from discerner.cli import main

_MODEL = click.option(
    "--model", default=config.MODEL_NAME, show_default=True, help="Registered model name."
)


@main.group()
def experiment() -> None:
    """A/B experiments: split users between registered versions and compare what they do.

    Definitions are tags of the registered model, so every server process follows them
    within its poll interval (DISCERNER_MODEL_POLL_SECONDS); one experiment runs at a time.
    """


def _fail(error: Exception) -> click.ClickException:
    return click.ClickException(str(error))


@experiment.command()
@click.argument("name")
@click.option(
    "--variant",
    "variants",
    multiple=True,
    required=True,
    metavar="[NAME=]TARGET:SHARE",
    help="A version number or alias and its share in percent (repeat; shares sum to 100). "
    "The first is the control.",
)
@click.option("--window-hours", default=24.0, show_default=True, help="Outcome window.")
@click.option(
    "--outcome-type",
    "outcome_types",
    multiple=True,
    help="Activity type that counts as an outcome (repeat; default: every type).",
)
@click.option("--sample-rate", default=1.0, show_default=True, help="Share of users logged.")
@_MODEL
def start(name, variants, window_hours, outcome_types, sample_rate, model) -> None:
    """Start experiment NAME, e.g. --variant champion:50 --variant 7:50."""
    from discerner import tracking
    from discerner.experiments import ExperimentError, book, parse_variant

    tracking.setup()
    try:
        started = book.start(
            name,
            [parse_variant(v) for v in variants],
            name=model,
            window_seconds=window_hours * 3600,
            outcome_types=tuple(outcome_types),
            sample_rate=sample_rate,
        )
    except ExperimentError as error:
        raise _fail(error) from None
    split = ", ".join(
        f"{v.name} ({model}/{started.versions[v.name]}) {v.share}%" for v in started.variants
    )
    click.echo(f"experiment {name} started: {split}")


@experiment.command(name="list")
@_MODEL
def list_experiments(model: str) -> None:
    """List experiments, newest first."""
    from discerner import tracking
    from discerner.experiments import book

    tracking.setup()
    for found in book.all_experiments(name=model):
        split = " ".join(f"{v.name}={v.target}:{v.share}" for v in found.variants)
        click.echo(f"{found.name}\t{found.state}\t{split}")


@experiment.command()
@click.argument("name", required=False)
@_MODEL
def status(name: str | None, model: str) -> None:
    """Rates, intervals and the test of experiment NAME (default: the running one); logged
    to MLflow (experiment `ab-experiments`, one run per experiment)."""
    from discerner import tracking
    from discerner.experiments import ExperimentError, book

    tracking.setup()
    try:
        found = book.get(name, name=model) if name else book.running(name=model)
    except ExperimentError as error:
        raise _fail(error) from None
    if found is None:
        raise click.ClickException("no experiment is running; name one (`experiment list`)")
    click.echo(_report(found))


@experiment.command()
@click.argument("name")
@click.option("--promote", metavar="VARIANT", help="Move the champion alias to its version.")
@_MODEL
@click.option("--alias", default=config.CHAMPION_ALIAS, show_default=True, help="Alias moved.")
def stop(name: str, promote: str | None, model: str, alias: str) -> None:
    """Stop experiment NAME (its final results are logged), optionally promoting a variant."""
    from discerner import tracking
    from discerner.experiments import ExperimentError, book

    tracking.setup()
    try:
        stopped = book.stop(name, promote, name=model, alias=alias)
    except ExperimentError as error:
        raise _fail(error) from None
    click.echo(_report(stopped))
    if promote:
        click.echo(f"{model}@{alias} -> version {stopped.versions[promote]}")
    click.echo(f"experiment {name} stopped")


def _report(found) -> str:
    """The experiment's results as text, logged to MLflow on the way."""
    from discerner.experiments.analysis import results
    from discerner.experiments.tracking import log_report
    from discerner.store import open_store

    with open_store(config.store_url(config.home()), readonly=True) as store:
        report = results(found, store)
    log_report(report)
    rates = report.variants.set_index("variant")
    lines = [f"experiment {found.name} ({found.state})"]
    lines.append(rates.to_string(float_format=lambda v: f"{v:.4f}"))
    for row in report.comparisons.to_dict("records"):
        verdict = "significant" if row["significant"] else "not significant"
        lines.append(
            f"{row['variant']} vs {row['control']}: conversion difference "
            f"{row['difference']:+.4f} "
            f"[{row['difference_low']:+.4f}, {row['difference_high']:+.4f}]"
            f", lift {row['lift']:+.1%} [{row['lift_low']:+.1%}, {row['lift_high']:+.1%}],"
            f" p = {row['p_value']:.4g} ({verdict} at 0.05)"
        )
    return "\n".join(lines)
