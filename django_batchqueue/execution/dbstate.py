"""Put the worker's database connections back in a known state after the user's code ran.

A job runs on the same Django connections as the worker's own bookkeeping. A job that leaves a
transaction open (an ``atomic()`` entered and never left, ``set_autocommit(False)``) would
otherwise swallow the outcome the worker writes next (it is never committed) and break every
later claim on that worker. Closing the connection is not enough: Django keeps its
"in a transaction" flags, and refuses the connection for good.
"""

from __future__ import annotations

import contextlib
import logging

from django.db import connections

logger = logging.getLogger(__name__)


def restore_connections() -> list[str]:
    """Roll back and reset every connection the job left inside a transaction.

    Returns one line per connection repaired (empty when the job left everything as it found
    it). The job's uncommitted writes are gone: they were never committed.
    """
    repaired = []
    for conn in connections.all(initialized_only=True):
        if conn.connection is None:
            continue
        left_open = conn.in_atomic_block or conn.needs_rollback
        try:
            manual = not conn.get_autocommit()
        except Exception:
            manual = True
        if not (left_open or manual):
            continue
        how = "an atomic() block" if conn.in_atomic_block else "a transaction"
        repaired.append(f"the job left {how} open on database {conn.alias!r}")
        with contextlib.suppress(Exception):
            conn.connection.rollback()
        conn.in_atomic_block = False
        conn.atomic_blocks = []
        conn.savepoint_ids = []
        conn.needs_rollback = False
        conn.rollback_exc = None  # type: ignore[attr-defined]  # Django 5.2+
        conn.commit_on_exit = True
        conn.closed_in_transaction = False
        conn.run_on_commit = []
        with contextlib.suppress(Exception):
            conn.close()  # the next query reconnects in autocommit mode
        conn.connection = None
    for line in repaired:
        logger.warning("batchqueue: %s; its uncommitted writes were rolled back", line)
    return repaired
