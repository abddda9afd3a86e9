"""Cancel, cancel-and-compensate and retry-failed for the admin.

The changelist actions and the buttons on the batch page both end up in :func:`run_action`,
which calls the same control functions as the Python API (``execution.control``) one batch at
a time, turns each outcome into a message, and records each change in the admin's log
(``ModelAdmin.log_change``) so the batch's History says who cancelled or retried it. Outcomes
are told apart by return values and library exception types, never by parsing an error message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from ..exceptions import BatchNotFound, CompensationStarted, NothingToRetry
from ..execution import control
from ..models import Batch
from ..states import BatchStatus, CompensationStatus
from ..storage import get_storage
from ..storage.records import BatchRecord

if TYPE_CHECKING:
    from django.utils.functional import _StrOrPromise

#: Batches named in one message before the rest are summed up as "and N more".
NAMES_SHOWN = 5


@dataclass(frozen=True)
class Outcome:
    """What one action did to one batch: a message level and a sentence about it."""

    level: int
    key: str
    batch: Batch | BatchRecord
    detail: str = ""


def _cancel(batch: Batch | BatchRecord, compensate: bool) -> Outcome:
    try:
        cancelled = control.cancel(batch.pk, compensate=compensate)
    except BatchNotFound:
        return Outcome(messages.ERROR, "gone", batch)
    if not cancelled:
        status = _current_status(batch)
        return Outcome(messages.WARNING, "finished", batch, status)
    if compensate and not batch.has_compensation:
        return Outcome(messages.SUCCESS, "cancelled-nothing-to-compensate", batch)
    return Outcome(messages.SUCCESS, "cancelled-compensating" if compensate else "cancelled", batch)


def cancel(batch: Batch | BatchRecord) -> Outcome:
    """Cancel: jobs not yet started never run, no further chain step starts."""
    return _cancel(batch, compensate=False)


def cancel_and_compensate(batch: Batch | BatchRecord) -> Outcome:
    """Cancel, then run the completed jobs' compensations in reverse position order."""
    return _cancel(batch, compensate=True)


def retry_failed(batch: Batch | BatchRecord) -> Outcome:
    """Re-queue a failed batch's failed and cancelled jobs (a tolerant batch's failed jobs)."""
    try:
        requeued = control.retry_failed(batch.pk)
    except BatchNotFound:
        return Outcome(messages.ERROR, "gone", batch)
    except CompensationStarted:
        return Outcome(messages.WARNING, "compensated", batch, _current_compensation(batch))
    except NothingToRetry:
        return Outcome(messages.WARNING, "not-failed", batch, _current_status(batch))
    return Outcome(messages.SUCCESS, "retried", batch, str(requeued))


# key -> (one batch, several batches); {name} is the batch (or a list of them), {detail} the
# outcome's detail.
_SENTENCES: dict[str, tuple[_StrOrPromise, _StrOrPromise]] = {
    "cancelled": (_("Cancelled batch {name}."), _("Cancelled {count} batches: {name}.")),
    "cancelled-compensating": (
        _("Cancelled batch {name}; its completed jobs are being compensated."),
        _("Cancelled {count} batches; their completed jobs are being compensated: {name}."),
    ),
    "cancelled-nothing-to-compensate": (
        _("Cancelled batch {name}; it has no compensations to run."),
        _("Cancelled {count} batches that have no compensations to run: {name}."),
    ),
    "finished": (
        _("Batch {name} is already {detail}; nothing to cancel."),
        _("{count} batches had already finished; nothing to cancel: {name}."),
    ),
    "retried": (
        _("Batch {name}: re-queued {detail} failed or cancelled jobs."),
        _("Re-queued the failed jobs of {count} batches: {name}."),
    ),
    "not-failed": (
        _(
            "Batch {name} is {detail}; only a failed batch, or a completed allow-failures batch "
            "with failed jobs, can be retried."
        ),
        _(
            "{count} batches have nothing to retry (only a failed batch, or a completed "
            "allow-failures batch with failed jobs, can be retried): {name}."
        ),
    ),
    "compensated": (
        _("Batch {name} cannot be retried: its compensation has started (compensation {detail})."),
        _("{count} batches cannot be retried because their compensation has started: {name}."),
    ),
    "gone": (_("Batch {name} no longer exists."), _("{count} batches no longer exist: {name}.")),
}


def report(request: HttpRequest, outcomes: Iterable[Outcome]) -> None:
    """One message per kind of outcome, naming the batches it concerns."""
    groups: dict[str, list[Outcome]] = {}
    for outcome in outcomes:
        groups.setdefault(outcome.key, []).append(outcome)
    for key, group in groups.items():
        one, many = _SENTENCES[key]
        if len(group) == 1:
            text = one.format(name=_label(group[0].batch), detail=group[0].detail)
        else:
            text = many.format(count=len(group), name=_names(group), detail="")
        messages.add_message(request, group[0].level, text)


#: Outcomes that changed the batch, and the admin log's change message for each.
_LOGGED: dict[str, _StrOrPromise] = {
    "cancelled": _("Cancelled."),
    "cancelled-compensating": _("Cancelled; its completed jobs are being compensated."),
    "cancelled-nothing-to-compensate": _("Cancelled and compensated (nothing to compensate)."),
    "retried": _("Retried: re-queued {detail} failed or cancelled jobs."),
}


def log_changes(model_admin: Any, request: HttpRequest, outcomes: Iterable[Outcome]) -> None:
    """Record every outcome that changed a batch with ``model_admin.log_change`` (Django 5.2
    and 6.x alike), so the batch's History shows who did what."""
    for outcome in outcomes:
        message = _LOGGED.get(outcome.key)
        if message is not None:
            model_admin.log_change(
                request, _as_model(outcome.batch), message.format(detail=outcome.detail)
            )


def run_action(
    request: HttpRequest,
    batches: Iterable[Batch | BatchRecord],
    action: Callable[[Batch | BatchRecord], Outcome],
    model_admin: Any = None,
) -> list[Outcome]:
    """Apply ``action`` to every batch (in creation order), record the changes in the admin
    log of ``model_admin`` (when given) and report the outcomes."""
    outcomes = [action(batch) for batch in batches]
    if model_admin is not None:
        log_changes(model_admin, request, outcomes)
    report(request, outcomes)
    return outcomes


#: Name -> (function, label) of every control action, for the changelist and the buttons.
CONTROL_ACTIONS: dict[str, tuple[Callable[[Batch | BatchRecord], Outcome], _StrOrPromise]] = {
    "cancel": (cancel, _("Cancel")),
    "cancel_and_compensate": (cancel_and_compensate, _("Cancel and compensate")),
    "retry_failed": (retry_failed, _("Retry failed jobs")),
}


def _changelist_action(name: str, description: _StrOrPromise) -> Callable[..., None]:
    function, _ = CONTROL_ACTIONS[name]

    @admin.action(description=description, permissions=["control"])
    def action(modeladmin: Any, request: HttpRequest, queryset: QuerySet[Batch]) -> None:
        run_action(request, queryset.order_by("created_at"), function, modeladmin)

    action.__name__ = name
    return action


cancel_selected = _changelist_action("cancel", _("Cancel selected batches"))
cancel_and_compensate_selected = _changelist_action(
    "cancel_and_compensate", _("Cancel selected batches and compensate their completed jobs")
)
retry_failed_selected = _changelist_action(
    "retry_failed", _("Retry the failed jobs of selected batches")
)


def _as_model(batch: Batch | BatchRecord) -> Batch:
    """The model instance the admin log names (a storage record becomes an unsaved ``Batch``
    with the same id and name: the log only reads its type, pk and ``str()``)."""
    return batch if isinstance(batch, Batch) else Batch(id=batch.pk, name=batch.name)


def _current_status(batch: Batch | BatchRecord) -> str:
    """The batch's status as a sentence names it ("completed"; in German "abgeschlossen")."""
    return _status_word(BatchStatus, get_storage().batch_status(batch.pk) or batch.status)


def _current_compensation(batch: Batch | BatchRecord) -> str:
    fresh = get_storage().get_batch(batch.pk)
    return _status_word(CompensationStatus, (fresh or batch).compensation_status)


def _status_word(choices: Any, value: str | None) -> str:
    return str(choices(value).label).lower() if value in choices.values else str(value)


def _label(batch: Batch | BatchRecord) -> str:
    return f"“{batch.name}” ({batch.pk})" if batch.name else str(batch.pk)


def _names(group: list[Outcome]) -> str:
    shown = [_label(o.batch) for o in group[:NAMES_SHOWN]]
    rest = len(group) - len(shown)
    return ", ".join(shown) + (str(_(" and {rest} more")).format(rest=rest) if rest else "")
