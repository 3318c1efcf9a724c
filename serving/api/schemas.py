"""Pydantic models of requests and responses: they validate input and generate /openapi.json."""

from __future__ import annotations

import base64
import re
from datetime import datetime, timedelta
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    RootModel,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from discerner import schema
from discerner.store import values
from discerner.store.tables import EPOCH
from serving.runtime.filters import Filters

MAX_PAGE = 10_000
MAX_BATCH = 10_000
MAX_ID = 2**63 - 1

PositiveId = Annotated[int, Field(ge=1, le=MAX_ID)]
Score = Annotated[float, Field(allow_inf_nan=False, description="A finite number.")]
AttributeValue = str | bool | int | float
_ATTRIBUTE_NAME = re.compile(rf"[A-Za-z_][A-Za-z0-9_]{{0,{values.MAX_ATTRIBUTE_NAME - 1}}}")
_RESERVED = values.RESERVED
NO_NUL = "^[^\\x00]*$"  # text without the NUL character, which no backend stores
# What the attribute checks below (and the store's) accept, published so that clients (and
# fuzzers) know it. Each keyword applies to its own type: maxLength to text, the bounds to
# numbers. external_id is a field, not an attribute, so a body may hold one more property.
_ATTRIBUTES_SCHEMA = {
    "additionalProperties": {
        "type": ["string", "number", "boolean"],
        "maxLength": values.MAX_ATTRIBUTE_TEXT,
        "pattern": NO_NUL,
        "minimum": values.MIN_ATTRIBUTE_NUMBER,
        "maximum": values.MAX_ATTRIBUTE_NUMBER,
    },
    "propertyNames": {
        "pattern": f"^{_ATTRIBUTE_NAME.pattern}$",
        "not": {"enum": sorted(_RESERVED - {"external_id"})},
    },
    "anyOf": [
        {"maxProperties": values.MAX_ATTRIBUTES},
        {"required": ["external_id"], "maxProperties": values.MAX_ATTRIBUTES + 1},
    ],
}


def _timestamp(value: Any, info: ValidationInfo) -> datetime:
    """A time from ISO 8601 text or Unix seconds, within the store's range.

    JSON is typed, so there text must be ISO 8601 and Unix seconds a number. A form field is
    text by nature, so there text that reads as a number is Unix seconds.
    """
    if isinstance(value, str) and info.mode != "json":
        value = _number_or_text(value)
    if isinstance(value, bool) or not isinstance(value, str | int | float | datetime):
        raise PydanticCustomError("time_type", "Input should be ISO 8601 text or Unix seconds")
    try:
        micros = values.timestamp(value)
    except ValueError as error:  # the store's own check, so both say the same
        reason = str(error).removeprefix("timestamp ")  # the location already names it
        raise PydanticCustomError("time_value", "{reason}", {"reason": reason}) from None
    return EPOCH + timedelta(microseconds=micros)


def _number_or_text(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text


Timestamp = Annotated[
    datetime,
    PlainValidator(_timestamp),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "format": "date-time"},
                {
                    "type": "number",
                    "minimum": values.MIN_UNIX_SECONDS,
                    "maximum": values.MAX_UNIX_SECONDS,
                },
            ]
        }
    ),
]


def decimal_pattern(bound: int) -> str:
    """A regular expression matching exactly the decimal numbers 1..`bound` (no leading 0)."""
    digits = str(bound)
    options = [rf"[1-9][0-9]{{0,{len(digits) - 2}}}"] if len(digits) > 1 else []
    for i, digit in enumerate(digits):
        low = 1 if i == 0 else 0
        if int(digit) > low:
            rest = len(digits) - i - 1
            options.append(rf"{digits[:i]}[{low}-{int(digit) - 1}][0-9]{{{rest}}}")
    return "(?:" + "|".join([*options, digits]) + ")"


# A comma-separated list of ids. Any run of digits is accepted: an id past 2**63-1 names no
# product, so leaving it out changes nothing (and the schema stays readable).
ID_LIST = r"^\s*[0-9]+(?:\s*,\s*[0-9]+)*\s*$"
IdList = Annotated[
    str,
    WithJsonSchema(
        {
            "type": "string",
            "pattern": ID_LIST,
            "description": "Product ids separated by commas, such as `3,17,42`.",
        }
    ),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _reject_bool(value: Any) -> Any:
    # JSON true/false are not numbers, even though Python says they are.
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    return value


class Credentials(_Strict):
    """`POST /token` body, as form fields or JSON."""

    username: str = Field(min_length=1, max_length=64, pattern=NO_NUL)
    password: str = Field(min_length=1, max_length=1024)


class Token(BaseModel):
    """A token to send as `Authorization: Token <token>`."""

    token: str
    expires_in: int = Field(description="Seconds until the token expires.")


class _WithAttributes(BaseModel):
    """A body with flat attributes as extra fields (null allowed when `NULLS`)."""

    NULLS: ClassVar[bool] = False

    @model_validator(mode="before")
    @classmethod
    def _count_attributes(cls, data: Any) -> Any:
        # Counted as the document counts them: every property but external_id, null or not.
        if isinstance(data, dict) and len(data.keys() - {"external_id"}) > values.MAX_ATTRIBUTES:
            raise ValueError(f"at most {values.MAX_ATTRIBUTES} attributes")
        return data

    @model_validator(mode="after")
    def _check_attributes(self) -> _WithAttributes:
        for name, value in (self.model_extra or {}).items():
            if name in _RESERVED or not _ATTRIBUTE_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not a valid attribute name")
            if value is None and self.NULLS:
                continue
            if not isinstance(value, AttributeValue):
                kinds = (
                    "a string, number, boolean or null"
                    if self.NULLS
                    else "a string, number or boolean"
                )
                raise ValueError(f"attribute {name!r} must be {kinds}")
            values.attribute(name, value)  # the store's limits on text and numbers
        return self


class EntityCreate(_WithAttributes):
    """A body with an optional `external_id` and flat attributes as extra fields."""

    model_config = ConfigDict(extra="allow", json_schema_extra=_ATTRIBUTES_SCHEMA)

    external_id: str | None = Field(
        default=None, min_length=1, max_length=values.MAX_EXTERNAL_ID, pattern=NO_NUL
    )

    def attributes(self) -> dict[str, AttributeValue]:
        """The flat attributes: every field but `external_id` that was given."""
        fields = self.model_dump(exclude={"external_id"}, exclude_none=True)
        return fields


class UserCreate(EntityCreate):
    """`POST /users` body (optional): an external id and attributes."""


# No comma: the recommendation filters (`labels_any=a,b`) list labels separated by commas.
Label = Annotated[str, Field(min_length=1, max_length=values.MAX_LABEL, pattern="^[^,\\x00]*$")]
Labels = Annotated[
    list[Label],
    Field(
        max_length=values.MAX_LABELS,
        json_schema_extra={"uniqueItems": True},
        description=f"At most {values.MAX_LABELS} distinct labels of 1-{values.MAX_LABEL} "
        "characters without a comma, in the order given; recommendations can be filtered "
        "by them.",
    ),
]
CATEGORY = Field(default=None, min_length=1, max_length=256)
HIDDEN = Field(
    default=None, description="A hidden product is stored and listed but never recommended."
)
EXPIRES_AT = Field(
    default=None,
    description="When the product stops being recommended: ISO 8601 (UTC unless it has an "
    f"offset) or Unix seconds, from {values.TIME_RANGE}; answered as ISO 8601 UTC.",
)


def _distinct(labels: list[str] | None) -> list[str] | None:
    if labels is not None and len(set(labels)) != len(labels):
        raise ValueError("labels must be distinct")
    return labels


class ProductCreate(EntityCreate):
    """`POST /products` body (optional): an external id, a category, labels, whether it is
    hidden, when it expires, and other attributes."""

    category: str | None = CATEGORY
    labels: Labels | None = None
    hidden: bool | None = HIDDEN
    expires_at: Timestamp | None = EXPIRES_AT

    _unique = field_validator("labels")(_distinct)


# A patch's attributes may be null (removes the attribute); otherwise as when creating.
_PATCH_SCHEMA = {
    **_ATTRIBUTES_SCHEMA,
    "additionalProperties": {
        **_ATTRIBUTES_SCHEMA["additionalProperties"],
        "type": ["string", "number", "boolean", "null"],
    },
}


class EntityPatch(_WithAttributes):
    """A JSON merge patch (RFC 7396) of a user or product: each field given replaces the
    stored one, null removes it, a field left out stays as it is."""

    model_config = ConfigDict(extra="allow", json_schema_extra=_PATCH_SCHEMA)
    NULLS: ClassVar[bool] = True

    external_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=values.MAX_EXTERNAL_ID,
        pattern=NO_NUL,
        description="Changed only if no other user (product) has it: 409 otherwise.",
    )

    def changes(self) -> dict[str, Any]:
        """Every field the body gave, null ones included (`StoreContract.update_user`)."""
        return {name: getattr(self, name) for name in self.model_fields_set}


class UserPatch(EntityPatch):
    """`PATCH /users/{user_id}` body: external_id and attributes to change (null removes)."""


class ProductPatch(EntityPatch):
    """`PATCH /products/{product_id}` body: external_id, category, labels (replaced whole),
    hidden, expires_at and other attributes to change (null removes or clears)."""

    category: str | None = CATEGORY
    labels: Labels | None = None
    hidden: bool | None = HIDDEN
    expires_at: Timestamp | None = EXPIRES_AT

    _unique = field_validator("labels")(_distinct)


class Created(BaseModel):
    """The id of a created user or product."""

    id: int


class Entity(BaseModel):
    """A user or product: its id, creation time, external id and attributes."""

    model_config = ConfigDict(extra="allow")

    id: int
    created_at: str | None = None
    external_id: str | None = None


class Product(Entity):
    """A product: its id, creation time, external id, and attributes; `labels`, `hidden` and
    `expires_at` are present only when set (no labels, not hidden, never expires)."""

    labels: list[str] = Field(default_factory=list, description="Its labels, in order.")
    hidden: bool = Field(default=False, description="Never recommended while true.")
    expires_at: str | None = Field(
        default=None, description="ISO 8601 UTC: never recommended from then on."
    )


class PageQuery(_Strict):
    """Keyset pagination: items with id greater than `after`, at most `limit` of them."""

    limit: int = Field(default=1000, ge=1, le=MAX_PAGE)
    after: int = Field(default=0, ge=0, le=MAX_ID)


ActivityType = Annotated[
    str,
    Field(
        min_length=1,
        max_length=schema.MAX_TYPE,
        pattern=f"^{schema.TYPE_PATTERN.pattern}$",
        description=f"What the user did (`view`, `purchase`, `rating:dislike`): {schema.TYPE_RULE}."
        " How each type counts in training is the server's feedback configuration"
        " (`GET /feedback-types`).",
    ),
]


class ActivityQuery(PageQuery):
    """`GET /activities` filters on top of pagination."""

    user_id: PositiveId | None = None
    product_id: PositiveId | None = None
    type: ActivityType | None = None


class ActivityCreate(_Strict):
    """`POST /users/{user_id}/products/{product_id}/activities` body (optional)."""

    score: Score = 1.0
    timestamp: Timestamp | None = Field(
        default=None,
        description="ISO 8601 (UTC unless it has an offset) or Unix seconds, "
        f"from {values.TIME_RANGE}; the server's clock when absent.",
    )
    type: ActivityType = schema.DEFAULT_TYPE

    _no_bool = field_validator("score", mode="before")(_reject_bool)


class ActivityIn(ActivityCreate):
    """One activity of a bulk `POST /activities`."""

    user_id: PositiveId
    product_id: PositiveId

    _no_bool_ids = field_validator("user_id", "product_id", mode="before")(_reject_bool)


class ActivityBatch(RootModel[list[ActivityIn]]):
    """`POST /activities` body: a JSON array of activities, stored all-or-nothing."""

    root: list[ActivityIn] = Field(min_length=1, max_length=MAX_BATCH)


class Activity(BaseModel):
    """A stored activity."""

    id: int
    user_id: int
    product_id: int
    score: float
    timestamp: str | None = None
    type: str = schema.DEFAULT_TYPE


MAX_RANKING = 1000  # the deepest a user's ranking is served: n + offset at most this
CURSOR = r"^[A-Za-z0-9_-]{1,400}$"


class Cursor(_Strict):
    """Where the next page of a ranking starts, and which ranking it is (opaque to clients).

    A cursor names the user's history version and the ranking (model and feedback
    configuration versions) its page came from; `GET /users/{user_id}/recs?cursor=` compares
    them with the current ones.
    """

    offset: int = Field(ge=1, le=MAX_RANKING - 1)
    history: int = Field(ge=-MAX_ID, le=MAX_ID)
    ranking: str = Field(min_length=1, max_length=300)

    def encode(self) -> str:
        """The cursor as URL-safe text (base64 of its JSON, without padding)."""
        return base64.urlsafe_b64encode(self.model_dump_json().encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """Read a cursor `encode` wrote.

        Raises:
            ValueError: The text is not such a cursor.
        """
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            return cls.model_validate_json(raw, strict=True)
        except (ValueError, ValidationError):  # binascii.Error is a ValueError
            raise ValueError(
                "is not a cursor this server gave (take it from X-Next-Cursor)"
            ) from None


LABEL_LIST = r"^[^,\x00]+(?:,[^,\x00]+)*$"
LabelList = Annotated[
    str,
    WithJsonSchema(
        {
            "type": "string",
            "maxLength": 4096,
            "pattern": LABEL_LIST,
            "description": "Labels separated by commas, such as `vegan,organic`; each matched "
            "exactly (case and spaces count).",
        }
    ),
]


class RecsQuery(_Strict):
    """`GET /users/{user_id}/recs` options."""

    n: int = Field(default=10, ge=1, le=MAX_RANKING)
    offset: int = Field(
        default=0,
        ge=0,
        le=MAX_RANKING - 1,
        description=f"Products of the ranking to skip (a page: `n=10&offset=10`); n + offset "
        f"at most {MAX_RANKING}. Not with `cursor`.",
    )
    cursor: str | None = Field(
        default=None,
        pattern=CURSOR,
        description="Where the next page starts, as the previous page's `X-Next-Cursor` header "
        '(or `Link: rel="next"`) gave it. While the user\'s history, the model and the feedback '
        "configuration are unchanged, the next page continues the same ranking (no product "
        "twice); after a change it is the first page of the new ranking, marked "
        "`X-Ranking-Restarted: true`.",
    )
    exclude: IdList | None = Field(
        default=None, description="Product ids to leave out, separated by commas (`3,17,42`)."
    )
    category: str | None = Field(default=None, min_length=1, max_length=256)
    labels_any: LabelList | None = Field(
        default=None, description="Only products with at least one of these labels."
    )
    labels_all: LabelList | None = Field(
        default=None, description="Only products with every one of these labels."
    )
    labels_exclude: LabelList | None = Field(
        default=None, description="Never products with any of these labels."
    )
    explain: bool = Field(
        default=False,
        description="Add `because` to each product: the user's own products that contributed "
        "most to its score.",
    )

    @field_validator("exclude")
    @classmethod
    def _is_an_id_list(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(ID_LIST, value):
            raise ValueError("must be product ids separated by commas, such as 3,17,42")
        return value

    @field_validator("labels_any", "labels_all", "labels_exclude")
    @classmethod
    def _are_labels(cls, value: str | None) -> str | None:
        if value is not None and (len(value) > 4096 or not re.fullmatch(LABEL_LIST, value)):
            raise ValueError(
                "must be labels separated by commas, such as vegan,organic (none empty, at "
                "most 4096 characters in all, no NUL character)"
            )
        return value

    @field_validator("offset")
    @classmethod
    def _within_the_ranking(cls, value: int, info: ValidationInfo) -> int:
        if value + info.data.get("n", 1) > MAX_RANKING:
            raise ValueError(f"n + offset must be at most {MAX_RANKING}")
        return value

    @field_validator("cursor")
    @classmethod
    def _is_a_cursor(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        if info.data.get("offset"):
            raise ValueError("give offset or cursor, not both")
        if Cursor.decode(value).offset + info.data.get("n", 1) > MAX_RANKING:
            raise ValueError(f"n + the cursor's offset must be at most {MAX_RANKING}")
        return value

    def start(self) -> int:
        """The ranking position of the page's first product: the cursor's, else `offset`."""
        return self.resumed().offset if self.cursor is not None else self.offset

    def resumed(self) -> Cursor | None:
        """The decoded cursor, or None."""
        return Cursor.decode(self.cursor) if self.cursor is not None else None

    def filters(self) -> Filters:
        """The exclusions and filters of the query."""
        return Filters(
            exclude=tuple(self.excluded_ids()),
            category=self.category,
            labels_any=_labels(self.labels_any),
            labels_all=_labels(self.labels_all),
            labels_exclude=_labels(self.labels_exclude),
        )

    def excluded_ids(self) -> list[int]:
        """The ids in `exclude` that can name a product, as integers."""
        ids = [int(part) for part in self.exclude.split(",")] if self.exclude else []
        return [i for i in ids if i <= MAX_ID]


def _labels(text: str | None) -> tuple[str, ...]:
    return tuple(text.split(",")) if text else ()


SCORE_MEANING = (
    "How strongly the model named in the `X-Model-Version` header recommends the product: "
    "higher is better, and the list is sorted by it. A champion model answers with its own "
    "relevance, comparable within one answer and between answers of the same version, not "
    "across versions (PureSVD: the user's folded-in factors times the product's, about 0 to 1; "
    "kNN: a sum of neighbour similarities, larger for longer histories; a blend: standard "
    "deviations above the average product). "
    "Popularity (`X-Model-Version: popularity`, for users without a personal signal, and the "
    "products that top up a champion's list) answers the product's share of all activities, "
    "in [0, 1]. For similar products, the similarity: a cosine, at most 1."
)


class Contribution(BaseModel):
    """A product of the user's history and how much it added to a recommendation's score."""

    product_id: int
    weight: float = Field(
        description="Its share of the score: for item kNN the exact term sim(product, this) x "
        "the activity's weighted score; for factor models (PureSVD, ALS, blend) the cosine of "
        "the two products' factors x that weighted score. Positive; larger is more."
    )


class Recommendation(BaseModel):
    """One recommended product, best first."""

    product_id: int
    score: float = Field(description=SCORE_MEANING)
    because: list[Contribution] = Field(
        default_factory=list,
        description="Only with `explain=true`: up to three products of the user's own history "
        "that contributed most to this product's score, most first (for a page that says "
        '"because you bought X"). Empty for products popularity chose.',
    )


class SimilarQuery(_Strict):
    """`GET /products/{product_id}/similar` options."""

    n: int = Field(default=10, ge=1, le=1000)


class ErrorBody(BaseModel):
    """Status and message of an error."""

    status: int
    message: str


class Error(BaseModel):
    """Every error response: `{"error": {"status", "message"}}`."""

    error: ErrorBody


class Health(BaseModel):
    """Liveness."""

    status: str


class FeedbackEntry(BaseModel):
    """How activities of one type count."""

    weight: float = Field(gt=0, description="Their scores are multiplied by it.")
    meaning: Literal["positive", "negative", "ignore"] = Field(
        description="positive: a like; negative: a dislike (its score becomes "
        "-|score x weight|); ignore: stored, never used for training or recommendations"
    )


class FeedbackStatus(BaseModel):
    """Which feedback configuration is in use."""

    version: str = Field(description="A content hash: it changes with the configuration.")
    problem: str | None = Field(
        default=None,
        description="Why feedback.yaml cannot be read, when a hand edit broke it (the last "
        "valid configuration stays in use meanwhile)",
    )


class FeedbackTypesBody(FeedbackStatus):
    """`GET /feedback-types`: per type a weight and a meaning, and the rule for other types."""

    types: dict[str, FeedbackEntry]
    unknown: FeedbackEntry = Field(description="How types without an entry count.")


class Readiness(BaseModel):
    """Readiness: the store and the model being served."""

    model_config = ConfigDict(extra="allow")

    status: str = Field(description="`ready`, or `degraded` when a champion failed to load")
    store: str = Field(description="`open`")
    model: dict[str, Any] = Field(
        description="`version` serving (`name/version` or `popularity`), `state` (`loaded`, "
        "`none`, `failed`), `reason`, `load_seconds`, `model_class`, and `precomputed`: the "
        "state of the champion's precomputed top lists (`building`, then `built` with "
        "`users` and `seconds`)"
    )
    feedback: FeedbackStatus


def error_message(error: Exception) -> str:
    """A one-line message from a pydantic ValidationError: where and what, for the first error.

    Args:
        error: A `pydantic.ValidationError`.

    Returns:
        For example `"score: Input should be a finite number"`.
    """
    first = error.errors(include_url=False)[0]  # type: ignore[attr-defined]
    where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in first["loc"])
    where = where.removeprefix(".") or "body"
    if first["type"] == "string_pattern_mismatch" and first["ctx"]["pattern"] == NO_NUL:
        return f"{where}: must not contain the NUL character (U+0000)"
    return f"{where}: {first['msg'].removeprefix('Value error, ')}"
