"""Worker classes for tests."""

from rq import Worker

from django_batchqueue.worker import BatchWorker


def _touch_db() -> None:
    from django_batchqueue.models import Batch

    Batch.objects.exists()


class LeakyWorker(Worker):
    """RQ's forking worker whose parent uses the database and forks with the connection open
    (what any parent-side database work does without BatchWorker's precaution)."""

    def execute_job(self, job, queue):
        _touch_db()
        super().execute_job(job, queue)


class BusyParentBatchWorker(BatchWorker):
    """BatchWorker whose parent also uses the database before every job."""

    def execute_job(self, job, queue):
        _touch_db()
        super().execute_job(job, queue)
