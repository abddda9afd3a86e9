"""Jobs for the fast tier: they record what they did in memory, never in the database."""

from __future__ import annotations

from decimal import Decimal

from django_batchqueue import Job, job

#: What the jobs did, in order: (label, details).
LOG: list[tuple[str, dict]] = []


def log(label: str, **details) -> None:
    LOG.append((label, details))


def labels() -> list[str]:
    return [label for label, _ in LOG]


class Square(Job):
    def run(self, n):
        log("square", n=n, position=self.position)
        return n * n


class Boom(Job):
    def run(self, message="boom", **kwargs):
        log("boom", message=message, position=self.position)
        raise RuntimeError(message)


class Flaky(Job):
    max_retries = 2
    retry_delay = 30  # the memory queue runs delayed retries without waiting

    def run(self):
        log("flaky", attempt=self.attempt)
        if self.attempt < 3:
            raise ValueError(f"attempt {self.attempt}")
        return self.attempt


class Step(Job):
    def run(self, name, fail=False):
        log("step", name=name, seen=list(self.context.get("steps", [])))
        if fail:
            raise RuntimeError(f"step {name} failed")
        self.context.setdefault("steps", []).append(name)
        self.context["total"] = Decimal(self.context.get("total", "0")) + Decimal("1.25")
        return {"step": name}


class Undo(Job):
    def run(self, **kwargs):
        meta = self.compensation or {}
        log(
            "undo",
            position=meta.get("original_position"),
            error=meta.get("error"),
            original_result=meta.get("original_result"),
            context=self.context,
            attempt=self.attempt,
        )


class UndoBoom(Job):
    def run(self, **kwargs):
        log("undo_boom", position=(self.compensation or {}).get("original_position"))
        raise RuntimeError("compensation failed")


class CarefulUndo(Undo):
    """A compensation whose class sets its own retries (resolved at dispatch)."""

    max_retries = 4
    timeout = 9


class Callback(Job):
    max_retries = 1

    def run(self, batch_id, status, error, tag="cb", **kwargs):
        log(f"callback:{tag}", status=status, error=error, extra=kwargs)


class CancelOwnBatch(Job):
    def run(self, name="canceller"):
        from django_batchqueue import BatchManager

        log("step", name=name, seen=list(self.context.get("steps", [])))
        return BatchManager().cancel(self.batch_id, compensate=True)


class AddMore(Job):
    def run(self, add):
        log("adder", position=self.position)
        return self.add_jobs(add)


class Gate(Job):
    """Fails while ``OPEN`` is False."""

    OPEN = False

    def run(self, name):
        log("gate", name=name, open=Gate.OPEN)
        if not Gate.OPEN:
            raise RuntimeError("gate closed")
        self.context.setdefault("steps", []).append(name)
        return name


@job
def passthrough(**kwargs):
    log("passthrough", args=kwargs)
    return "passed"


class Probe(Job):
    """Records how many of its batch's jobs were queued or running while it ran."""

    def run(self, n=0):
        from django_batchqueue.storage import get_storage

        storage = get_storage()
        active = sum(
            1
            for r in storage.jobs.values()  # type: ignore[attr-defined]
            if str(r.batch_id) == self.batch_id
            and r.kind == "job"
            and r.status in ("queued", "running")
        )
        log("probe", batch=self.batch_id, n=n, position=self.position, active=active)
        return n


class FailingCallback(Job):
    def run(self, batch_id, status, tag="failing", **kwargs):
        log(f"callback:{tag}", status=status)
        raise RuntimeError("this callback fails")


class Prepare(Job):
    def run(self, rows=3):
        log("prepare", context=dict(self.context), previous=self.previous_result)
        self.context["prepared"] = rows
        return {"rows": rows}


class ImportRow(Job):
    """Fails for rows divisible by 3."""

    def run(self, row):
        log("row", row=row, context=dict(self.context), previous=self.previous_result)
        if row % 3 == 0:
            raise ValueError(f"row {row} is malformed")
        return {"row": row}


class Finalize(Job):
    def run(self):
        log("finalize", previous=self.previous_result, context=dict(self.context))
        return {"imported": len([r for r in (self.previous_result or []) if r])}


class Ctx(Job):
    """Records the context and previous result it saw, and adds its name to context['seen']."""

    def run(self, name):
        seen = list(self.context.get("seen", []))
        log("ctx", name=name, context={**self.context, "seen": seen}, previous=self.previous_result)
        self.context.setdefault("seen", []).append(name)
        return name
