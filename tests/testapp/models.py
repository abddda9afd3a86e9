from django.db import models


class Event(models.Model):
    """Something a test job did, in the order it happened (tests read these back)."""

    label = models.CharField(max_length=100)
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.label


def record(label: str, **payload: object) -> None:
    Event.objects.create(label=label, payload=payload)


def labels(prefix: str = "") -> list[str]:
    return [e.label for e in Event.objects.all() if e.label.startswith(prefix)]
