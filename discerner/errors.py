"""Named errors of the library, defined in one place."""

from __future__ import annotations


class DiscernerError(Exception):
    """Base class of every error Discerner raises on purpose."""


class DataFormatError(DiscernerError, ValueError):
    """Input data is malformed; the message names the file and line when there is one."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None):
        where = ""
        if path is not None:
            where = f"{path}, line {line}: " if line is not None else f"{path}: "
        super().__init__(where + message)
        self.path = path
        self.line = line


class UnknownUserError(DiscernerError, KeyError):
    """A user id that does not exist."""

    def __init__(self, user_id: object):
        super().__init__(f"unknown user {user_id}")
        self.user_id = user_id

    def __str__(self) -> str:
        return self.args[0]


class UnknownProductError(DiscernerError, KeyError):
    """A product id that does not exist."""

    def __init__(self, product_id: object):
        super().__init__(f"unknown product {product_id}")
        self.product_id = product_id

    def __str__(self) -> str:
        return self.args[0]


class NotFittedError(DiscernerError, RuntimeError):
    """A model was asked to recommend before `fit`."""


class StoreError(DiscernerError):
    """The store cannot do what was asked (base of the store's own errors)."""


class StoreLockedError(StoreError):
    """Another process holds the store's writer lock."""


class StoreCorruptError(StoreError):
    """A store file is damaged before its tail; the message names the file and byte offset."""

    def __init__(self, message: str, *, path: str | None = None, offset: int | None = None):
        where = f"{path}" + (f" at byte {offset}" if offset is not None else "") if path else ""
        super().__init__(f"{where}: {message}" if where else message)
        self.path = path
        self.offset = offset


class StoreReadOnlyError(StoreError):
    """A write was asked of a store opened read-only."""


class AccountExistsError(StoreError, ValueError):
    """An account with that username already exists."""


class DuplicateExternalIdError(StoreError, ValueError):
    """A user or product with that external id already exists."""


class TrainingError(DiscernerError):
    """Training cannot run: the store holds no activities, or no candidate is left."""


class ModelTooLargeError(TrainingError):
    """A model cannot be fitted within memory at this size (EASE on a large catalogue).

    Raised by `fit` before anything is computed; a model search skips the candidate and logs
    the message, which says why.
    """


class FeedbackConfigError(DiscernerError, ValueError):
    """The feedback configuration (feedback.yaml) breaks a rule; names the file and the key."""

    def __init__(self, source: str, key: str, message: str):
        super().__init__(f"{source}: {key}: {message}" if key else f"{source}: {message}")
        self.source = source
        self.key = key


class TrackingStoreMissingError(DiscernerError, FileNotFoundError):
    """A reader asked for the MLflow tracking database of a data folder where none exists."""
