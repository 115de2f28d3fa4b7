"""dFLMoE with one process per client (torchrun, gloo, heads sent point to point) gives the same
run as the in-process simulation with the same seeds: accuracies, gate weights, bytes and budget."""

import json
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from repro import dflmoe
from repro.dflmoe.federation import simulate
from repro.dflmoe.method import make_method
from repro.dflmoe.models import client_specs
from repro.dflmoe.runs import build_tasks, faults

BIN = Path(sys.executable).parent
# three clients, three rounds, 30% drops and client 2 lost from round 2: every exchange path runs
OVERRIDES = {"n_clients": 3, "rounds": 3, "drop_rate": 0.3, "lost_client": 2, "lost_round": 2}


def launch(out: Path) -> dict:
    sets = [x for k, v in OVERRIDES.items() for x in ("--set", f"{k}={v}")]
    torchrun = [str(BIN / "torchrun"), "--nproc_per_node", "3", "--master_port", "29531"]
    args = ["--profile", "smoke", *sets, "--partition", "digits-a0.5", "--fault", "drops+lost", "--out", str(out)]
    cmd = [*torchrun, "-m", "repro.dflmoe.distributed", *args]
    env = {**os.environ, "ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1", "REPRO_PROGRESS": "0"}
    for _attempt in range(2):  # a gloo run now and then aborts at exit after its work
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        if out.exists():
            return json.loads(out.read_text())
    pytest.fail(f"torchrun failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")


@pytest.mark.slow
def test_three_ranks_match_the_in_process_simulation(tmp_path):
    cfg = dflmoe.config("smoke", **OVERRIDES)
    task = build_tasks(cfg, cfg.seeds[0])["digits-a0.5"]
    specs = client_specs(3, cfg.model.hidden, False, True)
    method = make_method("dflmoe", 3, moe_alpha=cfg.moe_alpha, prox_mu=cfg.prox_mu, proto_lambda=cfg.proto_lambda)
    run = simulate(task, method, cfg.schedule, cfg.seeds[0], specs, faults(cfg, "drops+lost"),
                   feature_dim=cfg.model.feature_dim, attn_dim=cfg.model.attn_dim)  # fmt: skip
    here = asdict(run)
    there = launch(tmp_path / "out.json")
    assert there["world_size"] == 3
    np.testing.assert_allclose(there["client_acc"], here["client_acc"], atol=1e-9)
    np.testing.assert_allclose(there["curve"], here["curve"], atol=1e-9)
    np.testing.assert_allclose(there["gate"], here["gate"], rtol=1e-4, atol=1e-5)
    for client_there, client_here in zip(there["prob_pos"], here["prob_pos"]):
        np.testing.assert_allclose(client_there, client_here, rtol=1e-4, atol=1e-5)
    assert there["bytes_per_round"] == here["bytes_per_round"]
    assert there["bytes_sent_by_ranks"] == sum(here["bytes_per_round"])  # counted from the buffers actually sent
    assert here["bytes_per_round"][-1] < here["bytes_per_round"][0]  # the lost client sends nothing any more
    assert there["budget"]["optimizer_steps"] == here["budget"]["optimizer_steps"]
    assert there["budget"]["forward_samples"] == here["budget"]["forward_samples"]
    assert not np.allclose(np.asarray(here["gate"]), 1 / 3)  # the gate learned something
