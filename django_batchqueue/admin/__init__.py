"""Django admin for django_batchqueue: a live monitor of batches and their jobs, with actions.

``batch`` (the Batch admin), ``job`` (the BatchJob admin), ``actions`` (cancel / compensate /
retry), ``detail`` (the batch page's job tables), ``display`` (badges, bars, JSON) and
``views`` (live progress JSON and the batch page's buttons).
"""

from django.contrib import admin

from ..models import Batch, BatchJob
from .batch import BatchAdmin
from .job import BatchJobAdmin

admin.site.register(Batch, BatchAdmin)
admin.site.register(BatchJob, BatchJobAdmin)

__all__ = ["BatchAdmin", "BatchJobAdmin"]
