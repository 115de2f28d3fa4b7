"""``python -m repro step`` under ``accelerate launch`` with two CPU processes gives the same
training as one process (split batches: the global batch is the profile's)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

BIN = Path(sys.executable).parent


# Small: two processes over gloo on 2 shared cores take 10-100x longer per step than one process, so
# the run keeps two students (adversarial training, and MMARD with the large teacher); the teachers
# (trained in one process by the model step) take seconds at this size.
OVERRIDES = [
    *("--set", "train_limit=256", "--set", "teacher_epochs=2", "--set", "student_epochs=2"),
    *("--set", 'methods=["pgd_at", "mmard"]'),
    *("--set", "teacher_swap_methods=[]", "--set", "control_methods=[]"),
]


def step(runs: Path, launcher: list[str]) -> dict:
    env = {**os.environ, "REPRO_RUNS_DIR": str(runs), "ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1"}
    for _attempt in range(2):  # a two-process gloo run now and then aborts at exit (SIGABRT) after its work
        proc = subprocess.run(
            [*launcher, "-m", "repro", "step", "mmard", "train", "--profile", "smoke", *OVERRIDES],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        histories = list(runs.glob("smoke+*/mmard/train/history.json"))
        if histories:
            return json.loads(histories[0].read_text())
    pytest.fail(f"step failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")


@pytest.mark.slow
def test_train_step_under_accelerate_launch_matches_one_process(tmp_path):
    one = step(tmp_path / "one", [sys.executable])
    launch = [str(BIN / "accelerate"), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1"]
    two = step(tmp_path / "two", [*launch, "--mixed_precision", "no", "--dynamo_backend", "no"])
    assert set(one) == set(two) == {"pgd_at", "mmard@large"}
    for arm in one:
        np.testing.assert_allclose(two[arm], one[arm], rtol=1e-4, atol=1e-5, err_msg=arm)
