"""Run by test_train.py, once in one process and once under torchrun with two CPU processes."""

import sys

import torch
from torch.utils.data import DataLoader, TensorDataset

from repro.core.config import RunConfig
from repro.core.runtime import make_accelerator, seed_everything
from repro.core.train import fit

accelerator = make_accelerator(RunConfig(device="cpu", threads=1))
seed_everything(0)
x = torch.randn(32, 4)
y = x @ torch.tensor([1.0, -2.0, 0.5, 3.0]) + 0.1
model = torch.nn.Linear(4, 1)
optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
loader = DataLoader(TensorDataset(x, y), batch_size=8, shuffle=False)
model, optimizer, loader = accelerator.prepare(model, optimizer, loader)


def loss_fn(m, batch):
    xb, yb = batch
    return torch.nn.functional.mse_loss(m(xb).squeeze(-1), yb)


result = fit(model, loss_fn, loader, optimizer, epochs=5, accelerator=accelerator)
if accelerator.is_main_process:
    weights = accelerator.unwrap_model(model).weight.detach().flatten().tolist()
    torch.save(
        {
            "weights": weights,
            "losses": result.losses,
            "steps": result.budget.optimizer_steps,
            "forwards": result.budget.forward_samples,
            "world": accelerator.num_processes,
        },
        sys.argv[1],
    )
