"""Changelist filters that Django's field filters do not express well."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from ..states import BatchType, CompensationStatus


class CompensationFilter(admin.SimpleListFilter):
    """Compensation status, with "nothing to compensate" (NULL) as a choice of its own."""

    title = "compensation"
    parameter_name = "compensation"
    NONE = "none"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(self.NONE, "Nothing to compensate"), *CompensationStatus.choices]

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

    title = "type"
    parameter_name = "type"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(BatchType.PARALLEL.value, BatchType.PARALLEL.label), ("chain", "Chain")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value in ("chain", BatchType.SEQUENTIAL):
            return queryset.filter(type=BatchType.SEQUENTIAL)
        if value == BatchType.PARALLEL:
            return queryset.filter(type=BatchType.PARALLEL)
        return queryset


class LevelFilter(admin.SimpleListFilter):
    """Top-level batches by default; nested ones too (or only) on request."""

    title = "level"
    parameter_name = "level"
    ALL, NESTED = "all", "nested"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(self.ALL, "All batches"), (self.NESTED, "Nested batches only")]

    def choices(self, changelist: Any) -> Any:
        yield {
            "selected": self.value() is None,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": "Top-level batches",
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
