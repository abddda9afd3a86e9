"""``BatchViewSet``: list, detail, progress, jobs, results, cancel and retry."""

from __future__ import annotations

from typing import Any

from rest_framework import status as http_status
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import Serializer
from rest_framework.utils.formatting import markup_description

from ..exceptions import BatchClosed, BatchNotFound, InvalidBatchState
from ..execution import control
from ..models import Batch, BatchJob
from ..storage import get_storage
from . import filters
from .listing import Listing
from .pagination import BatchQueuePagination
from .permissions import BatchAPIAccess, CanControlBatches, sees_all_batches
from .schema import OPERATIONS, BatchQueueAutoSchema
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
    """Batches visible to the requesting user (see :mod:`.permissions`), read from storage."""

    schema = BatchQueueAutoSchema()
    lookup_url_kwarg = "id"
    # Any path segment reaches get_object, so a malformed id is the same JSON 404 as an unknown one.
    lookup_value_regex = "[^/]+"
    pagination_class = BatchQueuePagination
    serializer_class = BatchDetailSerializer
    # django-filter: the schema's parameters and the browsable API's form; the filter sets
    # only validate, reads go through storage.
    filter_backends = [filters.StorageFilterBackend]

    @property
    def filterset_class(self) -> type[filters.StorageFilterSet] | None:
        return {"list": filters.BatchFilterSet, "jobs": filters.JobFilterSet}.get(
            getattr(self, "action", None) or ""
        )

    def get_view_description(self, html: bool = False) -> str:
        """What the browsable API (and ``OPTIONS``) shows: the operation's summary and
        description from the schema, never this class's docstrings (they are for developers)."""
        op = OPERATIONS.get(getattr(self, "action", None) or "")
        text = "\n\n".join(part for part in (op.summary, op.description) if part) if op else ""
        return markup_description(text) if html else text

    def get_permissions(self) -> list[Any]:
        permissions: list[Any] = [BatchAPIAccess()]
        if self.action in ("cancel", "retry"):
            permissions.append(CanControlBatches())
        return permissions

    def get_queryset(self) -> Any:
        # Reads go through storage. Only the filter backend (schema, browsable API form) asks
        # for this, to learn the model its filter set describes: an empty queryset.
        model = BatchJob if getattr(self, "action", None) == "jobs" else Batch
        return model.objects.none()

    def _owner(self) -> Any:
        """The user whose batches this request may see, or None when it may see all."""
        return None if sees_all_batches(self.request, self) else self.request.user.pk

    def _batch(self, summary: bool = False) -> Any:
        """The batch named in the URL; a malformed or unknown (or invisible) id is a 404."""
        try:
            uid = control.parse_batch_id(self.kwargs[self.lookup_url_kwarg])
        except BatchNotFound as exc:
            raise NotFound(str(exc)) from None
        storage = get_storage()
        batch = storage.progress_of([uid]).get(uid) if summary else storage.get_batch(uid)
        owner = self._owner()
        if batch is None or (owner is not None and batch.created_by_id != owner):
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

    def _page(self, listing: Listing, serializer: type[Serializer]) -> Response:
        page = self.paginate_queryset(listing)  # type: ignore[arg-type]
        return self.get_paginated_response(serializer(page, many=True).data)

    # -- reading ---------------------------------------------------------------------------

    def list(self, request: Request) -> Response:
        """Batches, newest first, filtered by the query string."""
        query = filters.filterset_for(self, request).batch_query(created_by_id=self._owner())
        storage = get_storage()
        listing = Listing(
            lambda offset, limit: storage.list_batches(query, offset, limit),
            lambda: storage.count_batches(query),
        )
        return self._page(listing, BatchListSerializer)

    def retrieve(self, request: Request, id: str) -> Response:
        return Response(BatchDetailSerializer(self._batch()).data)

    @action(detail=True, methods=["get"])
    def progress(self, request: Request, id: str) -> Response:
        return Response(ProgressSerializer(self._batch(summary=True)).data)

    @action(detail=True, methods=["get"])
    def jobs(self, request: Request, id: str) -> Response:
        filterset = filters.filterset_for(self, request)
        filterset.validated()  # a bad query string is a 400 before the batch is looked up
        query = filterset.job_query(self._batch(summary=True).pk)
        storage = get_storage()
        listing = Listing(
            lambda offset, limit: storage.list_jobs(query, offset, limit),
            lambda: storage.count_jobs(query),
        )
        return self._page(listing, BatchJobSerializer)

    @action(detail=True, methods=["get"])
    def results(self, request: Request, id: str) -> Response:
        batch_id = self._batch(summary=True).pk
        storage = get_storage()

        def rows(offset: int, limit: int) -> list[dict[str, Any]]:
            found = storage.completed_results(batch_id, offset, limit)
            return [
                {"job_id": job_id, "position": pos, "result": res} for job_id, pos, res in found
            ]

        listing = Listing(rows, lambda: storage.count_completed(batch_id))
        return self._page(listing, JobResultSerializer)

    # -- controlling -----------------------------------------------------------------------

    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, id: str) -> Response:
        batch = self._batch(summary=True)
        body = CancelRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        storage = get_storage()
        if not control.cancel(batch.pk, compensate=body.validated_data["compensate"]):
            raise Conflict(
                f"batch {batch.pk} is {storage.batch_status(batch.pk)}; only a pending or "
                "running batch can be cancelled"
            )
        fresh = storage.get_batch(batch.pk)
        return Response({"cancelled": True, "batch": BatchDetailSerializer(fresh).data})

    @action(detail=True, methods=["post"])
    def retry(self, request: Request, id: str) -> Response:
        batch = self._batch(summary=True)
        requeued = control.retry_failed(batch.pk)
        fresh = get_storage().get_batch(batch.pk)
        return Response({"requeued_jobs": requeued, "batch": BatchDetailSerializer(fresh).data})
