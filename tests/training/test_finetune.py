"""Fine-tuning a learner from a file never runs the callbacks the file carried with it."""

from __future__ import annotations

from recipes import image_folder, recipes

from facefake_core.training.finetune import _load_for_training


def test_callbacks_from_the_file_are_removed_before_training(tmp_path):
    data = image_folder(tmp_path / "data")
    learn = recipes()["trackers"](data)
    learn.export(tmp_path / "trackers.pkl")
    carried = {type(cb).__name__ for cb in learn.cbs}
    assert {"SaveModelCallback", "CSVLogger", "EarlyStoppingCallback"} <= carried  # the file has them
    loaded = _load_for_training(tmp_path / "trackers.pkl", tmp_path / "out")
    kept = {type(cb).__name__ for cb in loaded.cbs}
    assert kept <= {"TrainEvalCallback", "Recorder", "CastToTensor", "ProgressCallback"}
    assert "Recorder" in kept and loaded.path == tmp_path / "out"
