import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from repro.core.config import RunConfig
from repro.core.runtime import make_accelerator, seed_everything
from repro.core.train import Budget, count_forwards, fit

HERE = Path(__file__).parent


def test_fit_reduces_the_loss_and_counts_the_budget():
    accelerator = make_accelerator(RunConfig())
    seed_everything(0)
    x = torch.randn(64, 3)
    y = (x.sum(1) > 0).long()
    model = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16)
    model, opt, loader = accelerator.prepare(model, opt, loader)
    result = fit(
        model,
        lambda m, b: torch.nn.functional.cross_entropy(m(b[0]), b[1]),
        loader,
        opt,
        epochs=10,
        accelerator=accelerator,
    )
    assert result.losses[-1] < 0.5 * result.losses[0]
    assert result.budget.optimizer_steps == 40 and result.budget.forward_samples == {"model": 640}


def test_count_forwards_and_merge():
    net = torch.nn.Linear(2, 2)
    budget = Budget()
    with count_forwards({"net": net}, budget):
        net(torch.zeros(5, 2))
        net(torch.zeros(3, 2))
    net(torch.zeros(7, 2))  # after the block: not counted
    assert budget.forward_samples == {"net": 8}
    merged = budget.merge(Budget(2, {"net": 1, "teacher": 4}, 0.5))
    assert merged.forward_samples == {"net": 9, "teacher": 4} and merged.optimizer_steps == 2


def test_count_forwards_reads_the_batch_size_of_a_dict_batch():
    class DictNet(torch.nn.Module):
        def forward(self, batch):
            return batch["audio"].sum(-1)

    net, budget = DictNet(), Budget()
    with count_forwards({"net": net}, budget):
        net({"label": [1.0] * 9, "audio": torch.zeros(6, 2), "text": torch.zeros(6, 3)})
    assert budget.forward_samples == {"net": 6}


def run_fit(tmp_path, nproc):
    out = tmp_path / f"fit{nproc}.pt"
    env = {**os.environ, "ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1"}
    if nproc == 1:
        cmd = [sys.executable, str(HERE / "ddp_fit.py"), str(out)]
    else:
        torchrun = Path(sys.executable).with_name("torchrun")
        cmd = [str(torchrun), "--standalone", f"--nproc_per_node={nproc}", str(HERE / "ddp_fit.py"), str(out)]
    for _attempt in range(2):  # ~4 in 90 two-process gloo runs abort at exit (SIGABRT) after finishing
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
        if out.exists():
            return torch.load(out, weights_only=True)
    pytest.fail(f"fit in {nproc} process(es) failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")


@pytest.mark.slow
def test_two_cpu_processes_match_one(tmp_path):
    one, two = run_fit(tmp_path, 1), run_fit(tmp_path, 2)
    assert one["world"] == 1 and two["world"] == 2
    assert one["steps"] == two["steps"] == 20
    assert one["forwards"] == two["forwards"] == {"model": 160}  # 5 epochs x 32 samples, whichever process saw them
    torch.testing.assert_close(torch.tensor(two["weights"]), torch.tensor(one["weights"]), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(torch.tensor(two["losses"]), torch.tensor(one["losses"]), rtol=1e-5, atol=1e-6)
