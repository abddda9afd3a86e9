from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/batchqueue/", include("django_batchqueue.api.urls")),
]
