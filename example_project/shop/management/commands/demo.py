"""``manage.py demo``: dispatch the example flows, run them on real workers, show progress."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from django_batchqueue import BatchManager
from django_batchqueue.models import Batch, BatchJob
from example_project.shop import demo_checks, jobs
from example_project.shop.models import ComplianceCheck, Order, Payment, Product, Shipment

REPO = Path(settings.BASE_DIR).parent
LOG_DIR = REPO / ".local" / "demo-logs"
BAR_WIDTH = 40
#: How long the demo waits for every flow to settle before it reports what it has.
SETTLE_SECONDS = 180


class Command(BaseCommand):
    help = (
        "Run the demo: a map-reduce over orders, a checkout chain, a checkout saga that fails at "
        "payment and is compensated, and a compliance flow that adds its own steps."
    )

    def add_arguments(self, parser):
        parser.add_argument("--orders", type=int, default=300, help="orders in the map-reduce")
        parser.add_argument("--workers", type=int, default=2, help="worker processes to start")
        parser.add_argument(
            "--embedded", action="store_true", help="use the in-process Redis substitute"
        )
        parser.add_argument(
            "--work-seconds",
            type=float,
            default=0.005,
            help="time each order-total job takes (raise it to watch progress in the admin)",
        )

    def handle(self, *args, orders, workers, embedded, work_seconds, **options):
        self.manager = BatchManager()
        self.work_seconds = work_seconds
        if embedded or not _redis_answers(settings.REDIS_URL):
            why = "--embedded" if embedded else f"No Redis answered at {settings.REDIS_URL}"
            embedded = True
            _use_embedded_redis()
            self.stdout.write(
                f"{why}: running on an embedded in-process substitute (fakeredis, RQ "
                "SimpleWorker in this process)."
            )
        self._make_admin_login()
        self.stdout.write(
            "Admin: python manage.py runserver, then http://127.0.0.1:8000/admin/ "
            "(user admin, password admin) to watch these batches live"
        )
        order_ids = _seed_shop(orders)
        batches = self._dispatch_all(order_ids)
        procs = [] if embedded else self._start_workers(workers)
        try:
            self._watch(batches, embedded)
        finally:
            _stop(procs)
        self._report(batches)
        problems = demo_checks.problems(batches)
        if problems:
            for problem in problems:
                self.stderr.write(f"demo: {problem}")
            if procs:
                self.stderr.write(f"demo: the workers' logs are in {LOG_DIR}/")
            raise CommandError(
                f"{len(problems)} problem(s): "
                + ", ".join(dict.fromkeys(p.split(":", 1)[0] for p in problems))
                + " did not end as the demo says"
            )
        self.stdout.write(self.style.SUCCESS("Every flow ended as described."))

    # -- flows ---------------------------------------------------------------------------

    def _dispatch_all(self, order_ids):
        happy, declined, compliance = (
            order_ids["checkout"],
            order_ids["declined"],
            order_ids["compliance"],
        )
        totals = (
            self.manager.batch(
                [
                    {"class": jobs.ComputeOrderTotal, "args": {"order_id": pk}}
                    for pk in order_ids["bulk"]
                ]
            )
            .set_context({"work_seconds": self.work_seconds})
            .on_complete(jobs.SummarizeOrderTotals)
            .name("Order totals (map-reduce)")
            .dispatch()
        )
        checkout = (
            self.manager.chain(jobs.checkout())
            .set_context({"order_id": happy})
            .name(f"Checkout order {happy}")
            .dispatch()
        )
        saga = (
            self.manager.chain(jobs.checkout(gateway="always-declines"))
            .set_context({"order_id": declined})
            .name(f"Checkout order {declined} (card declined)")
            .dispatch()
        )
        flow = (
            self.manager.chain([{"class": jobs.ScreenOrder, "args": {"order_id": compliance}}])
            .queue("email-processing")
            .name(f"Compliance order {compliance}")
            .dispatch()
        )
        customer_import = (
            self.manager.chain(jobs.customer_import())
            .set_context({"lines": jobs.CUSTOMER_LINES})
            .name("Customer import (fan-out, fan-in)")
            .dispatch()
        )
        return {
            "totals": totals,
            "checkout": checkout,
            "saga": saga,
            "compliance": flow,
            "import": customer_import,
        }

    def _start_workers(self, n):
        cmd = [sys.executable, str(REPO / "manage.py"), "rqworker", "batchjob", "email-chain"]
        self.stdout.write(f"Starting {n} workers: {' '.join(cmd[1:])} (logs in {LOG_DIR}/)")
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        procs = []
        for i in range(n):
            with open(LOG_DIR / f"worker-{i}.log", "w") as log:
                procs.append(
                    subprocess.Popen(
                        cmd,
                        cwd=REPO,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        return procs

    def _watch(self, batches, embedded):
        from django_batchqueue.testing import drain

        tty = self.stdout.isatty()
        last_shown = -1
        deadline = time.monotonic() + SETTLE_SECONDS
        while time.monotonic() < deadline:
            if embedded:
                drain(max_jobs=10)
            progress = self.manager.get_progress(batches["totals"])
            pct = progress["progress_percentage"]
            if (tty and pct != last_shown) or pct // 10 != last_shown // 10:
                self._bar(progress, tty)
                last_shown = pct
            if _all_settled(batches.values()):
                break
            if not embedded:
                time.sleep(0.1)
        if tty:
            self.stdout.write("")

    def _bar(self, p, tty):
        done = p["completed_jobs"] + p["failed_jobs"] + p["cancelled_jobs"]
        filled = BAR_WIDTH * p["progress_percentage"] // 100
        line = (
            f"Order totals [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] "
            f"{p['progress_percentage']:3d}%  {done}/{p['total_jobs']} jobs  {p['status']}"
        )
        if tty:
            self.stdout.write("\r" + line, ending="")
            self.stdout.flush()
        else:
            self.stdout.write(line)

    # -- report --------------------------------------------------------------------------

    def _report(self, batches):
        w = self.stdout.write
        totals = Batch.objects.get(pk=batches["totals"])
        summary = BatchJob.objects.filter(batch=totals, kind="callback").first()
        w("")
        w(self.style.MIGRATE_HEADING("1. Map-reduce: order totals (parallel batch)"))
        w(f"   status {totals.status}; {totals.completed_jobs}/{totals.total_jobs} jobs completed")
        if summary is not None:
            w(f"   on_complete summed the results: {summary.result}")

        checkout = Batch.objects.get(pk=batches["checkout"])
        w(self.style.MIGRATE_HEADING("2. Checkout chain (context passed step to step)"))
        w(f"   status {checkout.status}; steps run: {_steps(checkout)}")
        w(f"   final context: {checkout.context}")

        saga = Batch.objects.get(pk=batches["saga"])
        order = Order.objects.get(pk=saga.context["order_id"])
        w(self.style.MIGRATE_HEADING("3. Checkout saga failing at payment"))
        w(f"   status {saga.status}; error: {saga.error}")
        w(
            f"   compensations (newest first): {_compensations(saga)}; "
            f"compensation_status {saga.compensation_status}"
        )
        w(f"   order {order.number} is {order.status}; stock after release: {_stock()}")

        flow = Batch.objects.get(pk=batches["compliance"])
        w(self.style.MIGRATE_HEADING("4. Compliance flow adding its own steps (queue email-chain)"))
        w(f"   status {flow.status}; steps run: {_steps(flow)}")
        w(f"   checks recorded: {list(ComplianceCheck.objects.values_list('name', flat=True))}")

        imported = Batch.objects.get(pk=batches["import"])
        w(self.style.MIGRATE_HEADING("5. Import: prepare, rows in a nested batch, finalize"))
        w(f"   status {imported.status}; steps run: {_steps(imported)}")
        for child in self.manager.get_children(imported.pk):
            w(
                f"   nested batch {child.name!r}: {child.completed_jobs} imported, "
                f"{child.failed_jobs} rejected (tolerated)"
            )
        final = imported.jobs.filter(kind="job").order_by("-position").first()
        if final is not None:
            w(f"   finalize read previous_result and returned {final.result}")

        w("")
        w("Final statuses:")
        for batch_id in batches.values():
            b = Batch.objects.get(pk=batch_id)
            w(
                f"   {b.name:<42} {b.type:<10} {b.status:<10} "
                f"compensation={b.compensation_status or '-'}"
            )
        w("")
        w(
            "Admin: python manage.py runserver, then http://127.0.0.1:8000/admin/ "
            "(user admin, password admin)"
        )

    def _make_admin_login(self):
        from django.contrib.auth import get_user_model

        User = get_user_model()
        if not User.objects.filter(username="admin").exists():
            User.objects.create_superuser("admin", "admin@example.com", "admin")


def _steps(batch):
    rows = batch.jobs.filter(kind__in=["job", "batch"]).order_by("position")
    return ", ".join(
        f"{r.job_path.rsplit('.', 1)[1] if r.kind == 'job' else 'nested batch'}={r.status}"
        for r in rows
    )


def _compensations(batch):
    rows = batch.jobs.filter(kind="compensation").order_by("started_at")
    return ", ".join(f"{r.job_path.rsplit('.', 1)[1]}={r.status}" for r in rows) or "none"


def _stock():
    return ", ".join(f"{p.sku}={p.stock}" for p in Product.objects.order_by("sku"))


def _all_settled(batch_ids) -> bool:
    trees = Batch.objects.filter(root_id__in=list(batch_ids))
    if trees.filter(status__in=["pending", "running"]).exists():
        return False
    return (
        not BatchJob.objects.filter(
            batch__root_id__in=list(batch_ids), status__in=["pending", "queued", "running"]
        )
        .exclude(kind__in=["job", "batch"])
        .exists()
    )


def _seed_shop(n_orders: int) -> dict:
    Shipment.objects.all().delete()
    Payment.objects.all().delete()
    ComplianceCheck.objects.all().delete()
    Order.objects.all().delete()
    Product.objects.all().delete()
    Product.objects.bulk_create(
        [
            Product(sku="MUG", name="Mug", price=Decimal("12.50"), stock=100),
            Product(sku="TEE", name="T-shirt", price=Decimal("25.00"), stock=100),
            Product(sku="LAMP", name="Desk lamp", price=Decimal("1150.00"), stock=10),
        ]
    )
    skus = ["MUG", "TEE", "LAMP"]
    bulk = Order.objects.bulk_create(
        [
            Order(
                number=f"B{i:05d}",
                customer=f"customer-{i % 37}",
                items=[{"sku": skus[i % 2], "qty": 1 + i % 3}],
            )
            for i in range(n_orders)
        ]
    )
    checkout = Order.objects.create(
        number="C1001", customer="ana", items=[{"sku": "MUG", "qty": 2}, {"sku": "TEE", "qty": 1}]
    )
    declined = Order.objects.create(number="C1002", customer="bo", items=[{"sku": "TEE", "qty": 3}])
    compliance = Order.objects.create(
        number="X2001",
        customer="chen",
        country="US",
        new_customer=True,
        items=[{"sku": "LAMP", "qty": 1}],
    )
    return {
        "bulk": [o.pk for o in bulk],
        "checkout": checkout.pk,
        "declined": declined.pk,
        "compliance": compliance.pk,
    }


def _redis_answers(url: str) -> bool:
    from redis import Redis

    try:
        return bool(Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1).ping())
    except Exception:
        return False


def _use_embedded_redis() -> None:
    import fakeredis

    from django_batchqueue.execution import queues

    queues.use_connection(fakeredis.FakeRedis())


def _stop(procs) -> None:
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
