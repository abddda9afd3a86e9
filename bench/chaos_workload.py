"""The chaos run's workload: a steady mix of batches kept in flight, and the cancels.

Kinds, picked in turn: ``strict`` parallel batches (one in three with a planned failure),
``tolerant`` (allow-failures) batches with two planned failures, ``saga`` chains with a
compensation for every step (one in two failing at a random step), ``chain`` with a step that
adds steps, ``dynamic`` parallel batches whose jobs add jobs, and ``cancel`` batches (with
compensations) cancelled while their jobs run, half of them with ``compensate=True``. A few jobs
of every kind sleep for seconds, so kills hit jobs mid-run.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any

from bench.chaos_reads import Tracker

J = "bench.chaos_jobs."
JOB, STEP, ADDER, CALLBACK, UNDO = (
    J + "ChaosJob",
    J + "ChaosStep",
    J + "ChaosAdder",
    J + "ChaosCallback",
    J + "ChaosUndo",
)
KINDS = ("strict", "tolerant", "saga", "chain", "dynamic", "cancel")


@dataclass
class Planned:
    """One dispatched batch and what the workload did to it."""

    batch_id: str
    kind: str
    dispatched_at: float
    cancel_at: float | None = None
    compensate: bool = False
    cancelled: bool | None = None  # what cancel() returned; None: not (yet) cancelled
    cancel_errors: int = 0


@dataclass
class Workload:
    rng: random.Random
    in_flight: int = 24
    long_share: float = 0.05  # share of jobs that sleep 1-3 s
    batches: dict[str, Planned] = field(default_factory=dict)
    dispatch_errors: int = 0
    tracker: Tracker = field(default_factory=Tracker)
    _turn: int = 0

    # -- jobs -------------------------------------------------------------------------------

    def _sleep(self) -> float:
        if self.rng.random() < self.long_share:
            return round(self.rng.uniform(1.0, 3.0), 2)
        return round(self.rng.uniform(0.0, 0.15), 3)

    def _job(self, i: int, klass: str = JOB, fail: bool = False, **extra: Any) -> dict[str, Any]:
        spec: dict[str, Any] = {"class": klass, "args": {"i": i, "sleep": self._sleep(), **extra}}
        if fail:
            spec["args"]["fail"] = True
            spec["max_retries"] = 0
        return spec

    @staticmethod
    def _callbacks(builder: Any) -> Any:
        return builder.on_complete({"class": CALLBACK, "args": {"tag": "on_complete"}}).on_failure(
            {"class": CALLBACK, "args": {"tag": "on_failure"}}
        )

    # -- batches ----------------------------------------------------------------------------

    def build(self, manager: Any, kind: str, n: int) -> tuple[Any, float | None, bool]:
        """(builder, seconds until cancel or None, compensate)."""
        rng = self.rng
        if kind == "strict":
            fail_at = rng.randrange(20) if n % 3 == 0 else -1
            jobs = [self._job(i, fail=i == fail_at) for i in range(20)]
            return manager.batch(jobs).name(f"strict-{n}"), None, False
        if kind == "tolerant":
            failing = set(rng.sample(range(15), 2))
            jobs = [self._job(i, fail=i in failing) for i in range(15)]
            return manager.batch(jobs).allow_failures().name(f"tolerant-{n}"), None, False
        if kind == "saga":
            fail_at = rng.randrange(1, 5) if n % 2 == 0 else -1
            steps = [
                {**self._job(k, STEP, fail=k == fail_at), "compensation": UNDO} for k in range(5)
            ]
            return manager.chain(steps).set_context({"n": n}).name(f"saga-{n}"), None, False
        if kind == "chain":
            steps = [self._job(0, STEP), self._job(1, ADDER, add=2, step=True), self._job(2, STEP)]
            return manager.chain(steps).name(f"chain-{n}"), None, False
        if kind == "dynamic":
            jobs = [self._job(i, ADDER, add=2) if i < 2 else self._job(i) for i in range(10)]
            return manager.batch(jobs).name(f"dynamic-{n}"), None, False
        jobs = [
            {
                **self._job(i),
                "args": {"i": i, "sleep": rng.uniform(0.05, 0.4)},
                "compensation": UNDO,
            }
            for i in range(30)
        ]
        return manager.batch(jobs).name(f"cancel-{n}"), rng.uniform(0.5, 3.0), n % 2 == 0

    def dispatch_one(self, manager: Any) -> None:
        kind = KINDS[self._turn % len(KINDS)]
        n = self._turn
        self._turn += 1
        builder, cancel_in, compensate = self.build(manager, kind, n)
        try:
            batch_id = self._callbacks(builder).dispatch()
        except Exception as exc:  # the database away (a terminated connection): try later
            self.dispatch_errors += 1
            print(f"    dispatch of {kind}-{n} failed: {type(exc).__name__}: {exc}")
            _close_connection()
            return
        now = time.time()
        self.batches[str(batch_id)] = Planned(
            str(batch_id),
            kind,
            now,
            cancel_at=None if cancel_in is None else now + cancel_in,
            compensate=compensate,
        )

    # -- the loop's step --------------------------------------------------------------------

    def open_ids(self) -> list[str]:
        """The workload's batches not yet finished (with their outcome acted on)."""
        return self.tracker.open_ids(list(self.batches))

    def step(self, manager: Any) -> None:
        """Top the batches in flight up to ``in_flight`` and cancel those that are due."""
        try:
            open_now = len(self.open_ids())
        except Exception as exc:
            print(f"    reading open batches failed: {type(exc).__name__}: {exc}")
            _close_connection()
            return
        for _ in range(max(0, self.in_flight - open_now)):
            self.dispatch_one(manager)
        self.cancel_due(manager)

    def cancel_due(self, manager: Any, force: bool = False) -> None:
        now = time.time()
        for plan in self.batches.values():
            if plan.cancel_at is None or plan.cancelled is not None:
                continue
            if plan.cancel_at > now and not force:
                continue
            try:
                plan.cancelled = bool(manager.cancel(plan.batch_id, compensate=plan.compensate))
            except Exception as exc:
                plan.cancel_errors += 1
                print(f"    cancel of {plan.batch_id} raised {type(exc).__name__}: {exc}")
                _close_connection()
                if plan.cancel_errors >= 5:
                    plan.cancelled = False


def _close_connection() -> None:
    from django.db import connection

    connection.close()
