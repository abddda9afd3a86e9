"""The SQL storage backend: the ``Batch`` and ``BatchJob`` models of this app."""

from .backend import SQLStorage

__all__ = ["SQLStorage"]
