"""The job spec: everything needed to reproduce one training run.

A spec is validated once at the edge and frozen afterwards. Strict mode means
`"10"` is not an integer and `true` is not a number; every bound a user can hit
carries a message that names the rule. Rules that need the dataset (parameter
count, batch size against the training set) live in `check_against_dataset`.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Sequence
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from core.errors import SpecError

MAX_HIDDEN_LAYERS = 8
MAX_UNITS_PER_LAYER = 4096
MAX_PARAMETERS = 10_000_000
MAX_ITERATIONS = 1_000_000
# Rows x units of the largest activation of one step: 2**26 float64 numbers
# are 512 MiB, and a step holds a few arrays of that size.
MAX_BATCH_ELEMENTS = 2**26
MAX_TAGS = 20
# Ids are SQL BIGINTs; a larger number must be refused before a query.
MAX_ID = 2**63 - 1
MAX_TAG_VALUE = 200
MAX_NAME = 200
DEFAULT_DATASET = "mnist-10k"

OptimizerName = Literal[
    "sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"
]
OPTIMIZER_NAMES: tuple[str, ...] = get_args(OptimizerName)

_DATASET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_TAG_KEY = re.compile(r"[A-Za-z0-9_.-]{1,64}")

# The same rules as JSON Schema patterns, so that the OpenAPI document tells
# clients (and schema-driven fuzzers) what the validators below enforce.
_DATASET_PATTERN = r"^(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
_TAG_KEY_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"
_NO_CONTROL_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*$"


def _clean_text(value: str) -> str:
    """Reject text that a database or a terminal would mangle."""
    for char in value:
        category = unicodedata.category(char)
        if category == "Cc":
            raise ValueError(f"must not contain control characters, got {char!r}")
        if category == "Cs":
            raise ValueError("must be valid unicode (no lone surrogates)")
    return value


def _unit_interval(value: float) -> float:
    if not 0.0 <= value < 1.0:
        raise ValueError(f"must be in [0, 1), got {value}")
    return value


def _weight_init_rule(value: object, handler: ValidatorFunctionWrapHandler) -> object:
    """One message for both kinds of weight_init instead of one per union branch."""
    try:
        return handler(value)
    except ValidationError:
        raise ValueError(
            "must be a standard deviation in (0, 10] or 'xavier' or 'he', "
            f"got {value!r}"
        ) from None


CleanText = Annotated[
    str,
    Field(json_schema_extra={"pattern": _NO_CONTROL_PATTERN}),
    AfterValidator(_clean_text),
]
# Length bounds go before the text check so that pydantic applies them to the
# string itself and says "String should have at most 200 characters".
Name = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_NAME,
        json_schema_extra={"pattern": _NO_CONTROL_PATTERN},
    ),
    AfterValidator(_clean_text),
]
TagValue = Annotated[
    str,
    Field(max_length=MAX_TAG_VALUE, json_schema_extra={"pattern": _NO_CONTROL_PATTERN}),
    AfterValidator(_clean_text),
]
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegativeFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]
UnitInterval = Annotated[
    float,
    Field(
        allow_inf_nan=False,
        json_schema_extra={"minimum": 0, "exclusiveMaximum": 1},
    ),
    AfterValidator(_unit_interval),
]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


# -- learning-rate schedules -------------------------------------------------


class ConstantSchedule(_Frozen):
    """Keep the learning rate fixed (after an optional linear warm-up)."""

    kind: Literal["constant"] = "constant"
    warmup_steps: int = Field(default=0, ge=0, le=MAX_ITERATIONS)


class StepSchedule(_Frozen):
    """Multiply the learning rate by `gamma` every `step_size` steps."""

    kind: Literal["step"]
    step_size: int = Field(ge=1, le=MAX_ITERATIONS)
    gamma: float = Field(default=0.1, gt=0, le=1, allow_inf_nan=False)
    warmup_steps: int = Field(default=0, ge=0, le=MAX_ITERATIONS)


class CosineSchedule(_Frozen):
    """Anneal from the learning rate to `min_lr` along a half cosine."""

    kind: Literal["cosine"]
    min_lr: NonNegativeFloat = 0.0
    warmup_steps: int = Field(default=0, ge=0, le=MAX_ITERATIONS)


Schedule = Annotated[
    ConstantSchedule | StepSchedule | CosineSchedule, Field(discriminator="kind")
]


# -- optimizers --------------------------------------------------------------


class _OptimizerBase(_Frozen):
    learning_rate: PositiveFloat
    weight_decay: NonNegativeFloat = 0.0
    max_grad_norm: PositiveFloat | None = None
    schedule: Schedule = ConstantSchedule()

    @model_validator(mode="after")
    def _cosine_ends_below_its_start(self) -> _OptimizerBase:
        min_lr = getattr(self.schedule, "min_lr", 0.0)
        if min_lr > self.learning_rate:
            raise _field_error(
                type(self).__name__,
                ("schedule", "min_lr"),
                "min_lr_too_high",
                f"must be at most optimizer.learning_rate ({self.learning_rate:g}), "
                f"got {min_lr:g}",
                min_lr,
            )
        return self

    def hyperparameters(self) -> dict[str, float]:
        """The optimizer's own numbers, as keyword arguments for its class."""
        skip = {"name", "schedule", "max_grad_norm"}
        return {
            key: value for key, value in self.model_dump().items() if key not in skip
        }


def _field_error(
    model: str, loc: tuple[str, ...], kind: str, message: str, value: Any
) -> ValidationError:
    """A validation error located at a field, from a whole-model rule.

    A ValueError raised in a model validator would point at the whole model;
    this names the field the rule is about.
    """
    error = PydanticCustomError(kind, message.replace("{", "{{").replace("}", "}}"))
    return ValidationError.from_exception_data(
        model, [InitErrorDetails(type=error, loc=loc, input=value)]
    )


class SGDSpec(_OptimizerBase):
    name: Literal["sgd"]


class MomentumSpec(_OptimizerBase):
    name: Literal["momentum"]
    momentum: UnitInterval = 0.9


class NesterovSpec(_OptimizerBase):
    name: Literal["nesterov"]
    momentum: UnitInterval = 0.9


class AdaGradSpec(_OptimizerBase):
    name: Literal["adagrad"]
    eps: PositiveFloat = 1e-7
    initial_accumulator_value: NonNegativeFloat = 0.0


class RMSPropSpec(_OptimizerBase):
    name: Literal["rmsprop"]
    alpha: UnitInterval = 0.99
    eps: PositiveFloat = 1e-7


class AdamSpec(_OptimizerBase):
    name: Literal["adam"]
    beta1: UnitInterval = 0.9
    beta2: UnitInterval = 0.999
    eps: PositiveFloat = 1e-8


class AdamWSpec(_OptimizerBase):
    name: Literal["adamw"]
    beta1: UnitInterval = 0.9
    beta2: UnitInterval = 0.999
    eps: PositiveFloat = 1e-8
    weight_decay: NonNegativeFloat = 0.01


# Each optimizer's accepted fields, by name: {"sgd": {"name", "learning_rate", ...}}.
OPTIMIZER_FIELDS: dict[str, frozenset[str]] = {
    get_args(spec.model_fields["name"].annotation)[0]: frozenset(spec.model_fields)
    for spec in (
        SGDSpec,
        MomentumSpec,
        NesterovSpec,
        AdaGradSpec,
        RMSPropSpec,
        AdamSpec,
        AdamWSpec,
    )
}


def stray_hyperparameter(optimizer: str, field: str) -> str:
    """The message for a hyperparameter an optimizer does not take."""
    accepted = sorted(OPTIMIZER_FIELDS.get(optimizer, frozenset()) - {"name"})
    return f"{optimizer} takes no {field!r}; it takes {', '.join(accepted)}"


OptimizerSpec = Annotated[
    SGDSpec
    | MomentumSpec
    | NesterovSpec
    | AdaGradSpec
    | RMSPropSpec
    | AdamSpec
    | AdamWSpec,
    Field(discriminator="name"),
]


# -- model, training, job ----------------------------------------------------


class ModelSpec(_Frozen):
    """A fully connected network: inputs -> hidden layers -> classes."""

    hidden_sizes: list[Annotated[int, Field(ge=1, le=MAX_UNITS_PER_LAYER)]] = Field(
        default_factory=lambda: [40, 20], max_length=MAX_HIDDEN_LAYERS
    )
    activation: Literal["sigmoid", "relu", "tanh"] = "sigmoid"
    weight_init: Annotated[
        Annotated[float, Field(gt=0, le=10, allow_inf_nan=False)]
        | Literal["xavier", "he"],
        WrapValidator(_weight_init_rule),
    ] = 0.01
    batch_norm: bool = False
    dropout: UnitInterval = 0.0

    def layer_sizes(self, features: int, classes: int) -> list[int]:
        """All widths in order, e.g. [784, 40, 20, 10]."""
        return [features, *self.hidden_sizes, classes]

    def parameter_count(self, features: int, classes: int) -> int:
        """Trainable numbers: weights, biases and batch-norm scale and shift."""
        sizes = self.layer_sizes(features, classes)
        count = sum(
            fan_in * fan_out + fan_out for fan_in, fan_out in itertools.pairwise(sizes)
        )
        if self.batch_norm:
            count += 2 * sum(self.hidden_sizes)
        return count


class TrainingSpec(_Frozen):
    iterations: int = Field(default=1000, ge=1, le=MAX_ITERATIONS)
    batch_size: int = Field(default=100, ge=1, le=65_536)
    eval_interval: int = Field(default=10, ge=1, le=MAX_ITERATIONS)
    seed: int = Field(default=0, ge=0, le=2**32 - 1)
    dtype: Literal["float32", "float64"] = "float64"
    # A loss above this ends the run as diverged, as a non-finite one does.
    # A stable softmax keeps even a hopeless run's loss finite (1e6 and
    # more at a learning rate of 1e6), so without a bound such a run would
    # grind on to the end. None disables the bound.
    max_loss: PositiveFloat | None = 1e4


class JobSpec(_Frozen):
    """One training job, as submitted over HTTP and stored with the job."""

    name: Name | None = None
    tags: dict[str, TagValue] = Field(
        default_factory=dict,
        json_schema_extra={
            "maxProperties": MAX_TAGS,
            "propertyNames": {"pattern": _TAG_KEY_PATTERN},
        },
    )
    dataset: str = Field(
        default=DEFAULT_DATASET, json_schema_extra={"pattern": _DATASET_PATTERN}
    )
    model: ModelSpec = ModelSpec()
    optimizer: OptimizerSpec
    training: TrainingSpec = TrainingSpec()

    @field_validator("dataset")
    @classmethod
    def _plain_dataset_name(cls, value: str) -> str:
        if ".." in value or not _DATASET_NAME.fullmatch(value):
            raise ValueError(
                "must be a plain name of letters, digits, '.', '_' or '-' "
                f"(at most 64, no '/' or '..'), got {value!r}"
            )
        return value

    @field_validator("tags")
    @classmethod
    def _bounded_tags(cls, tags: dict[str, str]) -> dict[str, str]:
        if len(tags) > MAX_TAGS:
            raise ValueError(f"at most {MAX_TAGS} tags, got {len(tags)}")
        for key in tags:
            if not _TAG_KEY.fullmatch(key):
                raise ValueError(
                    f"tag keys are 1-64 letters, digits, '.', '_' or '-', got {key!r}"
                )
        return tags

    @model_validator(mode="after")
    def _warmup_fits_in_the_run(self) -> JobSpec:
        warmup = self.optimizer.schedule.warmup_steps
        iterations = self.training.iterations
        if self.optimizer.schedule.kind == "cosine":
            fits, rule = warmup < iterations, "less than"
        else:
            fits, rule = warmup <= iterations, "at most"
        if not fits:
            raise _field_error(
                type(self).__name__,
                ("optimizer", "schedule", "warmup_steps"),
                "warmup_too_long",
                f"must be {rule} training.iterations ({iterations}), got {warmup}",
                warmup,
            )
        return self

    def display_name(self) -> str:
        """The given name, or one built from the optimizer and its rate."""
        if self.name:
            return self.name
        return f"{self.optimizer.name} lr={self.optimizer.learning_rate:g}"


def check_against_dataset(
    spec: JobSpec, *, features: int, classes: int, train_size: int
) -> None:
    """Check the rules that depend on the dataset's shape.

    Raises:
        SpecError: naming the field when the network is too large or the
            batch does not fit in the training set.
    """
    parameters = spec.model.parameter_count(features, classes)
    if parameters > MAX_PARAMETERS:
        raise SpecError(
            ("model", "hidden_sizes"),
            f"the network would have {parameters:,} parameters on "
            f"{spec.dataset!r}; the limit is {MAX_PARAMETERS:,}",
        )
    batch = spec.training.batch_size
    if batch > train_size:
        raise SpecError(
            ("training", "batch_size"),
            f"must be at most the training set size {train_size:,} of "
            f"{spec.dataset!r}, got {batch:,}",
        )
    widest = max(spec.model.layer_sizes(features, classes))
    if batch * widest > MAX_BATCH_ELEMENTS:
        raise SpecError(
            ("training", "batch_size"),
            f"a batch of {batch:,} rows through a layer of {widest:,} units holds "
            f"{batch * widest:,} numbers; the limit is {MAX_BATCH_ELEMENTS:,} "
            "(use a smaller batch or narrower layers)",
        )


# Labels pydantic puts in an error location for a tagged union's branch or a
# type alternative; they are not fields anyone wrote.
_UNION_LABELS = set(OPTIMIZER_NAMES) | {"constant", "step", "cosine"}


def field_path(loc: Sequence[Any]) -> str:
    """`("body", "optimizer", "adam", "learning_rate")` -> "optimizer.learning_rate"."""
    parts = []
    for index, part in enumerate(loc):
        if index == 0 and part in {"body", "query", "path", "header"}:
            continue
        if isinstance(part, str) and (
            (
                part in _UNION_LABELS
                and index > 0
                and loc[index - 1] in {"optimizer", "schedule"}
            )
            or part.startswith(("constrained-", "literal[", "function-"))
        ):
            continue
        parts.append(str(part))
    return ".".join(parts) or str(loc[0] if loc else "body")
