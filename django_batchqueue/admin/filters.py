"""Changelist filters that Django's field filters do not express well."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from ..states import CompensationStatus


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
