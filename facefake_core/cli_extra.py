"""Subcommands beyond the core four: dof, counterfactual, convert, demo, finetune."""

from __future__ import annotations

import argparse


def add_commands(sub, add_common) -> None:
    """Register the extra subcommands on the main parser's subparsers."""
    return None
