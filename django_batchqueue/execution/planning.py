"""Turn validated job specs into new job rows and the RQ jobs that start them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from django.utils import timezone

from ..definitions import JobSpec, effective_tuning
from ..states import BatchType, JobStatus
from ..storage.bulk import NewJob
from .queues import Enqueue


def build_job_rows(
    specs: Sequence[JobSpec],
    *,
    batch_type: str,
    queue: str,
    defaults: dict[str, Any],
    start_position: int = 0,
    start_now: bool = True,
) -> tuple[list[NewJob], list[Enqueue]]:
    """Rows for ``specs`` at positions ``start_position...``, and RQ jobs for those to start now.

    A parallel batch starts every job; a chain starts only its first (and only when
    ``start_now``, i.e. at dispatch, not when jobs are appended to a running chain).
    """
    now = timezone.now()
    tuning_cache: dict[int, dict[str, Any]] = {}
    rows: list[NewJob] = []
    enq: list[Enqueue] = []
    for offset, spec in enumerate(specs):
        key = id(spec.target)
        if key not in tuning_cache:
            tuning_cache[key] = effective_tuning({}, spec.target, defaults)
        tuning = {**tuning_cache[key], **spec.tuning} if spec.tuning else tuning_cache[key]
        starts = batch_type == BatchType.PARALLEL or (start_now and offset == 0)
        row_id = uuid.uuid4()
        row = NewJob(
            id=row_id,
            position=start_position + offset,
            job_path=spec.job_path,
            compensation_path=spec.compensation_path,
            args_json=spec.args_json,
            status=JobStatus.QUEUED if starts else JobStatus.PENDING,
            max_retries=tuning["max_retries"],
            retry_delay=tuning["retry_delay"],
            timeout=tuning["timeout"],
            # A row's first RQ job reuses its id; later ones (retries, repairs) get fresh ids.
            rq_job_id=row_id.hex if starts else "",
            enqueued_at=now if starts else None,
        )
        if starts:
            enq.append(Enqueue(str(row.id), row.rq_job_id, queue, row.timeout))
        rows.append(row)
    return rows, enq
