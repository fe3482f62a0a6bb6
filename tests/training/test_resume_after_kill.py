"""A training process killed with SIGKILL mid-run and resumed ends where an uninterrupted run ends."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from meddenoise.training import TrainConfig, load_checkpoint, train

SCRIPT = """
import sys, numpy as np, torch
from meddenoise.training import TrainConfig, train
torch.set_num_threads(1)
cfg = TrainConfig.load(sys.argv[1])
train(cfg, np.load(sys.argv[2]), out_dir=sys.argv[3], progress=False)
"""


@pytest.mark.slow
@pytest.mark.integration
def test_sigkilled_run_resumes_to_the_uninterrupted_result(tmp_path: Path) -> None:
    from training_helpers import make_images

    images = make_images(40, size=32)
    cfg = TrainConfig(
        model="gondara-dae",
        model_params={"filters": 16},
        noise="gaussian(p=0.1,sigma=1)",
        epochs=8,
        batch_size=4,
        lr_schedule="cosine",
        seed=5,
        num_threads=1,
    )
    cfg_path, data_path, run = cfg.save(tmp_path / "cfg.json"), tmp_path / "images.npy", tmp_path / "killed"
    np.save(data_path, images)
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(cfg_path), str(data_path), str(run)])
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            last = run / "last.json"
            if last.exists() and json.loads(last.read_text())["resume"]["epoch"] >= 3:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "training finished before it could be killed"
        proc.kill()
    finally:
        proc.wait()
    killed_at = json.loads((run / "last.json").read_text())["resume"]["epoch"]
    assert 3 <= killed_at < cfg.epochs

    resumed = train(cfg, images, out_dir=run, resume=True, progress=False)
    full = train(cfg, images, out_dir=tmp_path / "full", progress=False)
    assert resumed.epochs_run == cfg.epochs - killed_at
    np.testing.assert_allclose(
        [r["val_loss"] for r in resumed.history], [r["val_loss"] for r in full.history], rtol=1e-5
    )
    a, _ = load_checkpoint(run / "last.json")
    b, _ = load_checkpoint(tmp_path / "full" / "last.json")
    for key, value in a.state_dict().items():
        torch.testing.assert_close(value, b.state_dict()[key], rtol=0, atol=1e-6)
