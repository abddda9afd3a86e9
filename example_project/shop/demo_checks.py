"""What each demo flow must end as. ``manage.py demo`` exits non-zero, naming the flow, when one
ends otherwise: the demo is the first thing a user runs, so it proves what it prints."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from django_batchqueue import BatchManager
from django_batchqueue.models import Batch, BatchJob

from .models import ComplianceCheck, Order, Payment, Product, Shipment

#: Stock the demo seeds; the saga must leave it exactly so after releasing its reservation.
SEEDED_STOCK = {"LAMP": 10, "MUG": 100, "TEE": 100}


def _jobs(batch: Batch, kind: str = "job") -> list[BatchJob]:
    return list(batch.jobs.filter(kind=kind).order_by("position"))


def map_reduce(batch: Batch) -> list[str]:
    """Every order priced, and the on_complete callback summed exactly their totals."""
    problems = []
    if (batch.status, batch.completed_jobs) != ("completed", batch.total_jobs):
        problems.append(
            f"status {batch.status} with {batch.completed_jobs}/{batch.total_jobs} jobs completed "
            f"(expected completed, all jobs){_first_error(batch)}"
        )
        return problems
    callbacks = _jobs(batch, "callback")
    if [c.status for c in callbacks] != ["completed"]:
        return [f"on_complete callback ran as {[c.status for c in callbacks]} (expected once)"]
    expected = sum(
        (Decimal(r["total"]) for r in BatchManager().get_results(batch.pk).values()), Decimal(0)
    )
    in_db = sum(
        (o.total for o in Order.objects.filter(number__startswith="B") if o.total is not None),
        Decimal(0),
    )
    summed = Decimal(str(callbacks[0].result["revenue"]))
    if not summed == expected == in_db:
        problems.append(f"revenue {summed} != sum of results {expected} != orders {in_db}")
    return problems


def checkout(batch: Batch) -> list[str]:
    """All four steps completed, each adding to the context; the order is paid and shipped."""
    if batch.status != "completed":
        return [f"status {batch.status} (expected completed){_first_error(batch)}"]
    missing = [
        k for k in ("amount", "reserved", "payment_id", "shipment_id") if k not in batch.context
    ]
    if missing:
        return [f"final context lacks {missing}"]
    order = Order.objects.get(pk=batch.context["order_id"])
    if order.status != "fulfilled" or not Shipment.objects.filter(order=order).exists():
        return [f"order {order.number} is {order.status} (expected fulfilled, with a shipment)"]
    return []


def saga(batch: Batch) -> list[str]:
    """Payment declined: the batch failed, the reservation was released, nothing else ran."""
    problems = []
    if batch.status != "failed" or not batch.error.startswith("PaymentDeclined"):
        problems.append(f"status {batch.status}, error {batch.error!r} (expected PaymentDeclined)")
    steps = [j.status for j in _jobs(batch)]
    if steps != ["completed", "completed", "failed", "cancelled"]:
        problems.append(f"steps ended {steps} (expected completed, completed, failed, cancelled)")
    undone = [(c.job_path.rsplit(".", 1)[-1], c.status) for c in _jobs(batch, "compensation")]
    if undone != [("ReleaseStock", "completed")] or batch.compensation_status != "completed":
        problems.append(
            f"compensations {undone}, compensation_status {batch.compensation_status} "
            "(expected ReleaseStock completed)"
        )
    stock = dict(Product.objects.values_list("sku", "stock"))
    checkout_order = Order.objects.filter(number="C1001").first()
    reserved_by_checkout = {
        i["sku"]: i["qty"] for i in (checkout_order.items if checkout_order else [])
    }
    expected = {sku: n - reserved_by_checkout.get(sku, 0) for sku, n in SEEDED_STOCK.items()}
    if stock != expected:
        problems.append(f"stock after release {stock} (expected {expected})")
    if Payment.objects.filter(order_id=batch.context.get("order_id")).exists():
        problems.append("a payment was recorded for the declined order")
    return problems


def compliance(batch: Batch) -> list[str]:
    """The screening step added the checks the order needs; all ran, in order, then finalize."""
    if batch.status != "completed":
        return [f"status {batch.status} (expected completed){_first_error(batch)}"]
    steps = [j.job_path.rsplit(".", 1)[-1] for j in _jobs(batch)]
    expected = ["ScreenOrder", "CustomsCheck", "FraudReview", "IdentityCheck", "FinalizeCompliance"]
    if steps != expected:
        return [f"steps {steps} (expected {expected})"]
    checks = list(ComplianceCheck.objects.order_by("id").values_list("name", flat=True))
    if checks != ["customs", "fraud-review", "identity"]:
        return [f"checks recorded {checks}"]
    return []


def customer_import(batch: Batch) -> list[str]:
    """The nested batch tolerated the one bad line; finalize saw every row's result."""
    if batch.status != "completed":
        return [f"status {batch.status} (expected completed){_first_error(batch)}"]
    children = BatchManager().get_children(batch.pk)
    if [(c.completed_jobs, c.failed_jobs) for c in children] != [(5, 1)]:
        return [f"nested batch ended {[(c.completed_jobs, c.failed_jobs) for c in children]}"]
    final = batch.jobs.filter(kind="job").order_by("-position").first()
    expected = {"imported": ["ana", "bo", "chen", "emil", "fay"], "rejected": 1}
    if final is None or final.result != expected:
        return [f"finalize returned {final.result if final else None} (expected {expected})"]
    return []


#: Flow name (as the demo prints it) -> (key in the demo's batch ids, its check).
FLOWS: dict[str, tuple[str, Callable[[Batch], list[str]]]] = {
    "map-reduce (order totals)": ("totals", map_reduce),
    "checkout chain": ("checkout", checkout),
    "checkout saga (card declined)": ("saga", saga),
    "compliance flow": ("compliance", compliance),
    "customer import (nested batch)": ("import", customer_import),
}


def problems(batch_ids: dict[str, str]) -> list[str]:
    """One line per flow that did not end as the demo says it does."""
    found = []
    for flow, (key, check) in FLOWS.items():
        batch = Batch.objects.get(pk=batch_ids[key])
        found += [f"{flow}: {problem}" for problem in check(batch)]
    return found


def _first_error(batch: Batch) -> str:
    failed = batch.jobs.exclude(error="").order_by("finished_at").first()
    return f"; first error: {failed.error}" if failed is not None else ""
