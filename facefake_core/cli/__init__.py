"""``facefake`` / ``python -m facefake_core``: the core's functions on the command line.

A leaf: nothing in the core imports it. Each module registers one group of commands over :mod:`._common`.
Every model command takes ``--model SRC`` (see :mod:`facefake_core.sources`) and ``--json``. Errors the package
expects are printed as one line and exit with status 2; a batch with some unreadable inputs exits with 1.
"""

from __future__ import annotations

import argparse
import sys

from ..errors import FacefakeError
from . import demo, embed, focus, models, serve, sets
from ._common import bars

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The ``facefake`` parser with every command."""
    parser = argparse.ArgumentParser(
        prog="facefake", description="Explain a fastai real/fake face classifier: predict, Grad-CAM heatmaps, "
        "hard-set evaluation, depth-of-field analysis.",
        epilog="Examples:\n  facefake info --model demo:round0\n  facefake predict a.jpg b.jpg --json\n"
               "  facefake explain a.jpg --out a_cam.png\n  facefake evaluate hardset/ --json\n"
               "  facefake embed hardset/ --json\n  facefake neighbours a.jpg --set hardset/ --set train/ -k 5\n"
               "  facefake serve --public",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in (models, sets, embed, focus, demo, serve):
        group.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    show = not getattr(args, "json", False) or sys.stderr.isatty()
    try:
        with bars(show) as progress:
            return args.func(args, progress)
    except FacefakeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {str(err).splitlines()[0] if str(err) else type(err).__name__}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; finished results are stored", file=sys.stderr)
        return 130
