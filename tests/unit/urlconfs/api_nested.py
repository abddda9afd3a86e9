"""The API two include() levels down, after an include whose module cannot be imported."""

from django.urls import URLResolver, include, path
from django.urls.resolvers import RoutePattern

urlpatterns = [
    # include() imports at once; a resolver built by hand imports only when walked.
    URLResolver(RoutePattern("gone/"), "tests.unit.urlconfs.does_not_exist"),
    path("v1/", include([path("jobs/", include("django_batchqueue.api.urls", namespace="bq"))])),
]
