"""What the benchmarks run: the same no-op as a plain RQ function and as a batch job."""

from django_batchqueue import Job


def noop(i=None):
    """Raw RQ baseline."""
    return None


class NoopJob(Job):
    def run(self, i=None):
        return None


class MarkDone(Job):
    """on_complete: records when the callback ran."""

    def run(self, batch_id):
        import time

        from django.core.cache import cache  # noqa: F401  (kept tiny: the timestamp goes to Redis)

        from django_batchqueue.execution.queues import get_queue

        get_queue("batchjob").connection.set(f"bench:done:{batch_id}", repr(time.time()))


class MarkStep(Job):
    """A chain's last step: records when the chain got there."""

    def run(self):
        import time

        from django_batchqueue.execution.queues import get_queue

        get_queue("batchjob").connection.set(f"bench:done:{self.batch_id}", repr(time.time()))
