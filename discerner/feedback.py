"""Feedback types: how much each activity type counts, and whether it is liked, disliked or ignored.

Every activity has a type (`discerner.schema.TYPE`, "score" unless the client says otherwise).
`FeedbackTypes` gives each type a `weight` and a `meaning`:

- `positive`: the activity says the user likes the product; its score is multiplied by the
  weight (a view at 0.2, a purchase at 3).
- `negative`: the user dislikes the product; its score becomes -|score x weight|, and the type
  stays on the row so that callers can tell negatives from positives.
- `ignore`: the activity is kept in the store but left out of training and of the histories
  the server folds in.

Types without an entry follow `unknown` (default: positive, weight 1), so a new type posted by
a client counts at once. The configuration is `$DISCERNER_HOME/feedback.yaml`:

    types:
      score: {weight: 1.0, meaning: positive}
      view: {weight: 0.2, meaning: positive}
      dislike: {weight: 1.0, meaning: negative}
    unknown: {weight: 1.0, meaning: positive}

`discerner feedback list|set|remove` edits it (validated, written atomically and fsynced);
training applies it when it loads data and logs it as run parameters; the server shows it at
`GET /feedback-types` and its version in `/ready`, and reads it again when the file changes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
import yaml

from discerner import config
from discerner.errors import FeedbackConfigError, TrainingError
from discerner.schema import DEFAULT_TYPE, SCORE, TYPE, TYPE_PATTERN, TYPE_RULE

logger = logging.getLogger(__name__)

FILE = "feedback.yaml"
POSITIVE, NEGATIVE, IGNORE = "positive", "negative", "ignore"
MEANINGS = (POSITIVE, NEGATIVE, IGNORE)
_HEADER = "# How each activity type counts: see `discerner feedback --help`.\n"


@dataclass(frozen=True)
class Feedback:
    """How one activity type counts: a positive finite `weight` and a `meaning`."""

    weight: float = 1.0
    meaning: str = POSITIVE

    def to_dict(self) -> dict[str, Any]:
        """{"weight", "meaning"}."""
        return {"weight": self.weight, "meaning": self.meaning}


@dataclass(frozen=True)
class FeedbackTypes:
    """Per activity type a `Feedback`, and the one for types without an entry (`unknown`).

    Immutable: `with_type` and `without_type` return new configurations.
    """

    types: Mapping[str, Feedback] = field(
        default_factory=lambda: MappingProxyType({DEFAULT_TYPE: Feedback()})
    )
    unknown: Feedback = Feedback()

    # ------------------------------------------------------------------ reading and writing
    @classmethod
    def from_dict(cls, data: object, source: str = FILE) -> FeedbackTypes:
        """A configuration from its dict form (as in feedback.yaml), checked.

        Raises:
            FeedbackConfigError: A key or value is wrong; the message names `source` and the key.
        """
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise FeedbackConfigError(source, "", "must be a mapping with 'types' and 'unknown'")
        extra = set(data) - {"types", "unknown"}
        if extra:
            raise FeedbackConfigError(source, sorted(map(str, extra))[0], "unknown key")
        types = data.get("types", {DEFAULT_TYPE: {}})
        if not isinstance(types, dict):
            raise FeedbackConfigError(source, "types", "must map type names to weight, meaning")
        checked = {}
        for name, entry in types.items():
            if not isinstance(name, str) or TYPE_PATTERN.fullmatch(name) is None:
                raise FeedbackConfigError(source, f"types.{name}", f"a type is {TYPE_RULE}")
            checked[name] = _entry(entry, source, f"types.{name}")
        unknown = _entry(data.get("unknown", {}), source, "unknown")
        return cls(MappingProxyType(dict(sorted(checked.items()))), unknown)

    def to_dict(self) -> dict[str, Any]:
        """{"types": {name: {"weight", "meaning"}}, "unknown": {"weight", "meaning"}}."""
        types = {name: entry.to_dict() for name, entry in self.types.items()}
        return {"types": types, "unknown": self.unknown.to_dict()}

    @classmethod
    def load(cls, home: str | os.PathLike[str] | None = None) -> FeedbackTypes:
        """The configuration of a data folder; the default when it has no feedback.yaml.

        Raises:
            FeedbackConfigError: The file is not valid YAML or breaks a rule.
        """
        path = config.home(home) / FILE
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls()
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise FeedbackConfigError(str(path), "", f"not valid YAML ({error})") from None
        return cls.from_dict(data, str(path))

    def save(self, home: str | os.PathLike[str] | None = None) -> Path:
        """Write the configuration to the data folder's feedback.yaml, atomically and durably."""
        from discerner.store.files import write_bytes_atomically  # loads pyarrow: only here

        path = config.ensure_home(home) / FILE
        text = _HEADER + yaml.safe_dump(self.to_dict(), sort_keys=False)
        write_bytes_atomically(path, text.encode())
        return path

    # ------------------------------------------------------------------ changing
    def with_type(self, name: str, weight: float, meaning: str) -> FeedbackTypes:
        """This configuration with `name` set to `weight` and `meaning` (checked)."""
        types = self.to_dict()["types"] | {name: {"weight": weight, "meaning": meaning}}
        return self.from_dict({"types": types, "unknown": self.unknown.to_dict()}, "arguments")

    def without_type(self, name: str) -> FeedbackTypes:
        """This configuration without an entry for `name` (it then follows `unknown`).

        Raises:
            KeyError: There is no entry for `name`.
        """
        if name not in self.types:
            raise KeyError(name)
        types = {n: entry for n, entry in self.types.items() if n != name}
        return FeedbackTypes(MappingProxyType(types), self.unknown)

    # ------------------------------------------------------------------ reading it
    def of(self, name: str) -> Feedback:
        """The feedback of one type (`unknown`'s when it has no entry)."""
        return self.types.get(name, self.unknown)

    @property
    def version(self) -> str:
        """A short content hash: equal configurations have equal versions."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def run_params(self) -> dict[str, Any]:
        """MLflow run parameters: `feedback.<type>.weight` and `.meaning` of each entry, the
        same for `unknown` under `feedback.unknown types`, and `feedback.version` (a ':' in a
        type name becomes '/'; MLflow keys cannot hold ':', and no type holds '/' or ' ')."""
        out: dict[str, Any] = {"feedback.version": self.version}
        for name, entry in [*self.types.items(), ("unknown types", self.unknown)]:
            key = name.replace(":", "/")
            out[f"feedback.{key}.weight"] = entry.weight
            out[f"feedback.{key}.meaning"] = entry.meaning
        return out

    # ------------------------------------------------------------------ applying it
    def apply(self, interactions: pd.DataFrame) -> pd.DataFrame:
        """The interactions as training sees them: `ignore` rows dropped, scores weighted.

        A positive type's score is multiplied by its weight; a negative type's becomes
        -|score x weight|. Rows without a `type` column count as "score". The input is not
        modified; the result keeps every column (`type` included) and the original index.
        """
        if TYPE in interactions.columns:
            kinds = pd.Categorical(interactions[TYPE])
        else:
            kinds = pd.Categorical.from_codes(np.zeros(len(interactions), int), [DEFAULT_TYPE])
        # A missing type (code -1) indexes the last entry: the default type.
        weights, keep, negative = self._per_type([*kinds.categories, DEFAULT_TYPE])
        codes = kinds.codes
        scores = interactions[SCORE].to_numpy(np.float64) * weights[codes]
        scores = np.where(negative[codes], -np.abs(scores), scores)
        out = interactions.assign(**{SCORE: scores})
        return out[keep[codes]] if not keep.all() else out

    def apply_history(
        self, product_ids: np.ndarray, scores: np.ndarray, types: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One history (`StoreContract.user_activity`) as `apply` treats a frame's rows.

        Returns:
            (product ids, scores, types) without the `ignore` rows, in the same order.
        """
        found, codes = np.unique(np.asarray(types, dtype=str), return_inverse=True)
        weights, keep, negative = self._per_type(found.tolist())
        weighted = np.asarray(scores, np.float64) * weights[codes]
        weighted = np.where(negative[codes], -np.abs(weighted), weighted)
        rows = keep[codes]
        return np.asarray(product_ids)[rows], weighted[rows], np.asarray(types)[rows]

    def _per_type(self, names: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(weights, kept, negative) arrays, one entry per name."""
        entries = [self.of(name) for name in names]
        weights = np.asarray([e.weight for e in entries], np.float64)
        keep = np.asarray([e.meaning != IGNORE for e in entries], bool)
        negative = np.asarray([e.meaning == NEGATIVE for e in entries], bool)
        return weights, keep, negative


def _entry(value: object, source: str, key: str) -> Feedback:
    """A `Feedback` from {"weight", "meaning"} (each optional), checked."""
    if not isinstance(value, dict):
        raise FeedbackConfigError(source, key, "must be a mapping with weight and meaning")
    extra = set(value) - {"weight", "meaning"}
    if extra:
        raise FeedbackConfigError(source, f"{key}.{sorted(map(str, extra))[0]}", "unknown key")
    weight = value.get("weight", 1.0)
    if (
        isinstance(weight, bool)
        or not isinstance(weight, int | float)
        or not math.isfinite(weight)
        or weight <= 0
    ):
        raise FeedbackConfigError(
            source, f"{key}.weight", f"must be a positive finite number, got {weight!r}"
        )
    meaning = value.get("meaning", POSITIVE)
    if meaning not in MEANINGS:
        raise FeedbackConfigError(
            source, f"{key}.meaning", f"must be one of {', '.join(MEANINGS)}, got {meaning!r}"
        )
    return Feedback(float(weight), meaning)


# ---------------------------------------------------------------------- for running code
_current: dict[Path, tuple[tuple, FeedbackTypes, str | None]] = {}


def current(home: str | os.PathLike[str] | None = None) -> FeedbackTypes:
    """The data folder's configuration, read again only when feedback.yaml changed (a `stat`
    per call: cheap enough for every request).

    A file that became invalid (a hand edit) is logged once, and the last valid configuration
    (or the default) stays in use; `problem` says what is wrong meanwhile.
    """
    return _refresh(config.home(home))[1]


def problem(home: str | os.PathLike[str] | None = None) -> str | None:
    """What is wrong with the data folder's feedback.yaml, or None when it is valid."""
    return _refresh(config.home(home))[2]


def _refresh(folder: Path) -> tuple[tuple, FeedbackTypes, str | None]:
    path = folder / FILE
    try:
        info = path.stat()
        key: tuple = (info.st_ino, info.st_mtime_ns, info.st_size)
    except FileNotFoundError:
        key = ()
    cached = _current.get(folder)
    if cached is not None and cached[0] == key:
        return cached
    try:
        found = (key, FeedbackTypes.load(folder), None)
    except FeedbackConfigError as error:
        logger.error("%s; using the previous feedback configuration", error)
        found = (key, cached[1] if cached else FeedbackTypes(), str(error))
    _current[folder] = found
    return found


def for_training(
    interactions: pd.DataFrame, version: dict, home: str | os.PathLike[str] | None
) -> tuple[pd.DataFrame, dict]:
    """The training pipeline's hook: the data folder's configuration applied to the data, and
    its version added to the data version (`feedback`).

    Raises:
        TrainingError: See `training_config`, or every activity is of an ignored type.
    """
    feedback = training_config(home)
    applied = feedback.apply(interactions)
    if applied.empty and not interactions.empty:
        raise TrainingError("every activity is of a type whose meaning is ignore")
    return applied, {**version, "feedback": feedback.version}


def training_config(home: str | os.PathLike[str] | None) -> FeedbackTypes:
    """The data folder's configuration for a training run.

    Raises:
        TrainingError: feedback.yaml is invalid: training refuses to run on a configuration
            it cannot read (the message names the file and the key).
    """
    try:
        return FeedbackTypes.load(home)
    except FeedbackConfigError as error:
        raise TrainingError(str(error)) from None


__all__ = [
    "FILE",
    "IGNORE",
    "MEANINGS",
    "NEGATIVE",
    "POSITIVE",
    "Feedback",
    "FeedbackTypes",
    "current",
    "for_training",
    "problem",
    "training_config",
]
