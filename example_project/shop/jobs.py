"""Demo jobs: order totals (map-reduce), the checkout saga, and a compliance flow that adds its
own steps at runtime."""

from __future__ import annotations

import time
from decimal import Decimal

from django.db import transaction
from django.db.models import F

from django_batchqueue import BatchManager, Job

from .models import ComplianceCheck, Order, Payment, Product, Shipment

# ------------------------------------------------------------------ map-reduce: order totals


class ComputeOrderTotal(Job):
    """Map: price one order."""

    def run(self, order_id):
        time.sleep(self.context.get("work_seconds", 0))
        order = Order.objects.get(pk=order_id)
        order.total = order.compute_total()
        order.save(update_fields=["total"])
        return {"order": order.number, "total": order.total}


class SummarizeOrderTotals(Job):
    """Reduce (on_complete): add up every order's total."""

    def run(self, batch_id, status):
        results = BatchManager().get_results(batch_id).values()
        revenue = sum((Decimal(r["total"]) for r in results), Decimal("0.00"))
        return {"orders": len(results), "revenue": revenue}


# ------------------------------------------------------------------ checkout saga


class PaymentDeclined(Exception):
    pass


class ValidateCart(Job):
    def run(self):
        order = Order.objects.get(pk=self.context["order_id"])
        if not order.items:
            raise ValueError(f"order {order.number} is empty")
        self.context["amount"] = order.compute_total()


class ReserveStock(Job):
    def run(self):
        order = Order.objects.get(pk=self.context["order_id"])
        with transaction.atomic():
            for item in order.items:
                updated = Product.objects.filter(sku=item["sku"], stock__gte=item["qty"]).update(
                    stock=F("stock") - item["qty"]
                )
                if not updated:
                    raise ValueError(f"not enough {item['sku']} in stock")
            Order.objects.filter(pk=order.pk).update(status="reserved")
        self.context["reserved"] = order.items
        return {"reserved": len(order.items)}


class ReleaseStock(Job):
    """Compensation of ReserveStock: put the reserved items back."""

    def run(self):
        with transaction.atomic():
            for item in self.context.get("reserved", []):
                Product.objects.filter(sku=item["sku"]).update(stock=F("stock") + item["qty"])
            Order.objects.filter(pk=self.context["order_id"]).update(status="cancelled")
        return {"released": len(self.context.get("reserved", []))}


class ChargePayment(Job):
    def run(self, gateway="demo-pay"):
        if gateway == "always-declines":
            raise PaymentDeclined(f"card declined by {gateway}")
        order_id = self.context["order_id"]
        payment = Payment.objects.create(order_id=order_id, amount=Decimal(self.context["amount"]))
        Order.objects.filter(pk=order_id).update(status="paid")
        self.context["payment_id"] = payment.pk
        return {"payment_id": payment.pk}


class RefundPayment(Job):
    """Compensation of ChargePayment."""

    def run(self, gateway="demo-pay"):
        Payment.objects.filter(pk=self.context.get("payment_id")).update(status="refunded")


class FulfillOrder(Job):
    def run(self):
        shipment = Shipment.objects.create(order_id=self.context["order_id"])
        Order.objects.filter(pk=self.context["order_id"]).update(status="fulfilled")
        self.context["shipment_id"] = shipment.pk
        return {"shipment_id": shipment.pk}


class CancelFulfillment(Job):
    """Compensation of FulfillOrder."""

    def run(self):
        Shipment.objects.filter(pk=self.context.get("shipment_id")).update(status="cancelled")


def checkout(gateway: str = "demo-pay") -> list:
    """The checkout saga: each step that changes something declares how to undo it."""
    return [
        ValidateCart,
        [ReserveStock, ReleaseStock],
        {"class": ChargePayment, "compensation": RefundPayment, "args": {"gateway": gateway}},
        [FulfillOrder, CancelFulfillment],
    ]


# ------------------------------------------------------------------ compliance: dynamic flow


class ScreenOrder(Job):
    """First step: decide which checks this order needs and add them to the chain."""

    def run(self, order_id):
        order = Order.objects.get(pk=order_id)
        checks = []
        if order.country not in ("NL", "BE", "DE", "FR"):
            checks.append({"class": CustomsCheck, "args": {"order_id": order_id}})
        if order.compute_total() >= Decimal("1000"):
            checks.append({"class": FraudReview, "args": {"order_id": order_id}})
        if order.new_customer:
            checks.append({"class": IdentityCheck, "args": {"order_id": order_id}})
        checks.append({"class": FinalizeCompliance, "args": {"order_id": order_id}})
        self.context["checks"] = []
        self.add_jobs(checks)
        return {"added": [c["class"].__name__ for c in checks]}


class _Check(Job):
    check_name = ""

    def run(self, order_id):
        ComplianceCheck.objects.create(order_id=order_id, name=self.check_name, outcome="passed")
        self.context["checks"].append(self.check_name)
        return {self.check_name: "passed"}


class CustomsCheck(_Check):
    check_name = "customs"


class FraudReview(_Check):
    check_name = "fraud-review"


class IdentityCheck(_Check):
    check_name = "identity"


class FinalizeCompliance(Job):
    def run(self, order_id):
        Order.objects.filter(pk=order_id).update(status="cleared")
        return {"cleared_after": self.context["checks"]}


# ------------------------------------------------------------------ import: fan out, fan in


class PrepareImport(Job):
    """First step: split the uploaded lines; the nested batch below imports them in parallel."""

    def run(self):
        lines = [line for line in self.context["lines"] if line.strip()]
        self.context["prepared"] = len(lines)
        return {"lines": len(lines)}


class ImportCustomer(Job):
    """One row of the fan-out: a malformed line fails (the batch tolerates it)."""

    def run(self, line):
        name, _, country = line.partition(";")
        if len(country) != 2 or not country.isalpha():
            raise ValueError(f"line {line!r}: the country must be two letters")
        return {"customer": name, "country": country.upper()}


class FinalizeImport(Job):
    """Fan-in: reads the nested batch's results (``None`` for a rejected line)."""

    def run(self):
        rows = self.previous_result or []
        imported = [r["customer"] for r in rows if r]
        return {"imported": imported, "rejected": len(rows) - len(imported)}


CUSTOMER_LINES = ["ana;NL", "bo;BE", "chen;US", "dora;usa", "emil;DE", "fay;FR"]


def customer_import():
    """prepare -> a batch of row jobs that tolerates failures -> finalize."""
    from django_batchqueue import batch

    return [
        PrepareImport,
        batch([{"class": ImportCustomer, "args": {"line": line}} for line in CUSTOMER_LINES])
        .allow_failures()
        .name("Import rows"),
        FinalizeImport,
    ]
