"""Every method's weight chosen alike, on validation. Introduced in ``notebooks/mgtil/03_train.ipynb``.

Each method that has a weight of its own (``config.TUNED``: l2's lambda, LwF's and ZSCL's
distillation weight, PRIMED's DFG gamma) runs order I for every value of the same grid on each of
the same pilot seeds (apart from the evaluation seeds), and keeps the value with the best validation
score averaged over the pilot seeds: the mean of validation Avg and Last, the two metrics the
headline claims read. The test split is
never read. ``ours_uniform`` and the ablations take ours' value (they differ from ours in one part
only). The table of every pilot run is kept, so the golden shows what was chosen and from what.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from repro.mgtil.config import TUNED, LossSpec
from repro.mgtil.continual import StreamResult
from repro.mgtil.evaluate import mtil_metrics

SHARES_OURS = ("ours_uniform", "ours_no_ckt", "ours_no_cmc", "ours_no_dfg")


def validation_score(result: StreamResult) -> float:
    """(Avg + Last) / 2 of one run's validation accuracy matrix, in points."""
    m = mtil_metrics(100 * result.val_correct.mean(axis=-1))
    return (m["avg"] + m["last"]) / 2


def tune(
    methods: tuple[str, ...],
    spec: LossSpec,
    grid: tuple[float, ...],
    seeds: tuple[int, ...],
    run_all: Callable[[Sequence[tuple[str, LossSpec, int]]], list[StreamResult]],
) -> tuple[dict[str, LossSpec], dict[str, dict]]:
    """Per method, the ``LossSpec`` it runs with, and the pilot table ``method -> {weight, grid:
    {value: mean score}, per_seed: {value: [score per pilot seed]}, chosen, on_edge}``.
    ``run_all([(method, spec, seed), ...])`` trains those pilot runs (all of them at once: they are
    independent, so the caller may run them side by side) and returns their results in order."""
    tuned = [m for m in methods if m in TUNED]
    pilots = [(m, replace(spec, **{TUNED[m]: v}), s) for m in tuned for v in grid for s in seeds]
    scores_of = iter(validation_score(r) for r in run_all(pilots))
    table: dict[str, dict] = {}
    specs = {m: spec for m in methods}
    for method in tuned:
        field = TUNED[method]
        runs = {value: [next(scores_of) for _ in seeds] for value in grid}
        scores = {value: float(np.mean(r)) for value, r in runs.items()}
        best = max(grid, key=lambda v: (scores[v], -grid.index(v)))  # ties: the first grid value
        specs[method] = replace(spec, **{field: best})
        table[method] = {
            "weight": field,
            "grid": {str(v): round(s, 2) for v, s in scores.items()},
            "per_seed": {str(v): [round(x, 2) for x in r] for v, r in runs.items()},
            "chosen": best,
            "on_edge": len(grid) > 1 and best in (grid[0], grid[-1]),  # the optimum may lie outside the grid
        }
    if "ours" in table:
        for method in SHARES_OURS:
            if method in specs:
                specs[method] = replace(specs[method], gamma=table["ours"]["chosen"])
    return specs, table
