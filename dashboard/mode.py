"""Local or public mode, for the pages: the operator's settings, who the visitor is, how a server path is named to
them, one-line errors, and the work queue around heavy jobs.

Local mode (the default) is the tool as it always was, with typed paths held to ``FACEFAKE_ROOTS`` when set. Public
mode (``FACEFAKE_PUBLIC=1`` or ``facefake serve --public``) takes no path from a visitor, names files only within
their set, keeps each visitor's marks and uploads apart, and runs heavy jobs through the queue. The rules live in
:mod:`facefake_core.serving`; this module applies them to a Streamlit session.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

import streamlit as st

from facefake_core import CONFIG
from facefake_core.progress import Progress
from facefake_core.serving import Serving, UploadArea, public_name, readable, redact, writable_folder

VISITOR_KEY = "visitor"  # session state: this session's random key (public mode without sign-in)
NOT_FOLLOWED = ("Links to files or folders on the server are not followed here: in public mode a link names a "
                "stored image by its hash, or a set by its name, so nothing was opened.")


def settings() -> Serving:
    """The operator's settings, read from the environment on every run (cheap). Raises ``SettingsError``."""
    return Serving.from_env()


def public() -> bool:
    return settings().public


def visitor() -> str:
    """Who owns this session's data: a signed-in user's key where ``FACEFAKE_LOGIN=1``, else a random key kept for
    the session. Only ever used as a key (hashed before it names a folder)."""
    s = settings()
    user = getattr(st, "user", None)
    if s.login and user is not None and user.is_logged_in:
        ident = str(user.get("sub") or user.get("email") or "")
        if ident:
            return "user:" + hashlib.sha256(ident.encode()).hexdigest()[:32]
    if VISITOR_KEY not in st.session_state:
        st.session_state[VISITOR_KEY] = "session:" + secrets.token_hex(16)
    return st.session_state[VISITOR_KEY]


def owner() -> str:
    """The triage marks' owner: ``""`` (shared, as always) in local mode, the visitor in public mode."""
    return visitor() if public() else ""


def say(err: BaseException | str) -> str:
    """A refusal or failure as the page shows it: one line; in public mode with no server folder in it."""
    text = " ".join(str(err).split()) or type(err).__name__
    return redact(text) if public() else text


def name(path: str | Path, bases: Iterable[str | Path] = ()) -> str:
    """How a server path is shown: as it is in local mode; within its set (or its last part) in public mode."""
    return public_name(path, bases) if public() else str(path)


def typed_path(text: str) -> Path:
    """A path a local user typed, resolved and held to ``FACEFAKE_ROOTS``. Raises ``AccessError``."""
    return readable(text, settings().roots)


def output_folder(text: str) -> Path:
    """A folder a local user typed to write into: under the roots, not one of facefake's own. Raises ``AccessError``."""
    return writable_folder(text, settings().roots)


def upload_area() -> UploadArea:
    s = settings()
    return UploadArea(CONFIG.upload_dir, s.upload_quota_bytes, s.upload_ttl_s)


def upload_root() -> Path:
    """Where this session's uploads go: the shared upload folder locally, the visitor's own folder in public mode."""
    return upload_area().visitor_dir(visitor()) if public() else CONFIG.upload_dir


def reserve(incoming: int) -> None:
    """In public mode, make room for an upload or refuse it (``QuotaError``); local uploads are not limited."""
    if public():
        upload_area().reserve(incoming)


def _mark_cancelled(key: str) -> None:
    st.session_state[f"{key}_cancelled"] = True


def cancelled(key: str) -> bool:
    """Whether this session pressed Cancel on the job ``key`` (read once: the flag is cleared)."""
    return bool(st.session_state.pop(f"{key}_cancelled", False))


@contextmanager
def queued(what: str, key: str, where=None) -> Iterator[Callable[[Progress | None], Progress]]:
    """Run a heavy job through the work queue (public mode; locally it runs at once, as always).

    While the job waits the page says how many are ahead and offers Cancel; pressing it stops this run, which
    leaves the line (or stops the job at its next step). Yields ``guard``: wrap the job's progress callback with it
    so that a cancelled ticket stops the job. Raises ``JobCancelled`` when the ticket is cancelled.
    """
    if not public():
        yield lambda progress: progress
        return
    from dashboard import state

    where = where or st
    box = where.container()
    note = box.empty()
    box.button("Cancel", key=f"{key}_cancel", on_click=_mark_cancelled, args=(key,))
    queue = state.work_queue(settings().queue_slots)
    try:
        with queue.join(owner=visitor()) as ticket:
            waited = False
            while not ticket.wait(0.5 if waited else 0):  # each message is a Streamlit call: a Cancel click
                waited = True                                # interrupts the run here, which leaves the line
                run = queue.state()
                note.info(f"{what}: waiting for a free slot, {ticket.ahead()} ahead of you "
                          f"({run.running} of {run.slots} running).")
            if ticket.had_to_wait:
                where.caption(f"{what} waited {ticket.waited_s:.1f} s in line for a free slot.")
            note.empty()
            yield ticket.guard
    finally:
        box.empty()
