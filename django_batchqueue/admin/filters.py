"""Changelist filters that Django's field filters do not express well."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from ..states import BatchType, CompensationStatus

if TYPE_CHECKING:
    from django.utils.functional import _StrOrPromise


class CompensationFilter(admin.SimpleListFilter):
    """Compensation status, with "nothing to compensate" (NULL) as a choice of its own."""

    title = _("compensation")
    parameter_name = "compensation"
    NONE = "none"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, _StrOrPromise]]:
        return [(self.NONE, _("Nothing to compensate")), *CompensationStatus.choices]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value == self.NONE:
            return queryset.filter(compensation_status__isnull=True)
        if value in CompensationStatus.values:
            return queryset.filter(compensation_status=value)
        return queryset


class BatchTypeFilter(admin.SimpleListFilter):
    """Parallel or chain, named as in Python (``batch(...)``, ``chain(...)``): ``?type=chain``;
    the stored value ``sequential`` is accepted too."""

    title = _("type")
    parameter_name = "type"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, _StrOrPromise]]:
        return [(BatchType.PARALLEL.value, BatchType.PARALLEL.label), ("chain", _("Chain"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value in ("chain", BatchType.SEQUENTIAL):
            return queryset.filter(type=BatchType.SEQUENTIAL)
        if value == BatchType.PARALLEL:
            return queryset.filter(type=BatchType.PARALLEL)
        return queryset


class LevelFilter(admin.SimpleListFilter):
    """Top-level batches by default; nested ones too (or only) on request."""

    title = _("level")
    parameter_name = "level"
    ALL, NESTED = "all", "nested"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, _StrOrPromise]]:
        return [(self.ALL, _("All batches")), (self.NESTED, _("Nested batches only"))]

    def choices(self, changelist: Any) -> Any:
        yield {
            "selected": self.value() is None,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": _("Top-level batches"),
        }
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value == self.ALL:
            return queryset
        if value == self.NESTED:
            return queryset.filter(parent__isnull=False)
        return queryset.filter(parent__isnull=True)
