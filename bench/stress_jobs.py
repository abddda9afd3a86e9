"""Jobs of the stress run: each records every run in Redis, so duplicates cannot hide."""

from __future__ import annotations

import time

from django_batchqueue import Job


def _redis():
    from django_batchqueue.execution.queues import get_queue

    return get_queue("batchjob").connection


class StressJob(Job):
    def run(self, i=0, sleep=0.0):
        _redis().hincrby(f"stress:runs:{self.batch_id}", self.job_id, 1)
        if sleep:
            time.sleep(sleep)
        return i


class StressStep(Job):
    def run(self, name):
        _redis().hincrby(f"stress:runs:{self.batch_id}", self.job_id, 1)
        self.context.setdefault("steps", []).append(name)
        return name


class StressCallback(Job):
    def run(self, batch_id, status, tag):
        _redis().hincrby(f"stress:callbacks:{batch_id}", tag, 1)


class StressUndo(Job):
    def run(self, i=0, sleep=0.0):
        original = (self.compensation or {}).get("original_job_id")
        _redis().hincrby(f"stress:undo:{self.batch_id}", original, 1)
