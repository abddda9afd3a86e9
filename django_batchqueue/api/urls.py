"""URLs of the API. Mount with ``path("api/batchqueue/", include("django_batchqueue.api.urls"))``.

The OpenAPI schema is served at ``schema/`` under the same prefix.
"""

from __future__ import annotations

from django.urls import path
from rest_framework.routers import SimpleRouter

from .schema import BatchQueueSchemaView
from .views import BatchViewSet

app_name = "batchqueue-api"

router = SimpleRouter()
router.register("batches", BatchViewSet, basename="batch")

urlpatterns = [
    path("schema/", BatchQueueSchemaView.as_view(), name="schema"),
    *router.urls,
]
