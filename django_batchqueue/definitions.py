"""Turn the job and callback definitions users write into validated specs.

Accepted job definitions: a Job class, an @job function, a dotted path, ``{"class": X, "args":
{...}, "compensation": Y, "max_retries": n, "retry_delay": s, "timeout": s}``, a two-element list
or tuple ``[X, Y]`` (job, compensation), and ``None``/``False`` (skipped). Every error names the
definition's index.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from types import MappingProxyType
from typing import Any

from . import jobs as jobs_module
from . import registry
from .djtasks import is_task
from .exceptions import InvalidDefinition, JobImportError
from .serialization import check_json

JOB_KEYS = frozenset({"class", "args", "compensation", "max_retries", "retry_delay", "timeout"})
CALLBACK_KEYS = frozenset({"class", "args"})
#: Names the framework passes to callbacks; a callback's own args may not reuse them.
CALLBACK_RESERVED = frozenset({"batch_id", "status", "error", "job_id", "failed_job_position"})
TUNING = ("max_retries", "retry_delay", "timeout")


#: Shared by every definition that sets no tuning of its own (never written to).
NO_TUNING: Mapping[str, Any] = MappingProxyType({})


def _no_tuning() -> Mapping[str, Any]:
    return NO_TUNING


@dataclass(slots=True)
class JobSpec:
    """One validated job definition.

    A dispatch holds one per job until its rows are stored, so it keeps only what the rows
    need: the arguments as their JSON (validated once, stored as is), not a copy of them.
    """

    job_path: str
    target: Any
    #: ``args`` encoded as JSON.
    args_json: str = "{}"
    compensation_path: str = ""
    compensation_target: Any = None
    #: Only what the definition itself sets; see :func:`resolve_tuning`.
    tuning: Mapping[str, Any] = field(default_factory=_no_tuning)
    #: What the job's class (or ``@job``) sets itself (one shared dict per class).
    class_tuning: Mapping[str, Any] = field(default_factory=_no_tuning)
    #: What the compensation's class (or ``@job``) sets itself.
    compensation_class_tuning: Mapping[str, Any] = field(default_factory=_no_tuning)


@dataclass
class CallbackSpec:
    path: str
    target: Any
    args: dict[str, Any] = field(default_factory=dict)
    #: Retries and timeout, resolved now: callbacks take their class's, not the batch's.
    tuning: dict[str, Any] = field(default_factory=dict)

    def as_stored(self) -> dict[str, Any]:
        return {"path": self.path, "args": self.args, **self.tuning}


@dataclass
class BatchPlan:
    """A validated batch definition (what a builder holds), nested batches included."""

    type: str
    entries: list[JobSpec | NestedSpec]
    context: dict[str, Any] = field(default_factory=dict)
    #: Event -> stored callback specs, in the order added.
    callbacks: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: Batch-wide job defaults (max_retries, retry_delay, timeout).
    defaults: dict[str, Any] = field(default_factory=dict)
    allow_failures: bool = False
    max_concurrency: int | None = None
    name: str = ""
    #: The RQ queue chosen with ``queue()``/``queue_config()``; ``None``: the parent's (or the
    #: default queue at the top).
    queue: str | None = None
    #: Framework data stored with the batch's options (e.g. the Django task backend).
    extra_options: dict[str, Any] = field(default_factory=dict)

    @property
    def has_compensation(self) -> bool:
        """Whether anything in this batch or below it declares a compensation."""
        return any(
            e.plan.has_compensation if isinstance(e, NestedSpec) else bool(e.compensation_path)
            for e in self.entries
        )


@dataclass
class NestedSpec:
    """A nested batch or chain as one entry of its parent."""

    plan: BatchPlan
    label: str


def resolve_ref(
    ref: Any, label: str, memo: dict[Any, tuple[str, Any]] | None = None
) -> tuple[str, Any]:
    """Resolve a Job class, @job function or dotted path to (path, object)."""
    if memo is not None:
        key = ref if isinstance(ref, str) else id(ref)
        if key not in memo:
            memo[key] = resolve_ref(ref, label)
        return memo[key]
    if isinstance(ref, str):
        try:
            return ref, registry.resolve(ref)
        except JobImportError as exc:
            raise JobImportError(f"{label}: {exc}") from None
    if jobs_module.is_job_class(ref) or jobs_module.is_job_function(ref) or is_task(ref):
        try:
            path = registry.path_of(ref)
            found = registry.resolve(path)
        except JobImportError as exc:
            raise JobImportError(f"{label}: {exc}") from None
        if found is not ref:
            raise JobImportError(f"{label}: {path!r} imports a different object than the one given")
        return path, ref
    if callable(ref) and not isinstance(ref, type):
        name = getattr(ref, "__qualname__", repr(ref))
        raise JobImportError(f"{label}: function {name!r} is not decorated with @job")
    if isinstance(ref, type):
        raise JobImportError(f"{label}: {ref.__qualname__!r} is not a Job subclass")
    raise InvalidDefinition(
        f"{label}: expected a Job class, an @job function or a dotted path, got {ref!r}"
    )


def _check_args(args: Any, label: str) -> tuple[dict[str, Any], str]:
    """A copy of ``args`` (the caller may change theirs after this) and its JSON."""
    if args is None:
        return {}, "{}"
    _check_arg_names(args, label)
    args = dict(args)
    return args, check_json(args, label)


def _args_json(args: Any, label: str) -> str:
    """``args`` validated and encoded (no copy kept: the JSON is what is stored)."""
    if args is None:
        return "{}"
    _check_arg_names(args, label)
    return check_json(args if isinstance(args, dict) else dict(args), label)


def _check_arg_names(args: Any, label: str) -> None:
    if not isinstance(args, Mapping):
        raise InvalidDefinition(f"{label} must be a dict of keyword arguments, got {args!r}")
    for key in args:
        if not isinstance(key, str) or not key.isidentifier():
            raise InvalidDefinition(f"{label}: key {key!r} is not a valid keyword argument name")


def check_tuning(values: Mapping[str, Any], label: str) -> dict[str, Any]:
    """Validate max_retries / retry_delay / timeout values, naming the bad one."""
    out: dict[str, Any] = {}
    for name in TUNING:
        if name not in values or values[name] is None:
            continue
        value = values[name]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidDefinition(f"{label}[{name!r}] must be a number, got {value!r}")
        if name == "max_retries" and (not float(value).is_integer() or value < 0):
            raise InvalidDefinition(f"{label}[{name!r}] must be a whole number >= 0, got {value!r}")
        if name == "retry_delay" and value < 0:
            raise InvalidDefinition(f"{label}[{name!r}] must be >= 0, got {value!r}")
        if name == "timeout" and (not float(value).is_integer() or value < 1):
            raise InvalidDefinition(
                f"{label}[{name!r}] must be a whole number of seconds >= 1, got {value!r}"
            )
        out[name] = int(value) if name != "retry_delay" else float(value)
    return out


def parse_job(
    definition: Any, label: str, memo: dict[Any, Any] | None = None
) -> JobSpec | NestedSpec | None:
    """Parse one job definition; ``None`` for a skipped entry. An undispatched builder is a
    nested batch (its own errors are reported under ``label``: ``jobs[1].jobs[3]``)."""
    if definition is None or definition is False:
        return None
    as_plan = getattr(definition, "as_plan", None)
    if callable(as_plan):
        return NestedSpec(plan=as_plan(label), label=label)
    compensation: Any = None
    args: Any = None
    tuning: Mapping[str, Any] = NO_TUNING
    if isinstance(definition, Mapping):
        unknown = sorted(set(map(str, definition)) - JOB_KEYS)
        if unknown:
            raise InvalidDefinition(
                f"{label}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(JOB_KEYS))})"
            )
        if "class" not in definition:
            raise InvalidDefinition(f"{label}: a dict definition needs a 'class' key")
        ref = definition["class"]
        args = definition.get("args")
        compensation = definition.get("compensation")
        tuning = check_tuning(definition, label) or NO_TUNING
    elif isinstance(definition, list | tuple):
        if len(definition) != 2:
            raise InvalidDefinition(
                f"{label}: a list definition is [job, compensation]; got {len(definition)} items"
            )
        ref, compensation = definition
    elif isinstance(definition, (str, type)) or callable(definition):
        ref = definition
    else:
        raise InvalidDefinition(f"{label}: {definition!r} is not a job definition")

    if isinstance(ref, Mapping | list | tuple) or ref is None:
        raise InvalidDefinition(f"{label}: the job must be a Job class, @job function or path")
    job_path, target = resolve_ref(ref, label, memo)
    spec = JobSpec(job_path=job_path, target=target, tuning=tuning)
    spec.class_tuning = _class_tuning(target, label)
    spec.args_json = _args_json(args, f"{label}.args")
    if compensation is not None:
        spec.compensation_path, spec.compensation_target = resolve_ref(
            compensation, f"{label}.compensation", memo
        )
        spec.compensation_class_tuning = _class_tuning(
            spec.compensation_target, f"{label}.compensation"
        )
    return spec


def _class_tuning(target: Any, label: str) -> dict[str, Any]:
    try:
        return class_tuning(target)
    except InvalidDefinition as exc:
        raise InvalidDefinition(f"{label}: {exc}") from None


def parse_jobs(definitions: Any, label: str = "jobs") -> list[JobSpec | NestedSpec]:
    """Parse a list of job definitions, skipping ``None``/``False`` entries."""
    if isinstance(definitions, str | bytes | Mapping) or not isinstance(definitions, Iterable):
        raise InvalidDefinition(
            f"{label} must be a list of job definitions, got {type(definitions).__name__}"
        )
    specs: list[JobSpec | NestedSpec] = []
    memo: dict[Any, Any] = {}  # the same class or path is resolved once per list
    for index, definition in enumerate(definitions):
        spec = parse_job(definition, f"{label}[{index}]", memo)
        if spec is not None:
            specs.append(spec)
    return specs


def parse_callback(definition: Any, label: str) -> CallbackSpec:
    """Parse a callback: a Job class, @job function, dotted path or ``{"class": X, "args": {}}``."""
    args: Any = None
    if isinstance(definition, Mapping):
        unknown = sorted(set(map(str, definition)) - CALLBACK_KEYS)
        if unknown:
            raise InvalidDefinition(f"{label}: unknown key {unknown[0]!r} (allowed: args, class)")
        if "class" not in definition:
            raise InvalidDefinition(f"{label}: a dict callback needs a 'class' key")
        ref, args = definition["class"], definition.get("args")
    else:
        ref = definition
    path, target = resolve_ref(ref, label)
    spec = CallbackSpec(
        path=path, target=target, tuning=resolve_tuning({}, _class_tuning(target, label), {})
    )
    spec.args, _ = _check_args(args, f"{label}.args")
    clash = sorted(CALLBACK_RESERVED & set(spec.args))
    if clash:
        raise InvalidDefinition(
            f"{label}.args: {clash[0]!r} is passed by the framework and cannot be a callback arg"
        )
    return spec


#: Retries and timeout of a job nothing configures.
BASE_TUNING: dict[str, Any] = {"max_retries": 0, "retry_delay": 0.0, "timeout": None}


@cache
def class_tuning(target: Any) -> dict[str, Any]:
    """What a Job class or ``@job`` function sets itself, validated (once per target)."""
    return check_tuning(jobs_module.job_defaults(target), registry.path_of(target))


def resolve_tuning(
    spec_tuning: Mapping[str, Any],
    from_class: Mapping[str, Any],
    batch_defaults: Mapping[str, Any],
) -> dict[str, Any]:
    """Retries/timeout: definition key > the class's own setting > batch default > base."""
    resolved = dict(BASE_TUNING)
    for layer in (batch_defaults, from_class, spec_tuning):
        resolved.update({k: v for k, v in layer.items() if v is not None and k in resolved})
    return resolved
