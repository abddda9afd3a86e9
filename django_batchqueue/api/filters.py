"""Query-string filters, validated by serializers (bad values give 400 with field errors)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from ..states import BatchStatus, BatchType, JobKind, JobStatus
from ..storage.base import BatchQuery


def validated_query(serializer_class: type[serializers.Serializer], request: Any) -> dict:
    """Validate ``request.query_params`` with ``serializer_class``; raises a 400 on bad values.

    A plain dict is validated, not the QueryDict: DRF treats a missing boolean in form data as
    ``False``, which here would wrongly filter on ``has_compensation=false``.
    """
    serializer = serializer_class(data=request.query_params.dict())
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class BatchFilterSerializer(serializers.Serializer):
    """Filters of ``GET batches/``."""

    status = serializers.ChoiceField(choices=BatchStatus.choices, required=False)
    type = serializers.ChoiceField(choices=BatchType.choices, required=False)
    has_compensation = serializers.BooleanField(required=False)
    # A NUL can be in no name and PostgreSQL refuses it in a query: refused (400), and the schema
    # says so with a pattern.
    name = serializers.RegexField(
        r"^[^\x00]*$",
        required=False,
        allow_blank=True,
        max_length=255,
        help_text="Case-insensitive substring of the name.",
    )
    created_after = serializers.DateTimeField(
        required=False, help_text="Batches created at or after this time (ISO 8601)."
    )
    created_before = serializers.DateTimeField(
        required=False, help_text="Batches created before this time (ISO 8601)."
    )


def batch_query(filters: dict[str, Any], created_by_id: Any = None) -> BatchQuery:
    """A storage query for validated :class:`BatchFilterSerializer` data."""
    given = {key: value for key, value in filters.items() if value != ""}
    return BatchQuery(
        status=given.get("status"),
        type=given.get("type"),
        has_compensation=given.get("has_compensation"),
        name_contains=given.get("name"),
        created_after=given.get("created_after"),
        created_before=given.get("created_before"),
        created_by_id=created_by_id,
    )


class JobFilterSerializer(serializers.Serializer):
    """Filters of ``GET batches/{id}/jobs/``."""

    status = serializers.ChoiceField(choices=JobStatus.choices, required=False)
    kind = serializers.ChoiceField(choices=JobKind.choices, required=False)
