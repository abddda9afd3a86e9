"""``BatchViewSet``: list, detail, progress, jobs, results, cancel and retry."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from rest_framework import status as http_status
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from ..exceptions import BatchClosed, BatchNotFound, InvalidBatchState
from ..execution import control
from ..manager import PROGRESS_FIELDS, completed_results
from ..models import Batch, BatchJob
from . import filters
from .pagination import BatchQueuePagination
from .permissions import BatchAPIAccess, CanControlBatches, sees_all_batches
from .schema import BatchQueueAutoSchema
from .serializers import (
    BatchDetailSerializer,
    BatchJobSerializer,
    BatchListSerializer,
    CancelRequestSerializer,
    JobResultSerializer,
    ProgressSerializer,
)


class Conflict(APIException):
    """The operation does not apply to the batch in its current state."""

    status_code = http_status.HTTP_409_CONFLICT
    default_detail = "The operation does not apply to the batch in its current state."
    default_code = "conflict"


class BatchViewSet(viewsets.GenericViewSet):
    """Batches visible to the requesting user (see :mod:`.permissions`)."""

    schema = BatchQueueAutoSchema()
    lookup_url_kwarg = "id"
    # Any path segment reaches get_object, so a malformed id is the same JSON 404 as an unknown one.
    lookup_value_regex = "[^/]+"
    pagination_class = BatchQueuePagination
    serializer_class = BatchDetailSerializer

    def get_permissions(self) -> list[Any]:
        permissions: list[Any] = [BatchAPIAccess()]
        if self.action in ("cancel", "retry"):
            permissions.append(CanControlBatches())
        return permissions

    def get_queryset(self) -> QuerySet[Batch]:
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return Batch.objects.none()
        queryset = Batch.objects.order_by("-created_at", "-id")
        if not sees_all_batches(self.request, self):
            queryset = queryset.filter(created_by=self.request.user.pk)
        return queryset

    def get_object(self, queryset: QuerySet[Batch] | None = None) -> Batch:
        """The batch named in the URL; a malformed or unknown (or invisible) id is a 404."""
        try:
            uid = control.parse_batch_id(self.kwargs[self.lookup_url_kwarg])
        except BatchNotFound as exc:
            raise NotFound(str(exc)) from None
        batch = (queryset if queryset is not None else self.get_queryset()).filter(pk=uid).first()
        if batch is None:
            raise NotFound(f"no batch with id {str(uid)!r}")
        self.check_object_permissions(self.request, batch)
        return batch

    def handle_exception(self, exc: Exception) -> Response:
        # The library's own exceptions map to HTTP statuses; their messages are passed through.
        if isinstance(exc, BatchNotFound):
            exc = NotFound(str(exc))
        elif isinstance(exc, (InvalidBatchState, BatchClosed)):
            exc = Conflict(str(exc))
        return super().handle_exception(exc)

    # -- reading ---------------------------------------------------------------------------

    def list(self, request: Request) -> Response:
        """Batches, newest first, filtered by the query string."""
        wanted = filters.validated_query(filters.BatchFilterSerializer, request)
        queryset = filters.filter_batches(self.get_queryset(), wanted).only(
            *BatchListSerializer.list_columns
        )
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(BatchListSerializer(page, many=True).data)

    def retrieve(self, request: Request, id: str) -> Response:
        return Response(BatchDetailSerializer(self.get_object()).data)

    @action(detail=True, methods=["get"])
    def progress(self, request: Request, id: str) -> Response:
        batch = self.get_object(self.get_queryset().only(*PROGRESS_FIELDS))
        return Response(ProgressSerializer(batch).data)

    @action(detail=True, methods=["get"])
    def jobs(self, request: Request, id: str) -> Response:
        wanted = filters.validated_query(filters.JobFilterSerializer, request)
        batch = self.get_object(self.get_queryset().only("id"))
        queryset = filters.filter_jobs(
            BatchJob.objects.filter(batch=batch).defer("traceback", "meta"), wanted
        ).order_by("position", "created_at", "id")
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(BatchJobSerializer(page, many=True).data)

    @action(detail=True, methods=["get"])
    def results(self, request: Request, id: str) -> Response:
        batch = self.get_object(self.get_queryset().only("id"))
        page = self.paginate_queryset(completed_results(batch.pk))
        rows = [{"job_id": job_id, "position": pos, "result": res} for job_id, pos, res in page]
        return self.get_paginated_response(JobResultSerializer(rows, many=True).data)

    # -- controlling -----------------------------------------------------------------------

    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, id: str) -> Response:
        batch = self.get_object()
        body = CancelRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        if not control.cancel(batch.pk, compensate=body.validated_data["compensate"]):
            batch.refresh_from_db(fields=["status"])
            raise Conflict(
                f"batch {batch.pk} is {batch.status}; only a pending or running batch "
                "can be cancelled"
            )
        batch.refresh_from_db()
        return Response({"cancelled": True, "batch": BatchDetailSerializer(batch).data})

    @action(detail=True, methods=["post"])
    def retry(self, request: Request, id: str) -> Response:
        batch = self.get_object()
        requeued = control.retry_failed(batch.pk)
        batch.refresh_from_db()
        return Response({"requeued_jobs": requeued, "batch": BatchDetailSerializer(batch).data})
