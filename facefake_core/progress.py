"""The progress callback every long operation accepts: ``progress(done, total, what)``.

``what`` names the stage ("evaluating", "training round0", ...); ``done`` counts up to ``total`` within it. The
CLI draws tqdm bars from it and the dashboard ``st.progress`` bars; the core never draws anything itself.
"""

from __future__ import annotations

from typing import Callable

Progress = Callable[[int, int, str], None]
