"""Changelist filters that Django's field filters do not express well."""

from __future__ import annotations

from django.contrib import admin

from ..states import CompensationStatus


class CompensationFilter(admin.SimpleListFilter):
    """Compensation status, with "nothing to compensate" (NULL) as a choice of its own."""

    title = "compensation"
    parameter_name = "compensation"
    NONE = "none"

    def lookups(self, request, model_admin):
        return [(self.NONE, "Nothing to compensate"), *CompensationStatus.choices]

    def queryset(self, request, queryset):
        value = self.value()
        if value == self.NONE:
            return queryset.filter(compensation_status__isnull=True)
        if value in CompensationStatus.values:
            return queryset.filter(compensation_status=value)
        return queryset
