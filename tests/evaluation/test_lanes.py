"""The accelerator route (one model thread fed by decoding threads, ``lanes.pipelined``, which ``lanes=1`` also
takes on the CPU): decoding and the focus measures run in the pool, never on the model's thread."""

from __future__ import annotations

import threading

from facefake_core.evaluation import Store, evaluate
from facefake_core.evaluation import runner

from conftest import make_image_folder


def test_pipelined_route_measures_focus_off_the_model_thread(model, tmp_path, monkeypatch):
    real, seen = runner.measure_focus, []

    def recording(pixels):
        seen.append(threading.current_thread())
        return real(pixels)

    monkeypatch.setattr(runner, "measure_focus", recording)
    folder = make_image_folder(tmp_path / "set", n=3)
    ev = evaluate(model, folder, store=Store(tmp_path / "s.sqlite"), lanes=1, workers=2, batch_size=2)
    assert len(ev.rows) == 6 and all(r.focus is not None for r in ev.rows)
    assert len(seen) == 6 and threading.main_thread() not in seen, "focus measured on the model's thread"
