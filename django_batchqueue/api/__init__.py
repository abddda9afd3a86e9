"""REST API over batches (Django REST framework), mounted with
``path("api/batchqueue/", include("django_batchqueue.api.urls"))``.

See docs/api.md. Only this package imports DRF and drf-spectacular.
"""
