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


# -- raw RQ with a completion callback, the way a user would write it on RQ alone ------------


def raw_fan_in(job, connection, result, *args, **kwargs):
    """``on_success`` of each raw job: count it; the last one enqueues the final callback."""
    from rq import Queue

    token, total = job.meta["fan_in"]
    if connection.incr(f"bench:raw:{token}") == total:
        Queue(job.origin, connection=connection).enqueue(
            "bench.jobs.raw_mark_done", token, result_ttl=0
        )


def raw_mark_done(token):
    """Raw RQ's final callback (and a raw chain's last step): records when it ran."""
    import time

    from django_batchqueue.execution.queues import get_queue

    get_queue("batchjob").connection.set(f"bench:done:{token}", repr(time.time()))
