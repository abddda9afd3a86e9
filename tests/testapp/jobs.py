"""Jobs used by the test suite. Each records what it did as an Event so tests can assert it."""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django_batchqueue import Job, job

from .models import record


class Noop(Job):
    def run(self, **kwargs):
        return None


class Square(Job):
    def run(self, n):
        record("square", n=n, attempt=self.attempt, position=self.position)
        return n * n


class Echo(Job):
    """Returns its args and what the framework told it."""

    def run(self, **kwargs):
        return {
            "args": kwargs,
            "context": self.context,
            "position": self.position,
            "batch_id": self.batch_id,
            "job_id": self.job_id,
            "attempt": self.attempt,
        }


class Boom(Job):
    def run(self, message="boom", **kwargs):
        record("boom", message=message, attempt=self.attempt, position=self.position)
        raise RuntimeError(message)


class FlakyTwice(Job):
    """Fails on its first two attempts, then succeeds."""

    max_retries = 2

    def run(self, **kwargs):
        record("flaky", attempt=self.attempt)
        if self.attempt <= 2:
            raise ValueError(f"flaky attempt {self.attempt}")
        return {"attempts": self.attempt}


class Step(Job):
    """A chain step: appends its name to context['steps'] and records the context it saw."""

    def run(self, name, **kwargs):
        seen = list(self.context.get("steps", []))
        record("step", name=name, seen=seen, position=self.position)
        self.context.setdefault("steps", []).append(name)
        self.context[f"done_{name}"] = True
        return {"name": name, "seen": seen}


class Undo(Job):
    """A compensation: records what it undoes."""

    def run(self, **kwargs):
        meta = self.compensation or {}
        record(
            "undo",
            args=kwargs,
            original_position=meta.get("original_position"),
            original_class=meta.get("original_job_class"),
            error=meta.get("error"),
            context=self.context,
            original_result=meta.get("original_result"),
        )
        return {"undone": meta.get("original_position")}


class UndoBoom(Job):
    def run(self, **kwargs):
        record("undo_boom", original_position=(self.compensation or {}).get("original_position"))
        raise RuntimeError("compensation failed")


class Slow(Job):
    def run(self, seconds=1.0, **kwargs):
        record("slow_start", position=self.position)
        time.sleep(seconds)
        record("slow_end", position=self.position)
        return seconds


class Sleepy(Job):
    timeout = 1

    def run(self, seconds=5, **kwargs):
        time.sleep(seconds)
        return "woke"


class BadResult(Job):
    def run(self, **kwargs):
        return {"when": object()}


class Exit(Job):
    def run(self, **kwargs):
        raise SystemExit(3)


class AddMore(Job):
    """Adds the jobs in ``add`` to its own batch (dynamic addition)."""

    def run(self, add, name="adder", **kwargs):
        record("adder", name=name, position=self.position)
        self.context.setdefault("steps", []).append(name)
        ids = self.add_jobs(add)
        return {"added": ids}


class RecordCallback(Job):
    """A callback recording every framework-provided value it gets."""

    def run(self, batch_id, status, error, tag="cb", **kwargs):
        record(f"callback:{tag}", batch_id=batch_id, status=status, error=error, extra=kwargs)


class NarrowCallback(Job):
    """Accepts only batch_id and status: the framework must leave out the other names."""

    def run(self, batch_id, status):
        record("callback:narrow", batch_id=batch_id, status=status)


class SumResults(Job):
    """on_complete of a map-reduce: sums the batch's results."""

    def run(self, batch_id, status, **kwargs):
        from django_batchqueue import BatchManager

        total = sum(v for v in BatchManager().get_results(batch_id).values())
        record("sum", total=total, status=status)
        return total


class PidJob(Job):
    def run(self, **kwargs):
        record("pid", pid=os.getpid(), position=self.position)
        return os.getpid()


@job
def add(a, b):
    record("add", a=a, b=b)
    return a + b


@job(max_retries=1)
def flaky_function(**kwargs):
    from .models import Event

    tries = Event.objects.filter(label="flaky_function").count()
    record("flaky_function", tries=tries)
    if tries == 0:
        raise RuntimeError("first call fails")
    return "ok"


def not_a_job(x):
    return x


class NotAJob:
    def run(self):
        return None


@job
def callback_function(batch_id, status, error=None):
    record("callback:function", batch_id=batch_id, status=status, error=error)


class Maybe(Job):
    """A chain step that fails when told to."""

    def run(self, name, fail=False, **kwargs):
        record("maybe", name=name, fail=fail, seen=list(self.context.get("steps", [])))
        if fail:
            raise RuntimeError(f"step {name} failed")
        self.context.setdefault("steps", []).append(name)
        return {"did": name}


class UndoFlaky(Job):
    """A compensation that fails on its first attempt."""

    max_retries = 1

    def run(self, **kwargs):
        record("undo_flaky", attempt=self.attempt)
        if self.attempt == 1:
            raise RuntimeError("compensation hiccup")


class Gated(Job):
    """Fails until an Event labelled 'gate-open' exists (for retry_failed tests)."""

    def run(self, name, **kwargs):
        from .models import Event

        opened = Event.objects.filter(label="gate-open").exists()
        record("gated", name=name, opened=opened)
        if not opened:
            raise RuntimeError("gate closed")
        self.context.setdefault("steps", []).append(name)
        return name


class AddThenFail(Job):
    def run(self, **kwargs):
        self.add_jobs([Noop])
        raise RuntimeError("added, then failed")


class SlowCallback(Job):
    def run(self, batch_id, status, tag="slow", **kwargs):
        record(f"{tag}:start")
        time.sleep(1.0)
        record(f"{tag}:end")


class StopRedis(Job):
    """A chain step that takes the (private) Redis server down as it finishes."""

    def run(self, port, **kwargs):
        from redis import Redis

        record("stop_redis", port=port)
        self.context.setdefault("steps", []).append("stop_redis")
        try:
            Redis(port=port).shutdown(nosave=True)
        except Exception:
            pass  # the connection drops as the server exits


class DropDbConnection(Job):
    """Kills its own PostgreSQL session on the first attempt, then succeeds."""

    max_retries = 1

    def run(self, **kwargs):
        from django.db import connection

        if self.attempt == 1:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")
            raise RuntimeError("unreachable: the session is gone")
        record("db_dropped_then_ok", attempt=self.attempt)
        return "ok"


class KillHorseInTransaction(Job):
    """Writes inside a transaction, then SIGKILLs its own process before committing."""

    def run(self, **kwargs):
        import signal

        from django.db import transaction

        with transaction.atomic():
            record("written_by_killed_job")
            os.kill(os.getpid(), signal.SIGKILL)


class KillMe(Job):
    """SIGKILLs its own process on the first attempt (a crash mid-job)."""

    def run(self, **kwargs):
        import signal

        record("killme", attempt=self.attempt, pid=os.getpid())
        if self.attempt == 1:
            os.kill(os.getpid(), signal.SIGKILL)
        return "survived"


class Hang(Job):
    """Records its pid and sleeps (the test kills the worker under it)."""

    def run(self, seconds=60, **kwargs):
        record("hang", pid=os.getpid(), attempt=self.attempt)
        if self.attempt == 1:
            time.sleep(seconds)
        return "done"


class Interrupt(Job):
    def run(self, **kwargs):
        raise KeyboardInterrupt()


class HorseConnection(Job):
    """Reports whether this process had a database connection open before the job ran."""

    def run(self, **kwargs):
        from django.db import connection

        had_connection = connection.connection is not None
        record("horse", pid=os.getpid(), position=self.position)  # opens one if needed
        return {"had_connection": had_connection, "pid": os.getpid()}


# ------------------------------------------------------------------ worker parity (real values)

#: Values users really pass: Django's JSON encoder stores them as strings.
PRICE = Decimal("12.34")
WHEN = datetime(2026, 11, 30, 8, 15, 0, tzinfo=UTC)
REF = uuid.UUID("8e0e9c9a-4a4e-4b8e-9d7e-1f2a3b4c5d6e")


class PriceValues(Job):
    """A map step returning a Decimal, a datetime and a UUID, and echoing the shared context."""

    def run(self, n):
        return {
            "total": PRICE * n,
            "at": WHEN + timedelta(minutes=n),
            "ref": uuid.uuid5(REF, str(n)),
            "rate": self.context.get("rate"),
        }


class SumDecimals(Job):
    """on_complete of the map-reduce: adds the Decimal totals back up."""

    def run(self, batch_id, status):
        from django_batchqueue import BatchManager

        results = BatchManager().get_results(batch_id).values()
        total = sum((Decimal(r["total"]) for r in results), Decimal("0"))
        record("sum_decimals", total=str(total), status=status)
        return total


class StampValues(Job):
    """A chain step that puts a Decimal, a datetime and a UUID into the context."""

    def run(self):
        self.context["amount"] = PRICE
        self.context["paid_at"] = WHEN
        self.context["payment_ref"] = REF
        return {"amount": PRICE}


class ReadValues(Job):
    """A later chain step that reads them back (as Django's encoder stored them)."""

    def run(self):
        seen = {k: self.context.get(k) for k in ("amount", "paid_at", "payment_ref", "via")}
        record("read_values", seen=seen, previous_steps=self.context.get("steps", []))
        self.context["double"] = Decimal(self.context["amount"]) * 2
        return seen


@job
def passthrough(**kwargs):
    """A function step in a chain: the chain's context passes through it unchanged."""
    record("passthrough", args=kwargs)
    return {"passed": True}


@job
def undo_function(**kwargs):
    """A function used as a compensation."""
    record("undo_function", args=kwargs)
    return "undone"


class NeverEnds(Job):
    """Ignores nothing: sleeps far past its 2 s timeout unless stopped."""

    timeout = 2

    def run(self, seconds=100, **kwargs):
        record("never_ends:start", pid=os.getpid())
        time.sleep(seconds)
        record("never_ends:end")
        return "overslept"


class CancelOwnBatch(Job):
    """A chain step that cancels its own batch, with compensation, and then completes."""

    def run(self, name="canceller", **kwargs):
        from django_batchqueue import BatchManager

        record("cancel_own", name=name, position=self.position)
        self.context.setdefault("steps", []).append(name)
        return {"cancelled": BatchManager().cancel(self.batch_id, compensate=True)}


class SlowFail(Job):
    """Fails after a while, with retries left (a cancel in the meantime must stop the retries)."""

    max_retries = 3

    def run(self, seconds=1.0, **kwargs):
        record("slow_fail", attempt=self.attempt)
        time.sleep(seconds)
        raise RuntimeError(f"slow failure {self.attempt}")


@job
def exit_hard(code=1, **kwargs):
    """Leaves the process at once, as a crashing C extension would (no outcome reported)."""
    record("exit_hard", code=code)
    os._exit(code)


# ------------------------------------------------------------------ composition


class PrepareImport(Job):
    def run(self, rows=3):
        record("prepare", context=self.context)
        self.context["prepared_rows"] = rows
        return {"rows": rows}


class ImportRow(Job):
    """Fails for rows divisible by 3; returns a Decimal amount otherwise."""

    def run(self, row):
        record("row", row=row, context=self.context, pid=os.getpid())
        if row % 3 == 0:
            raise ValueError(f"row {row} is malformed")
        return {"row": row, "amount": PRICE * row}


class FinalizeImport(Job):
    def run(self):
        rows = self.previous_result or []
        record("finalize", previous=rows, context=self.context)
        return {"imported": sum(1 for r in rows if r), "of": len(rows)}


class BoomOnceStarted(Job):
    """Fails, but only once an Event labelled ``after`` exists (so the order of two jobs on two
    workers does not depend on which worker is quicker)."""

    def run(self, after, message="boom", timeout=30, **kwargs):
        from .models import Event

        deadline = time.monotonic() + timeout
        while not Event.objects.filter(label=after).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        record("boom", message=message, attempt=self.attempt, position=self.position)
        raise RuntimeError(message)


class SwallowsTimeout(Job):
    """Catches every Exception, its JobTimeout included, and keeps going (a badly written
    retry loop)."""

    timeout = 1

    def run(self, seconds=60, **kwargs):
        record("swallows:start", pid=os.getpid())
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                time.sleep(0.1)
            except Exception:
                pass
        record("swallows:end")
        return "overslept"


class LeaksTransaction(Job):
    """On its first attempt, returns with a transaction still open: an ``atomic()`` entered
    and never left, or autocommit turned off."""

    def run(self, mode="atomic", **kwargs):
        from django.db import transaction

        if self.attempt == 1:
            if mode == "atomic":
                transaction.atomic().__enter__()
            else:
                transaction.set_autocommit(False)
            record("leaked", mode=mode)  # never committed: rolled back with the transaction
        record("leaks:done", attempt=self.attempt)
        return self.attempt


class BlocksAlarms(Job):
    """Blocks SIGALRM, so no timeout can reach it in its own process (like code stuck in C)."""

    timeout = 1

    def run(self, seconds=60, **kwargs):
        import signal

        record("blocks_alarms:start", pid=os.getpid())
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        time.sleep(seconds)
        record("blocks_alarms:end")
        return "overslept"


class SwallowsEverything(Job):
    """Catches BaseException too, JobTimeoutIgnored included, and keeps going."""

    timeout = 1

    def run(self, seconds=60, **kwargs):
        record("swallows_all:start", pid=os.getpid())
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                time.sleep(0.1)
            except BaseException:
                pass
        record("swallows_all:end")
        return "overslept"
