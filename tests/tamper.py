"""Changing stored rows behind the library's back, on whichever storage the test runs: what a
bad migration, a hand edit or an attacker with database (or Redis) access could leave for a
worker to find. Fields are given as the models name them."""

from __future__ import annotations

import uuid
from typing import Any

from django_batchqueue.models import Batch, BatchJob
from django_batchqueue.storage import get_storage
from django_batchqueue.storage.redis import RedisStorage
from django_batchqueue.storage.redis.codec import encode_value


def job(row_id: Any, **fields: Any) -> None:
    """Overwrite fields of one job row."""
    _write(BatchJob, "j:", row_id, fields)


def batch(batch_id: Any, **fields: Any) -> None:
    """Overwrite fields of one batch."""
    _write(Batch, "b:", batch_id, fields)


def _write(model: Any, kind: str, ident: Any, fields: dict[str, Any]) -> None:
    storage = get_storage()
    if not isinstance(storage, RedisStorage):
        assert model.objects.filter(pk=ident).update(**fields) == 1
        return
    key = storage.key(kind, uuid.UUID(str(ident)))
    assert storage.client.exists(key), f"no {key}"
    for name, value in fields.items():
        raw = encode_value(name, value)
        if raw is None:
            storage.client.hdel(key, name)
        else:
            storage.client.hset(key, name, raw)
