"""`discerner feedback list|set|remove`: how each activity type counts (`discerner.feedback`)."""

from __future__ import annotations

import click

from discerner import config
from discerner.cli import main


@main.group()
def feedback() -> None:
    """How each activity type counts in training and recommendations.

    Each type has a weight (its scores are multiplied by it) and a meaning: positive, negative
    (a dislike: its score becomes -|score x weight|) or ignore (stored, never used). Types
    without an entry count as positive with weight 1. Kept in DISCERNER_HOME/feedback.yaml; a
    running server picks changes up on its next request, training on its next run.
    """


def _load():
    from discerner.errors import FeedbackConfigError
    from discerner.feedback import FeedbackTypes

    try:
        return FeedbackTypes.load(config.home())
    except FeedbackConfigError as exc:
        raise click.ClickException(str(exc)) from None


@feedback.command(name="list")
def feedback_list() -> None:
    """Show each configured type's weight and meaning, and the rule for the others."""
    current = _load()
    for name, entry in current.types.items():
        click.echo(f"{name}\t{entry.weight:g}\t{entry.meaning}")
    click.echo(f"(other types)\t{current.unknown.weight:g}\t{current.unknown.meaning}")
    click.echo(f"version {current.version}", err=True)


@feedback.command(name="set")
@click.argument("type_name", metavar="TYPE")
@click.option("--weight", type=float, help="A positive number (default: kept, or 1).")
@click.option(
    "--meaning",
    type=click.Choice(["positive", "negative", "ignore"]),
    help="What the type says about the product (default: kept, or positive).",
)
def feedback_set(type_name: str, weight: float | None, meaning: str | None) -> None:
    """Set how activities of TYPE count."""
    from discerner.errors import FeedbackConfigError

    current = _load()
    before = current.types.get(type_name)
    weight = weight if weight is not None else (before.weight if before else 1.0)
    meaning = meaning or (before.meaning if before else "positive")
    try:
        changed = current.with_type(type_name, weight, meaning)
    except FeedbackConfigError as exc:
        raise click.ClickException(str(exc).removeprefix("arguments: ")) from None
    path = changed.save(config.home())
    click.echo(f"{type_name}: weight {weight:g}, {meaning} (written to {path})")


@feedback.command(name="remove")
@click.argument("type_name", metavar="TYPE")
def feedback_remove(type_name: str) -> None:
    """Remove TYPE's entry: its activities then count as other types do."""
    current = _load()
    try:
        changed = current.without_type(type_name)
    except KeyError:
        raise click.ClickException(f"no entry for type {type_name!r}") from None
    changed.save(config.home())
    click.echo(f"removed {type_name}")
