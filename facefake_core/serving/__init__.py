"""Serving the dashboard to other people: the operator's settings (public mode, listed sets and models, roots),
which paths a request may read or write, the upload area (quota, expiry), and a bounded work queue for heavy
jobs. Plain Python; the dashboard calls it.

Layer 1: above ``config`` and ``errors`` only.
"""

from .jobs import CANCELLED, DONE, RUNNING, WAITING, QueueState, Ticket, WorkQueue
from .paths import PROJECT_ROOT, project_folders, public_name, readable, redact, writable_folder
from .settings import Serving
from .uploads import UploadArea, visitor_folder_name

__all__ = [
    "CANCELLED", "DONE", "PROJECT_ROOT", "QueueState", "RUNNING", "Serving", "Ticket", "UploadArea", "WAITING",
    "WorkQueue", "project_folders", "public_name", "readable", "redact", "visitor_folder_name", "writable_folder",
]
