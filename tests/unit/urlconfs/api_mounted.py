from django.urls import include, path

urlpatterns = [path("api/batchqueue/", include("django_batchqueue.api.urls"))]
