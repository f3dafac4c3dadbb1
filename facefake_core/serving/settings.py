"""The operator's serving settings, read from the environment in one place.

=============================  ==========================================================================
Variable                       Meaning
=============================  ==========================================================================
``FACEFAKE_PUBLIC``            ``1`` turns on public mode: no page reads or writes a path a visitor names;
                               unset inside a Hugging Face Space (``SPACE_ID`` set), public mode is on
``FACEFAKE_SETS``              hard sets offered in public mode, ``name=/dir,name2=/file.csv``
``FACEFAKE_MODELS``            models offered in public mode, ``name=SRC,...`` (any model source)
``FACEFAKE_MODEL_UPLOADS``     ``1`` lets public visitors upload a learner ``.pkl`` (safe loader only)
``FACEFAKE_QUEUE_SLOTS``       heavy jobs that run at once in public mode (default ``CONFIG.queue_slots``)
``FACEFAKE_UPLOAD_QUOTA_MB``   size quota of the upload area (default ``CONFIG.upload_quota_bytes``)
``FACEFAKE_UPLOAD_TTL_H``      hours after which uploads are deleted (default ``CONFIG.upload_ttl_s``)
``FACEFAKE_LOGIN``             ``1``: visitors sign in with Streamlit's ``st.login``; data is kept per user
``FACEFAKE_ROOTS``             local mode: typed paths must lie under one of these folders (``os.pathsep``)
=============================  ==========================================================================

Listed sets and models are the operator's, so their paths are trusted; a visitor only ever sees their names.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..config import CONFIG
from ..errors import SettingsError

_TRUE, _FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


def _flag(env: Mapping[str, str], name: str) -> bool:
    value = env.get(name, "").strip().lower()
    if value not in _TRUE + _FALSE:
        raise SettingsError(f"{name}={env[name]!r}: use 1 or 0")
    return value in _TRUE


def _number(env: Mapping[str, str], name: str, default: float, scale: float = 1.0, minimum: float = 0.0) -> float:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise SettingsError(f"{name}={text!r}: not a number") from None
    if value < minimum:
        raise SettingsError(f"{name}={text!r}: must be at least {minimum:g}")
    return value * scale


def _named(env: Mapping[str, str], name: str) -> dict[str, str]:
    """``a=x,b=y`` as ``{"a": "x", "b": "y"}``; values may hold ``=`` and ``:`` (``hf://...@rev``)."""
    out: dict[str, str] = {}
    for part in env.get(name, "").split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise SettingsError(f"{name}: {part.strip()!r} is not NAME=VALUE")
        if key in out:
            raise SettingsError(f"{name}: the name {key!r} is listed twice")
        out[key] = value
    return out


@dataclass(frozen=True)
class Serving:
    """How this server serves the dashboard. :meth:`from_env` reads it; the defaults are local mode."""

    public: bool = False
    sets: dict[str, Path] = field(default_factory=dict)
    models: dict[str, str] = field(default_factory=dict)
    model_uploads: bool = False
    queue_slots: int = CONFIG.queue_slots
    upload_quota_bytes: int = CONFIG.upload_quota_bytes
    upload_ttl_s: float = CONFIG.upload_ttl_s
    login: bool = False
    roots: tuple[Path, ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, public: bool | None = None) -> "Serving":
        """The settings in ``env`` (default ``os.environ``); ``public`` overrides ``FACEFAKE_PUBLIC``.

        Raises:
            SettingsError: a variable that cannot be understood, in one line naming it.
        """
        env = os.environ if env is None else env
        sets = {k: Path(v).expanduser().resolve() for k, v in _named(env, "FACEFAKE_SETS").items()}
        roots = tuple(Path(r).expanduser().resolve() for r in env.get("FACEFAKE_ROOTS", "").split(os.pathsep)
                      if r.strip())
        if public is None:  # a Space is public unless the operator says FACEFAKE_PUBLIC=0
            public = _flag(env, "FACEFAKE_PUBLIC") if env.get("FACEFAKE_PUBLIC", "").strip() else bool(env.get("SPACE_ID"))
        return cls(
            public=public,
            sets=sets, models=_named(env, "FACEFAKE_MODELS"),
            model_uploads=_flag(env, "FACEFAKE_MODEL_UPLOADS"),
            queue_slots=int(_number(env, "FACEFAKE_QUEUE_SLOTS", CONFIG.queue_slots, minimum=1)),
            upload_quota_bytes=int(_number(env, "FACEFAKE_UPLOAD_QUOTA_MB", CONFIG.upload_quota_bytes, 1024**2)),
            upload_ttl_s=_number(env, "FACEFAKE_UPLOAD_TTL_H", CONFIG.upload_ttl_s, 3600.0),
            login=_flag(env, "FACEFAKE_LOGIN"), roots=roots)

    def problems(self) -> list[str]:
        """One line per listed set that does not exist (checked by ``facefake serve`` before it starts)."""
        return [f"FACEFAKE_SETS: {name}: no such folder or .csv file" for name, p in self.sets.items()
                if not (p.is_dir() or (p.is_file() and p.suffix.lower() == ".csv"))]
