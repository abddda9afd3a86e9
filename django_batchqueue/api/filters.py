"""Query-string filters as django-filter ``FilterSet``\\ s (bad values give 400 with field errors).

The API reads through storage, not the ORM, so a filter set here only validates the query string
and turns it into a storage query (:class:`~django_batchqueue.storage.base.BatchQuery`,
:class:`~django_batchqueue.storage.base.JobQuery`); it never filters a queryset. Being ordinary
``FilterSet``\\ s, drf-spectacular documents them and the browsable API shows them as a form.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_filters import rest_framework as django_filters
from django_filters.fields import IsoDateTimeField
from django_filters.utils import translate_validation
from django_filters.widgets import BooleanWidget
from drf_spectacular.utils import extend_schema_field
from rest_framework.request import Request

from ..models import Batch, BatchJob
from ..states import BatchStatus, BatchType, JobKind, JobStatus
from ..storage.base import BatchQuery, JobQuery

TRUE = {"1", "true", "t", "yes", "y", "on"}
FALSE = {"0", "false", "f", "no", "n", "off"}


class UTCDateTimeField(IsoDateTimeField):
    """An ISO 8601 time, in UTC: PostgreSQL refuses offsets beyond ±15:59 in a query, and a time
    that has no UTC equivalent (year 1 east of Greenwich) is a validation error, not a 500."""

    def to_python(self, value: Any) -> Any:
        parsed = super().to_python(value)
        if parsed is None:
            return None
        try:
            return parsed.astimezone(UTC) if timezone.is_aware(parsed) else parsed
        except OverflowError:
            raise ValidationError(_("Datetime value out of range."), code="overflow") from None


class UTCDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UTCDateTimeField


class StrictBooleanWidget(BooleanWidget):
    """Like django-filter's, but an unknown value reaches the field (to be refused) instead of
    silently meaning "no filter"."""

    def value_from_datadict(self, data: Any, files: Any, name: str) -> Any:
        value = data.get(name)
        if isinstance(value, str):
            lowered = value.lower()
            return True if lowered in TRUE else False if lowered in FALSE else value
        return value


class StrictBooleanField(forms.NullBooleanField):
    """``true``/``false`` (or absent); anything else is a validation error."""

    widget = StrictBooleanWidget

    def to_python(self, value: Any) -> bool | None:  # type: ignore[override]  # None: no filter
        if value in (True, False):
            return bool(value)
        if value in (None, ""):
            return None
        raise ValidationError(_("Must be a boolean: true or false."), code="invalid")

    def validate(self, value: Any) -> None:
        pass


class BatchTypeField(forms.ChoiceField):
    """A batch type; ``chain`` (what Python calls it: ``chain(...)``, and the admin's label) is
    accepted for the stored value ``sequential``."""

    def to_python(self, value: Any) -> str:
        value = super().to_python(value)
        return BatchType.SEQUENTIAL.value if value == "chain" else value


class BatchTypeFilter(django_filters.ChoiceFilter):
    field_class = BatchTypeField


class StrictBooleanFilter(django_filters.BooleanFilter):
    field_class = StrictBooleanField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", StrictBooleanWidget)
        super().__init__(*args, **kwargs)


class StorageFilterSet(django_filters.FilterSet):
    """A filter set that validates for a storage read; it never filters a queryset."""

    def validated(self) -> dict[str, Any]:
        """The cleaned values that were given (empty strings mean "no filter")."""
        if not self.is_valid():
            raise translate_validation(self.errors)
        return {
            key: value
            for key, value in self.form.cleaned_data.items()
            if value is not None and value != ""
        }

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        raise NotImplementedError("the API reads through storage: use validated()")


# A NUL can be in no name and PostgreSQL refuses it in a query: refused (400, Django's
# CharField refuses it), and the schema says so with a pattern.
NAME_SCHEMA = {
    "type": "string",
    "pattern": "^[^\\x00]*$",
    "maxLength": 255,
    "description": "Case-insensitive substring of the name.",
}


TYPE_HELP = _("parallel (a batch) or sequential (a chain; chain is accepted for sequential).")
TYPE_SCHEMA = {
    "type": "string",
    "enum": [*BatchType.values, "chain"],
    "description": "`parallel` (a batch) or `sequential` (a chain; `chain` is accepted for "
    "`sequential`).",
}


class BatchFilterSet(StorageFilterSet):
    """Filters of ``GET batches/``."""

    status = django_filters.ChoiceFilter(choices=BatchStatus.choices, label=_("Status"))
    type = extend_schema_field(TYPE_SCHEMA)(
        BatchTypeFilter(choices=BatchType.choices, label=_("Type"), help_text=TYPE_HELP)
    )
    has_compensation = StrictBooleanFilter(
        label=_("Has compensation"),
        help_text=_("Batches with (true) or without (false) a compensation step."),
    )
    name = extend_schema_field(NAME_SCHEMA)(
        django_filters.CharFilter(
            label=_("Name contains"),
            max_length=255,
            help_text=_("Case-insensitive substring of the name."),
        )
    )
    created_after = UTCDateTimeFilter(
        label=_("Created at or after"),
        help_text=_("Batches created at or after this time (ISO 8601)."),
    )
    created_before = UTCDateTimeFilter(
        label=_("Created before"),
        help_text=_("Batches created before this time (ISO 8601)."),
    )

    class Meta:
        model = Batch
        fields: list[str] = []

    def batch_query(self, created_by_id: Any = None) -> BatchQuery:
        """The storage query of these filters; raises a 400 on bad values."""
        given = self.validated()
        return BatchQuery(
            status=given.get("status"),
            type=given.get("type"),
            has_compensation=given.get("has_compensation"),
            name_contains=given.get("name"),
            created_after=given.get("created_after"),
            created_before=given.get("created_before"),
            created_by_id=created_by_id,
        )


class JobFilterSet(StorageFilterSet):
    """Filters of ``GET batches/{id}/jobs/``."""

    status = django_filters.ChoiceFilter(choices=JobStatus.choices, label=_("Status"))
    kind = django_filters.ChoiceFilter(choices=JobKind.choices, label=_("Kind"))

    class Meta:
        model = BatchJob
        fields: list[str] = []

    def job_query(self, batch_id: Any) -> JobQuery:
        """The storage query of these filters within one batch; raises a 400 on bad values."""
        return JobQuery(batch_id=batch_id, **self.validated())


class StorageFilterBackend(django_filters.DjangoFilterBackend):
    """django-filter's backend for the schema and the browsable API's form; the form renders
    from this package's template, so ``django_filters`` need not be in ``INSTALLED_APPS``."""

    template = "django_batchqueue/api/filter_form.html"

    def filter_queryset(self, request: Request, queryset: Any, view: Any) -> Any:
        return queryset  # the views read through storage with the filter set's query


def filterset_for(view: Any, request: Request) -> Any:
    """The view's filter set bound to the request's query string."""
    backend = StorageFilterBackend()
    return backend.get_filterset(request, view.get_queryset(), view)
