"""Fixtures for the admin tests: users with given permissions and batches made row by row."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from django_batchqueue.models import Batch, BatchJob


@pytest.fixture
def make_user(django_user_model):
    """A user with ``is_staff`` and the given ``django_batchqueue`` permission codenames."""

    def make(username: str, *codenames: str, staff: bool = True):
        user = django_user_model.objects.create_user(username, password="pw", is_staff=staff)
        if codenames:
            user.user_permissions.set(
                Permission.objects.filter(
                    content_type__app_label="django_batchqueue", codename__in=codenames
                )
            )
        return user

    return make


@pytest.fixture
def viewer_client(client, make_user):
    """Staff who may look at batches and jobs but not control them."""
    client.force_login(make_user("viewer", "view_batch", "view_batchjob"))
    return client


def make_batch(
    *,
    jobs: int = 3,
    type: str = "parallel",
    status: str = "running",
    completed: int = 0,
    failed: int = 0,
    name: str = "",
    queue: str = "batchjob",
    compensation_status: str | None = None,
    context: dict | None = None,
    job_path: str = "tests.testapp.jobs.Square",
) -> Batch:
    """A batch and its job rows as the engine would have left them (no queue involved)."""
    now = timezone.now()
    batch = Batch.objects.create(
        type=type,
        status=status,
        name=name,
        queue=queue,
        total_jobs=jobs,
        completed_jobs=completed,
        failed_jobs=failed,
        compensation_status=compensation_status,
        has_compensation=compensation_status is not None,
        context=context or {},
        started_at=now - timedelta(seconds=90),
        finished_at=now if status in ("completed", "failed", "cancelled") else None,
    )
    rows = []
    for position in range(jobs):
        if position < completed:
            state, error, result = "completed", "", {"n": position, "square": position**2}
        elif position < completed + failed:
            state, error, result = "failed", f"RuntimeError: job {position} broke", None
        else:
            state, error, result = "queued", "", None
        rows.append(
            BatchJob(
                batch=batch,
                kind="job",
                position=position,
                job_path=job_path,
                args={"n": position},
                status=state,
                attempts=1 if state != "queued" else 0,
                error=error,
                result=result,
                started_at=now - timedelta(seconds=60 - position) if state != "queued" else None,
                finished_at=now - timedelta(seconds=59 - position) if state != "queued" else None,
            )
        )
    BatchJob.objects.bulk_create(rows, batch_size=2000)
    return batch
