"""What an experiment is (`Experiment`, `Variant`) and which variant a user sees (`assign`)."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field, replace
from typing import Any

BUCKETS = 10_000  # shares are whole percents: 100 buckets per percent
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
RUNNING, STOPPED = "running", "stopped"
DEFAULT_WINDOW_SECONDS = 24 * 3600.0


class ExperimentError(ValueError):
    """An experiment that cannot be started, found or stopped, with the reason in words."""


class ExperimentConflict(ExperimentError):
    """The request clashes with the experiments' state: a name taken, another one running, or
    an experiment already stopped."""


class UnknownExperiment(ExperimentError):
    """No experiment has that name."""


@dataclass(frozen=True)
class Variant:
    """One arm: users whose bucket falls in its share see `target` (a version or an alias)."""

    name: str
    target: str
    share: int


@dataclass(frozen=True)
class Experiment:
    """An experiment's definition, as kept in the registry.

    Attributes:
        name: Letters, digits, `_`, `.`, `-` (it names a registry tag and a folder).
        variants: The arms; the first is the control the others are compared with.
        started_at: Seconds since the epoch.
        state: `running` or `stopped`.
        window_seconds: An activity counts as an outcome of an impression when it follows
            it within this many seconds.
        outcome_types: Activity types that count as outcomes; empty: every type.
        sample_rate: The share of users whose impressions are recorded (0 < rate <= 1).
        stopped_at: Seconds since the epoch, once stopped.
        promoted: The variant whose version took the champion alias at the stop, if any.
    """

    name: str
    variants: tuple[Variant, ...]
    started_at: float
    state: str = RUNNING
    window_seconds: float = DEFAULT_WINDOW_SECONDS
    outcome_types: tuple[str, ...] = ()
    sample_rate: float = 1.0
    stopped_at: float | None = None
    promoted: str | None = None
    versions: dict[str, str] = field(default_factory=dict)  # variant -> version at the start

    def __post_init__(self) -> None:
        check(self)

    @property
    def running(self) -> bool:
        """Whether users are being split now."""
        return self.state == RUNNING

    def variant(self, name: str) -> Variant:
        """The variant called `name` (raises ExperimentError naming the variants)."""
        for variant in self.variants:
            if variant.name == name:
                return variant
        names = ", ".join(v.name for v in self.variants)
        raise ExperimentError(f"experiment {self.name!r} has no variant {name!r} (it has {names})")

    def stopped(self, at: float, promoted: str | None = None) -> Experiment:
        """This experiment, stopped at `at`."""
        return replace(self, state=STOPPED, stopped_at=at, promoted=promoted)

    def to_json(self) -> str:
        """The definition as the registry tag holds it."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Experiment:
        """A definition read back from its tag (raises ExperimentError when malformed)."""
        try:
            data: dict[str, Any] = json.loads(text)
            data["variants"] = tuple(Variant(**v) for v in data["variants"])
            data["outcome_types"] = tuple(data.get("outcome_types", ()))
            return cls(**data)
        except (TypeError, KeyError, ValueError) as exc:
            raise ExperimentError(f"unreadable experiment definition: {exc}") from None


def check(experiment: Experiment) -> None:
    """Raise ExperimentError unless the definition makes sense (names, shares, settings)."""
    if not NAME.fullmatch(experiment.name):
        raise ExperimentError(
            f"experiment name {experiment.name!r}: use 1-64 letters, digits, '_', '.' or '-'"
        )
    names = [v.name for v in experiment.variants]
    if len(names) < 2:
        raise ExperimentError("an experiment needs at least two variants")
    if len(set(names)) != len(names):
        raise ExperimentError(f"variant names must differ: {', '.join(names)}")
    shares = [v.share for v in experiment.variants]
    if any(not isinstance(s, int) or s <= 0 for s in shares) or sum(shares) != 100:
        listed = " + ".join(str(s) for s in shares)
        raise ExperimentError(f"shares must be positive whole percents summing to 100: {listed}")
    if not 0 < experiment.sample_rate <= 1:
        raise ExperimentError(f"sample rate {experiment.sample_rate}: must be in (0, 1]")
    if not experiment.window_seconds > 0:
        raise ExperimentError(f"outcome window {experiment.window_seconds} s: must be positive")


def parse_variant(text: str) -> Variant:
    """`TARGET:SHARE` or `NAME=TARGET:SHARE` (TARGET a version number or an alias).

    >>> parse_variant("champion:50")
    Variant(name='champion', target='champion', share=50)
    """
    named, _, rest = text.rpartition("=")
    target, colon, share = rest.rpartition(":")
    if not colon or not target or not share.isdigit():
        raise ExperimentError(f"variant {text!r}: write TARGET:SHARE, e.g. champion:50 or 7:50")
    return Variant(named or target, target, int(share))


def _bucket(salt: str, name: str, user_id: int) -> int:
    """A user's bucket in 0..BUCKETS-1: blake2b of the name and id (the same in every process,
    unlike Python's salted `hash`)."""
    digest = hashlib.blake2b(f"{salt}{name}:{user_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


def assign(experiment: Experiment, user_id: int) -> Variant:
    """The variant a user sees: its bucket placed on the variants' cumulative shares."""
    bucket = _bucket("", experiment.name, user_id)
    edge = 0
    for variant in experiment.variants:
        edge += variant.share * (BUCKETS // 100)
        if bucket < edge:
            return variant
    return experiment.variants[-1]  # unreachable: shares sum to 100


def sampled(experiment: Experiment, user_id: int) -> bool:
    """Whether the user's impressions are recorded: a per-user draw, so a sampled user's
    impressions are all kept (conversion is counted per user). Independent of `assign`."""
    if experiment.sample_rate >= 1:
        return True
    return _bucket("sample:", experiment.name, user_id) < experiment.sample_rate * BUCKETS
