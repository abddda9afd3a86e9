"""The SQL storage backend: the ``Batch`` and ``BatchJob`` models of this app."""

from typing import TYPE_CHECKING

from .backend import SQLStorage

if TYPE_CHECKING:  # mypy checks the backend against the storage interface
    from ..base import Storage

    _implements: Storage = SQLStorage()

__all__ = ["SQLStorage"]
