"""runtime (seeding, threads, the Accelerator), weights, plots, papers and the CLI's small pieces."""

import pytest
import torch

from repro.core import papers, plots
from repro.core.cli import main, parse_overrides
from repro.core.config import RunConfig
from repro.core.runtime import configure, device_summary, make_accelerator, seed_everything
from repro.core.weights import load_config, load_weights, save_weights


def test_seed_everything_makes_torch_and_numpy_repeat():
    import numpy as np

    seed_everything(3)
    first = torch.rand(3), np.random.rand(2), torch.rand(2, generator=seed_everything(3))
    seed_everything(3)
    again = torch.rand(3), np.random.rand(2), torch.rand(2, generator=seed_everything(3))
    assert torch.equal(first[0], again[0]) and (first[1] == again[1]).all() and torch.equal(first[2], again[2])


def test_profile_sets_threads_and_a_cpu_accelerator():
    cfg = RunConfig(threads=1)
    configure(cfg)
    assert torch.get_num_threads() == 1
    accelerator = make_accelerator(RunConfig(threads=2))
    assert accelerator.device.type == "cpu" and accelerator.mixed_precision == "no"
    assert device_summary()["torch_threads"] == 2


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU error")
def test_asking_for_cuda_without_a_gpu_is_a_clear_error():
    with pytest.raises(RuntimeError, match="no GPU is visible"):
        make_accelerator(RunConfig(device="cuda"))


def test_weights_round_trip_and_strict_shapes(tmp_path):
    net = torch.nn.Linear(3, 2)
    save_weights(net, tmp_path / "net", {"in": 3, "out": 2})
    assert load_config(tmp_path / "net") == {"in": 3, "out": 2}
    copy = load_weights(torch.nn.Linear(3, 2), tmp_path / "net")
    assert torch.equal(copy.weight, net.weight)
    with pytest.raises(RuntimeError, match="size mismatch"):
        load_weights(torch.nn.Linear(4, 2), tmp_path / "net")


def test_weights_names_with_dots_do_not_collide(tmp_path):
    """Arm names carry ratios (``magnitude@0.05``): the files append their suffix, never replace a part."""
    small, big = torch.nn.Linear(3, 2), torch.nn.Linear(5, 2)
    save_weights(small, tmp_path / "arm@0.05_seed0", {"in": 3})
    save_weights(big, tmp_path / "arm@0.05_seed1", {"in": 5})
    assert load_config(tmp_path / "arm@0.05_seed0") == {"in": 3}
    assert torch.equal(load_weights(torch.nn.Linear(3, 2), tmp_path / "arm@0.05_seed0").weight, small.weight)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "arm@0.05_seed0.json",
        "arm@0.05_seed0.safetensors",
        "arm@0.05_seed1.json",
        "arm@0.05_seed1.safetensors",
    ]


def test_truncated_weights_are_refused(tmp_path):
    save_weights(torch.nn.Linear(30, 20), tmp_path / "net", {})
    path = tmp_path / "net.safetensors"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(Exception, match="(?i)invalid|incomplete|error|deserializ"):
        load_weights(torch.nn.Linear(30, 20), tmp_path / "net")


def test_plots_save_png_and_pdf(tmp_path):
    fig, axes = plots.figure(ncols=2)
    axes[0][0].plot([0, 1], [1, 0])
    paths = plots.save(fig, tmp_path, "line")
    assert [p.name for p in paths] == ["line.png", "line.pdf"]
    assert paths[0].read_bytes()[:4] == b"\x89PNG" and paths[1].read_bytes()[:4] == b"%PDF"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["line.pdf", "line.png"]


def test_papers_registry():
    assert "mmard" in papers.available() and set(papers.available()) <= set(papers.ALL_PAPERS)
    with pytest.raises(ValueError, match=f"available: {', '.join(papers.available())}$"):
        papers.check("nosuch")


def test_overrides_parse_as_json_then_as_strings():
    assert parse_overrides(["seeds=[0,1]", "lr=0.1", "data_source=digits"]) == {
        "seeds": [0, 1],
        "lr": 0.1,
        "data_source": "digits",
    }
    with pytest.raises(SystemExit, match="key=value"):
        parse_overrides(["seeds"])


def test_cli_reports_bad_input_without_a_traceback(capsys):
    assert main(["step", "mmard", "data", "--profile", "nope"]) == 2
    assert "unknown profile 'nope'" in capsys.readouterr().err
    assert main(["step", "mmard", "data", "--set", "epochz=1"]) == 2
    assert "valid keys" in capsys.readouterr().err
    assert main(["list"]) == 0
    assert "mmard" in capsys.readouterr().out
