"""The OpenAPI schema of this API only (drf-spectacular), wherever the project mounts it.

Operations are described by :class:`BatchQueueAutoSchema`, set on the view itself, so the schema
is right without the project pointing DRF's ``DEFAULT_SCHEMA_CLASS`` at drf-spectacular
(``@extend_schema`` on actions needs that setting).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse
from drf_spectacular.views import SpectacularAPIView

from . import serializers
from .permissions import BatchAPIAccess


def _errors(*codes: int) -> dict[int, OpenApiResponse]:
    described = {
        400: OpenApiResponse(OpenApiTypes.OBJECT, description="Invalid parameters: field errors."),
        401: OpenApiResponse(
            serializers.ErrorSerializer,
            description="Not authenticated, when the project's first authentication class "
            "sends a challenge (HTTP Basic, token); with DRF's default (session first) a 403.",
        ),
        403: OpenApiResponse(
            serializers.ErrorSerializer,
            description="Not allowed; with DRF's default authentication also not "
            "authenticated or bad credentials.",
        ),
        404: OpenApiResponse(
            serializers.ErrorSerializer, description="No such batch (or page), or not yours."
        ),
        409: OpenApiResponse(
            serializers.ErrorSerializer, description="Not applicable in the batch's state."
        ),
    }
    return {code: described[code] for code in (401, 403, *codes)}


@dataclass(frozen=True)
class Operation:
    summary: str
    responses: dict[int, Any]
    description: str = ""
    parameters: list[Any] = field(default_factory=list)
    request: Any = None


OPERATIONS: dict[str, Operation] = {
    "list": Operation(
        "List batches, newest first",
        {200: serializers.BatchListSerializer(many=True), **_errors(400, 404)},
        description="Filter with the query parameters; a blank value is no filter. Staff see "
        "every batch; in own-batches mode other users see the batches they dispatched.",
    ),
    "retrieve": Operation(
        "One batch, with its progress",
        {200: serializers.BatchDetailSerializer, **_errors(404)},
        description="Its settings, context, error and the progress block of `progress/`.",
    ),
    "progress": Operation(
        "Progress of one batch (poll this for a progress bar)",
        {200: serializers.ProgressSerializer, **_errors(404)},
        description="One database query, answered from the batch's counters. Poll it until "
        "`status` is `completed`, `failed` or `cancelled`.",
    ),
    "jobs": Operation(
        "Jobs, callbacks and compensations of one batch, by position",
        {200: serializers.BatchJobSerializer(many=True), **_errors(400, 404)},
        description="Filter with `status` and `kind`; a blank value is no filter.",
    ),
    "results": Operation(
        "Results of the completed jobs, in position order",
        {200: serializers.JobResultSerializer(many=True), **_errors(404)},
        description="`{job_id, position, result}` of each completed job.",
    ),
    "cancel": Operation(
        "Cancel a pending or running batch",
        {200: serializers.CancelResponseSerializer, **_errors(400, 404, 409)},
        description="Needs the `django_batchqueue.change_batch` permission. With "
        '`{"compensate": true}` the compensations of completed jobs run, newest first.',
        request=serializers.CancelRequestSerializer,
    ),
    "retry": Operation(
        "Re-queue the failed and cancelled jobs of a failed batch",
        {200: serializers.RetryResponseSerializer, **_errors(404, 409)},
        description="Needs the `django_batchqueue.change_batch` permission. A chain resumes "
        "at its failed step. Refused (409) unless the batch failed and its compensation has "
        "not started.",
    ),
}


class BatchQueueAutoSchema(AutoSchema):
    """Reads summaries, parameters, request and responses from :data:`OPERATIONS`."""

    def _operation(self) -> Operation | None:
        return OPERATIONS.get(getattr(self.view, "action", None) or "")

    def get_summary(self) -> str | None:
        op = self._operation()
        return op.summary if op else super().get_summary()

    def get_description(self) -> str:  # type: ignore[override]  # drf-spectacular's signature
        # Only what OPERATIONS says: docstrings are for developers of this package, and
        # drf-spectacular would otherwise publish the view's.
        op = self._operation()
        return op.description if op else ""

    def get_override_parameters(self) -> list[Any]:
        op = self._operation()
        return [*super().get_override_parameters(), *(op.parameters if op else [])]

    def _get_filter_parameters(self) -> list[dict[str, Any]]:
        # django-filter treats an empty value as "no filter" (what the browsable API's filter
        # form sends for a field left blank), and the schema says so.
        return [{**p, "allowEmptyValue": True} for p in super()._get_filter_parameters()]

    def get_request_serializer(self) -> Any:
        op = self._operation()
        return op.request if op else super().get_request_serializer()

    def get_response_serializers(self) -> Any:
        op = self._operation()
        return op.responses if op else super().get_response_serializers()

    def get_tags(self) -> list[str]:
        return ["batches"]


class BatchQueueSchemaGenerator(SchemaGenerator):
    """Keeps only the views described by :class:`BatchQueueAutoSchema` (other DRF views of the
    project stay out)."""

    def _initialise_endpoints(self) -> None:
        super()._initialise_endpoints()
        # Each endpoint is (path, path_regex, method, view).
        endpoints: list[Any] = list(self.endpoints or [])
        self.endpoints = [
            endpoint
            for endpoint in endpoints
            if isinstance(
                getattr(getattr(endpoint[3], "cls", None), "schema", None), BatchQueueAutoSchema
            )
        ]


class BatchQueueSchemaView(SpectacularAPIView):
    """``GET schema/``: OpenAPI 3 (YAML by default, ``?format=json`` for JSON)."""

    generator_class = BatchQueueSchemaGenerator
    permission_classes = [BatchAPIAccess]
    custom_settings: dict[str, Any] = {
        "TITLE": "django-batchqueue API",
        "DESCRIPTION": "Inspect, cancel and retry batches of background jobs.",
        "VERSION": "1",
        "ENUM_NAME_OVERRIDES": {
            "BatchStatusEnum": "django_batchqueue.states.BatchStatus",
            "BatchTypeEnum": "django_batchqueue.states.BatchType",
            "JobStatusEnum": "django_batchqueue.states.JobStatus",
            "JobKindEnum": "django_batchqueue.states.JobKind",
            "CompensationStatusEnum": "django_batchqueue.states.CompensationStatus",
            "CallbackEventEnum": "django_batchqueue.states.CallbackEvent",
        },
    }
