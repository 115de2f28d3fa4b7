"""Jobs (repro.core.jobs): the core budget, where jobs run, and that a step's results do not depend
on how many jobs run at once or where: MODS's smoke train step with 1 and 2 local jobs and on a Dask
LocalCluster gives the same per-example scores and claims."""

import json
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from repro.core import jobs, papers, runner
from repro.core.jobs import Job
from tests import jobs_check as check


@pytest.fixture
def machine(monkeypatch):
    """A machine of ``cores`` cores, ``REPRO_JOBS`` unset, no cluster, one process."""

    def make(cores: int, wanted: int | None = None):
        monkeypatch.setenv(jobs.CORES_ENV, str(cores))
        for name in (jobs.JOBS_ENV, jobs.SCHEDULER_ENV, "WORLD_SIZE"):
            monkeypatch.delenv(name, raising=False)
        if wanted is not None:
            monkeypatch.setenv(jobs.JOBS_ENV, str(wanted))

    return make


def test_jobs_times_threads_never_exceed_the_cores(machine):
    machine(2)
    assert jobs.at_once(13, threads=1) == 2  # two 1-thread jobs on 2 cores
    assert jobs.at_once(13, threads=2) == 1  # one 2-thread job alone
    assert jobs.at_once(1, threads=1) == 1  # never more jobs than there are
    assert jobs.at_once(5, threads=4) == 1  # a job wider than the machine still runs, alone
    machine(2, wanted=8)
    assert jobs.at_once(13, threads=1) == 2  # asking for more does not oversubscribe
    machine(16, wanted=3)
    assert jobs.at_once(13, threads=2) == 3


def test_where_jobs_run(machine, monkeypatch):
    machine(2)
    assert jobs.plan(4, threads=1).backend == "loky"
    assert jobs.plan(4, threads=2).backend == "in-process"
    assert jobs.plan(4, threads=1, device="auto").backend == "in-process"  # one process owns an accelerator
    machine(2, wanted=1)
    assert jobs.plan(4, threads=1) == jobs.Plan("in-process", 1, 1)  # --jobs 1: as before jobs
    machine(2)
    monkeypatch.setenv(jobs.SCHEDULER_ENV, "tcp://127.0.0.1:8786")
    assert jobs.plan(4, threads=1) == jobs.Plan("dask", 4, 1, "tcp://127.0.0.1:8786")
    assert jobs.plan(4, threads=1, local=True).backend == "loky"  # notebooks stay on this machine
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert jobs.plan(4, threads=1).backend == "in-process"  # under accelerate launch every rank runs every job


def test_gpu_jobs_run_one_worker_per_device_each_pinned_to_its_own(machine, monkeypatch):
    machine(2)
    monkeypatch.setattr(jobs, "visible_gpus", lambda: ["3", "5"])  # CUDA_VISIBLE_DEVICES=3,5
    assert jobs.plan(4, threads=1, device="cuda") == jobs.Plan("gpus", 2, 1)
    assert jobs.plan(1, threads=1, device="cuda").backend == "in-process"
    monkeypatch.setenv(jobs.JOBS_ENV, "1")
    assert jobs.plan(4, threads=1, device="cuda").backend == "in-process"
    monkeypatch.delenv(jobs.JOBS_ENV)
    # each job reads the device its worker was pinned to (a function a spawned worker can import)
    read = Job("read", subprocess.getoutput, ("sleep 0.3; echo $CUDA_VISIBLE_DEVICES",))
    done = jobs.run([read] * 8, threads=1, device="cuda")
    pinned = {d.worker: d.value for d in done}
    assert {d.value for d in done} <= {"3", "5"} and all(pinned[d.worker] == d.value for d in done)
    assert len(set(pinned.values())) == len(pinned)  # no two workers share a device


@pytest.mark.parametrize("bad", ["0", "two", "-1"])
def test_a_bad_jobs_setting_is_a_clear_error(machine, monkeypatch, bad):
    machine(2)
    monkeypatch.setenv(jobs.JOBS_ENV, bad)
    with pytest.raises(ValueError, match="REPRO_JOBS"):
        jobs.at_once(4, threads=1)


def draw(n: int) -> list[float]:
    """A job that reads the global random state and the thread count it was given."""
    return [*torch.rand(n).tolist(), float(torch.get_num_threads())]


def test_a_job_seeds_itself_and_sets_its_threads(machine):
    todo = [Job(f"s{seed}", draw, (3,), seed=seed) for seed in (0, 1, 2, 0)]
    machine(1)
    torch.manual_seed(123)  # the caller's state must not leak into a job
    here = jobs.run(todo, threads=1)
    machine(2)
    there = jobs.run(todo, threads=1)
    assert [d.value for d in here] == [d.value for d in there]
    assert here[0].value == here[3].value != here[1].value  # same seed, same draw, whatever ran before
    assert {d.worker for d in here} != {d.worker for d in there}  # the second batch ran in worker processes
    assert all(d.value[-1] == 1.0 for d in there)


def spin(seconds: float) -> int:
    """A job that spends ``seconds`` of CPU time (however loaded the machine)."""
    end, n = time.process_time() + seconds, 0
    while time.process_time() < end:
        n += 1
    return n


def test_the_cpu_of_jobs_run_in_workers_is_counted_where_they_were_handed_out(machine):
    from repro.core.runtime import cpu_seconds

    machine(2)
    before, here = cpu_seconds(), time.process_time()
    done = jobs.run([Job(f"spin {i}", spin, (0.4,)) for i in range(4)], threads=1)
    assert len({d.worker for d in done}) == 2 and all(0.4 <= d.cpu_s < 0.6 for d in done)
    spent = cpu_seconds() - before
    assert spent == pytest.approx(time.process_time() - here + sum(d.cpu_s for d in done), abs=0.01)
    assert spent >= 1.6  # the four jobs' CPU, though this process mostly waited


def test_the_runner_orders_papers_by_the_readmes_measured_times(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(
        "| paper | `cpu` | `smoke` | notes |\n|---|---|---|---|\n| `a` | 10 s | 5 s | |\n| `b` | ~30 s * | 1 s | |\n"
    )
    assert runner.readme_seconds("smoke", readme) == {"a": 5.0, "b": 1.0}
    assert runner.readme_seconds("gpu", readme) == {"a": 10.0, "b": 30.0}  # no column: cpu's times
    assert runner.readme_seconds("cpu", tmp_path / "missing.md") == {}
    measured = runner.readme_seconds("cpu")  # the kit's own README has the table
    assert set(measured) == set(papers.ALL_PAPERS)
    order = runner.longest_first(list(papers.ALL_PAPERS), "cpu")
    assert [measured[p] for p in order] == sorted(measured.values(), reverse=True)


# ----------------------------------------------------------------------------------------------
# MODS's and dFLMoE's smoke train steps as jobs: 1 job, 2 jobs, a Dask cluster


def paper_run(runs, monkeypatch, paper="mods", **env) -> dict:
    """Train ``paper`` at smoke in a fresh runs folder under ``env``, evaluate it in this process; its
    scores, claims and jobs.json."""
    check.two_cores(monkeypatch, runs, **env)
    cfg = papers.package(paper).config("smoke")
    pipe = papers.pipeline(paper)
    train = pipe.run("train", cfg)
    check.one_at_a_time(monkeypatch)
    evaluate = pipe.run("evaluate", cfg)
    return {
        "scores": check.scores(evaluate.dir),
        "claims": check.claims(evaluate.dir),
        "jobs": check.read_json(train.dir / "jobs.json"),
    }


@pytest.fixture(scope="module")
def one_job(tmp_path_factory):
    with pytest.MonkeyPatch.context() as monkeypatch:
        return paper_run(tmp_path_factory.mktemp("one"), monkeypatch, REPRO_JOBS="1")


def assert_same_results(a: dict, b: dict) -> None:
    check.assert_same_arrays(a["scores"], b["scores"])
    assert a["claims"] == b["claims"]


@pytest.mark.slow
def test_mods_train_with_two_jobs_gives_the_same_scores_and_claims(one_job, tmp_path, monkeypatch):
    two = paper_run(tmp_path, monkeypatch, REPRO_JOBS="2")
    assert one_job["jobs"]["backend"] == "in-process"
    assert two["jobs"]["backend"] == "loky" and two["jobs"]["at_once"] == 2
    # both workers trained some of the 13 models (loky may replace a worker whose memory grew since
    # its first job, e.g. one that ran another test's job first: the results must not change)
    assert len({j["worker"] for j in two["jobs"]["jobs"]}) >= 2
    assert_same_results(one_job, two)


@pytest.mark.slow
def test_dflmoe_train_with_two_jobs_gives_the_same_scores_and_claims(tmp_path, monkeypatch):
    one = paper_run(tmp_path / "one", monkeypatch, paper="dflmoe", REPRO_JOBS="1")
    two = paper_run(tmp_path / "two", monkeypatch, paper="dflmoe", REPRO_JOBS="2")
    assert (one["jobs"]["backend"], two["jobs"]["backend"]) == ("in-process", "loky")
    assert len(two["jobs"]["jobs"]) == len(one["jobs"]["jobs"]) > 2
    assert_same_results(one, two)


@pytest.mark.slow
def test_mods_train_on_a_dask_cluster_gives_the_same_scores(one_job, tmp_path, monkeypatch):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        on_dask = paper_run(tmp_path, monkeypatch, REPRO_DASK_SCHEDULER=cluster.scheduler_address)
    assert on_dask["jobs"]["backend"] == "dask" and on_dask["jobs"]["scheduler"].startswith("tcp://127.0.0.1:")
    assert len({j["worker"] for j in on_dask["jobs"]["jobs"]}) == 2
    assert_same_results(one_job, on_dask)


def test_dask_workers_that_run_tasks_side_by_side_are_refused(machine, monkeypatch):
    distributed = pytest.importorskip("distributed")
    machine(2)
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        monkeypatch.setenv(jobs.SCHEDULER_ENV, cluster.scheduler_address)
        with pytest.raises(ValueError, match="--nthreads 1"):
            jobs.run([Job("x", draw, (1,), seed=0)], threads=1)


# ----------------------------------------------------------------------------------------------
# the runner and the bench (jobs replaced by an in-process stand-in: only the plan is under test)


def test_the_runner_puts_papers_of_one_thread_count_side_by_side(machine, monkeypatch, capsys):
    machine(2)
    batches, seen = [], {}

    def fake_jobs_run(todo, *, threads, local=False, **_):
        batches.append(([j.name for j in todo], threads, local))
        return [jobs.Done(j.name, j.fn(*j.args), 1.0, "here") for j in todo]

    def fake_run_paper(paper, profile, overrides, resume, log=print, **_):
        seen[paper] = jobs.cores()
        log(f"  {paper}/01_data.ipynb ...")
        return [runner.NotebookRun(paper, "01_data.ipynb", "ok", 0.1, None, None)]

    threads = {"invert4tvg": 1, "mmard": 2, "mods": 1, "gfprune": 2}
    package = lambda paper: SimpleNamespace(config=lambda profile, **o: SimpleNamespace(threads=threads[paper]))
    monkeypatch.setattr(runner.papers, "package", package)
    monkeypatch.setattr(
        runner, "readme_seconds", lambda profile: {"gfprune": 4, "mmard": 3, "mods": 2, "invert4tvg": 1}
    )
    monkeypatch.setattr(runner.jobs, "run", fake_jobs_run)
    monkeypatch.setattr(runner, "run_paper", fake_run_paper)
    selected = ["invert4tvg", "mmard", "mods", "gfprune"]
    results = runner.run("cpu", selected, {}, resume=False)
    assert [r.paper for r in results] == ["gfprune", "mmard", "mods", "invert4tvg"]  # widest first, longest first
    assert batches == [(["mods", "invert4tvg"], 1, True)]  # the 2-thread papers ran alone, here
    assert seen == {"gfprune": 2, "mmard": 2, "mods": 1, "invert4tvg": 1}  # each paper's kernels get its share
    out = capsys.readouterr().out
    assert "[mods]   mods/01_data.ipynb ..." in out and "\n  gfprune/01_data.ipynb ..." in out

    batches.clear()
    runner.run("cpu", selected, {}, resume=False, at_once=1)  # --jobs 1: one paper after the other
    assert batches == []


def test_bench_parallel_reports_both_runs_and_their_verdicts(tmp_path, monkeypatch):
    from repro import bench

    def fake_run(cmd, env, **_):
        run = Path(env["REPRO_RUNS_DIR"]) / "smoke" / "mods"
        (run / "notebooks").mkdir(parents=True)
        (run / "evaluate").mkdir()
        (run / "notebooks" / "summary.json").write_text(json.dumps([{"wall_s": 2.5, "status": "ok"}]))
        claims = {"claims": [{"id": "C1", "result": {"verdict": "x"}}]}
        (run / "evaluate" / "claims.json").write_text(json.dumps(claims))
        return subprocess.CompletedProcess(cmd, 0, "ran " + " ".join(cmd[3:]), None)

    monkeypatch.setattr(bench.subprocess, "run", fake_run)
    doc = bench.bench_parallel("smoke", tmp_path)
    assert set(doc["runs"]) == {"jobs 1", "default"} and doc["same_verdicts"]
    assert doc["runs"]["jobs 1"]["papers"]["mods"] == {"wall_s": 2.5, "failed": 0}
    assert "--jobs 1" in (tmp_path / "parallel-jobs1.log").read_text()
    assert len(doc["runs"]["default"]["load_before"]) == 3
    table = "\n".join(bench.parallel_markdown(doc))
    assert "| mods | 2 | 2 | 0 / 0 |" in table and "Same verdicts in both runs: yes" in table


def test_bench_parallel_runs_only_the_papers_asked_for(tmp_path, monkeypatch):
    from repro import bench

    commands = []

    def fake_run(cmd, env, **_):
        commands.append(cmd)
        return subprocess.CompletedProcess(cmd, 0, "", None)

    monkeypatch.setattr(bench.subprocess, "run", fake_run)
    doc = bench.bench_parallel("cpu", tmp_path, ("mods", "dflmoe"))
    assert all(cmd[6:10] == ["--paper", "mods", "--paper", "dflmoe"] for cmd in commands) and len(commands) == 2
    assert set(doc["runs"]["default"]["papers"]) == {"mods", "dflmoe"}
    assert "`cpu`, mods, dflmoe" in "\n".join(bench.parallel_markdown(doc))
    with pytest.raises(SystemExit):
        bench.main(["--kernels", "", "--parallel", "cpu", "--paper", "nope"])


def test_bench_names_the_claims_whose_verdict_differs():
    from repro import bench

    one = {"videopure": {"C3d": "reproduced", "K1": "reproduced"}, "mods": {"C1": "inconclusive"}}
    other = {"videopure": {"C3d": "inconclusive", "K1": "reproduced"}, "mods": {}}
    assert bench.verdict_changes(one, other) == [
        "mods C1: inconclusive -> -",
        "videopure C3d: reproduced -> inconclusive",
    ]
    assert bench.verdict_changes(one, one) == []
