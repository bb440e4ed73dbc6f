"""flask-kroncases: turn messages of a Flask helpdesk's conversations into support cases."""

from __future__ import annotations

from . import signals
from .enums import ActivityKind, CaseType, Priority, Status
from .errors import CaseError
from .extension import KronCases, KronCasesState

__version__ = "0.1.0"

__all__ = [
    "ActivityKind",
    "CaseError",
    "CaseType",
    "KronCases",
    "KronCasesState",
    "Priority",
    "Status",
    "signals",
]
