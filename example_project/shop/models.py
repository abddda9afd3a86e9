"""A tiny shop for the demo: products with stock, orders, payments and shipments."""

from decimal import Decimal

from django.db import models


class Product(models.Model):
    sku = models.CharField(max_length=20, unique=True)
    name = models.CharField(max_length=100)
    price = models.DecimalField(max_digits=10, decimal_places=2)
    stock = models.IntegerField(default=0)

    def __str__(self) -> str:
        return self.sku


class Order(models.Model):
    number = models.CharField(max_length=20, unique=True)
    customer = models.CharField(max_length=100)
    country = models.CharField(max_length=2, default="NL")
    new_customer = models.BooleanField(default=False)
    items = models.JSONField(default=list, help_text='[{"sku": ..., "qty": ...}]')
    status = models.CharField(max_length=20, default="new")
    total = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)

    def __str__(self) -> str:
        return self.number

    def compute_total(self) -> Decimal:
        prices = dict(
            Product.objects.filter(sku__in=[i["sku"] for i in self.items]).values_list(
                "sku", "price"
            )
        )
        return sum((prices[i["sku"]] * i["qty"] for i in self.items), Decimal("0.00"))


class Payment(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="payments")
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    status = models.CharField(max_length=20, default="charged")

    def __str__(self) -> str:
        return f"{self.order} {self.amount} {self.status}"


class Shipment(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="shipments")
    status = models.CharField(max_length=20, default="created")

    def __str__(self) -> str:
        return f"{self.order} {self.status}"


class ComplianceCheck(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="checks")
    name = models.CharField(max_length=40)
    outcome = models.CharField(max_length=20)

    def __str__(self) -> str:
        return f"{self.order} {self.name}: {self.outcome}"
