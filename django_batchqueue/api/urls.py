"""URLs of the API. Mount with ``path("api/batchqueue/", include("django_batchqueue.api.urls"))``.

The OpenAPI schema is served at ``schema/`` under the same prefix. Any other URL under the prefix
is a JSON 404, like an unknown batch.
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import path, re_path
from rest_framework.routers import SimpleRouter

from .schema import BatchQueueSchemaView
from .views import BatchViewSet

app_name = "batchqueue-api"

router = SimpleRouter()
router.register("batches", BatchViewSet, basename="batch")


def not_found(request: HttpRequest, *args: object, **kwargs: object) -> JsonResponse:
    """JSON 404 for URLs under the API prefix that name nothing (e.g. an id containing '/')."""
    return JsonResponse({"detail": "Not found."}, status=404)


urlpatterns = [
    path("schema/", BatchQueueSchemaView.as_view(), name="schema"),
    *router.urls,
    re_path(r"^.*$", not_found),
]
