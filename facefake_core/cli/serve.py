"""``facefake serve [--public]``: start the dashboard with ``streamlit run``, in local or public mode.

Public mode is ``FACEFAKE_PUBLIC=1`` for the dashboard, plus Streamlit settings a public server wants: error details
kept off the page (``client.showErrorDetails none``), a smaller upload limit unless model uploads are on, and the
minimal toolbar. The operator's ``FACEFAKE_*`` settings are checked before the server starts.
"""

from __future__ import annotations

import os
import sys

from ..config import CONFIG
from ..errors import SettingsError
from ..serving import PROJECT_ROOT, Serving
from ._common import emit

APP = PROJECT_ROOT / "dashboard" / "app.py"
MODEL_UPLOAD_MB = 300  # a fastai resnet50 learner .pkl is about 103 MB


def command(settings: Serving, port: int, address: str) -> tuple[list[str], dict[str, str]]:
    """The ``streamlit run`` command line and the environment it runs with.

    Raises:
        SettingsError: a listed set that does not exist, or no dashboard next to the package.
    """
    problems = settings.problems()
    if problems:
        raise SettingsError(problems[0])
    if not APP.is_file():
        raise SettingsError(f"no dashboard/app.py next to facefake_core in {PROJECT_ROOT.name}; run from a "
                            "source checkout")
    argv = [sys.executable, "-m", "streamlit", "run", str(APP), "--server.port", str(port),
            "--server.address", address, "--server.headless", "true"]
    if settings.public:
        upload_mb = MODEL_UPLOAD_MB if settings.model_uploads else CONFIG.public_max_upload_mb
        argv += ["--server.maxUploadSize", str(upload_mb), "--client.showErrorDetails", "none",
                 "--client.toolbarMode", "minimal"]
    env = {**os.environ, "FACEFAKE_PUBLIC": "1" if settings.public else "0"}
    return argv, env


def cmd_serve(args, progress) -> int:
    settings = Serving.from_env(public=True if args.public else None)
    argv, env = command(settings, args.port, args.address)
    if args.dry_run:
        emit(args, {"argv": argv, "cwd": str(PROJECT_ROOT), "public": settings.public,
                    "env": {k: v for k, v in env.items() if k.startswith("FACEFAKE_")}}, " ".join(argv))
        return 0
    os.chdir(PROJECT_ROOT)  # so Streamlit reads the project's .streamlit/config.toml
    os.execvpe(argv[0], argv, env)
    return 0  # not reached


def register(sub) -> None:
    """Add ``serve`` to the main parser's subparsers."""
    p = sub.add_parser("serve", help="start the dashboard (streamlit run dashboard/app.py), locally or in public mode",
                       description="Start the dashboard. Public mode (--public or FACEFAKE_PUBLIC=1) takes no server "
                       "path from visitors: sets come from FACEFAKE_SETS, models from FACEFAKE_MODELS, heavy jobs "
                       "wait in a queue of FACEFAKE_QUEUE_SLOTS, uploads obey FACEFAKE_UPLOAD_QUOTA_MB and "
                       "FACEFAKE_UPLOAD_TTL_H. See docs/deploy.md.")
    p.add_argument("--public", action="store_true", help="public mode (same as FACEFAKE_PUBLIC=1)")
    p.add_argument("--port", type=int, default=8501)
    p.add_argument("--address", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    p.add_argument("--dry-run", action="store_true", help="print the command instead of starting it")
    p.add_argument("--json", action="store_true", help="with --dry-run: print {argv, cwd, public, env} as JSON")
    p.set_defaults(func=cmd_serve)
