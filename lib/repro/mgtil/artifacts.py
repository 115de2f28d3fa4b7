"""File names and loaders of MGTIL's step outputs (what later steps, the figures and the notebooks
read back). Weights are safetensors, tables ``datasets`` folders, arrays ``.npz`` without pickle.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer

from repro.core import tables
from repro.core.steps import read_json
from repro.core.weights import load_config, load_weights
from repro.mgtil import retrieval as rag
from repro.mgtil import world
from repro.mgtil.config import ClipSpec
from repro.mgtil.continual import Stream, TaskData
from repro.mgtil.data import images, split_name
from repro.mgtil.models import build_clip, tokenize

WORLD = "world"  # data: DatasetDict folder
TASKS = "tasks.json"  # data: task names, classes, fine flags, orders
CLIP = "clip"  # model: clip.safetensors + clip.json
TOKENIZER = "tokenizer.json"  # model
CORPUS = "corpus.npz"  # model: the database embedded by the pretrained CLIP at two depths
ZERO_SHOT = "zero_shot.json"  # model
RETRIEVAL_EXAMPLE = "retrieval_example.json"  # model
MATRICES = "matrices.npz"  # train: "<arm>" -> (seeds, T, T, n_test) correctness
VAL_MATRICES = "val_matrices.npz"  # train: "<arm>" -> (seeds, T, T, n_val) correctness on validation
IN_DOMAIN = "in_domain.npz"  # train: "<arm>" -> (seeds, T, budget) is each reference pair from the task's domain
TUNING = "tuning.json"  # train: the pilot table (method -> weight, grid scores, chosen) and the weights used
HISTORY = "history.json"  # train: arm -> per seed, per task, per step losses
REFERENCES = "references.json"  # train: arm -> per seed, per task, what the reference set held
BUDGET = "budget.json"  # train: arm -> ledger over seeds
TUNING_JOBS = "tuning_jobs.json"  # train: how the pilot runs ran as jobs (each one's wall and CPU time)
JOBS = "jobs.json"  # train: how the (arm, seed) runs ran as jobs
SCORES = "scores.npz"  # evaluate
CLAIMS = "claims.json"  # evaluate
METRICS = "metrics.json"  # evaluate: arm -> mean accuracy matrix and MTIL metrics


def load_world(folder: Path):
    return tables.load(Path(folder) / WORLD)


def load_tokenizer(folder: Path) -> Tokenizer:
    return Tokenizer.from_str((Path(folder) / TOKENIZER).read_text())


def load_clip(folder: Path):
    """The pretrained CLIP (eval mode) from the model step."""
    meta = load_config(Path(folder) / CLIP)
    model = build_clip(ClipSpec(**meta["spec"]), meta["vocab_size"])
    return load_weights(model, Path(folder) / CLIP).eval()


def load_matrices(folder: Path, name: str = MATRICES) -> dict[str, np.ndarray]:
    with np.load(Path(folder) / name, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def load_stream(data_dir: Path, model_dir: Path, tasks: tuple[str, ...], shifted: bool, ivf_threshold: int) -> Stream:
    """Everything a continual run reads, for the shifted stream or the no-shift control."""
    ds = load_world(data_dir)
    tok = load_tokenizer(model_dir)

    def split(task: str, name: str) -> TaskData:
        table = ds[split_name(task, name, shifted)]
        return TaskData(torch.from_numpy(images(table)), torch.tensor(table["label"]))

    db = ds["database"]
    captions = list(db["caption"])
    with np.load(Path(model_dir) / CORPUS, allow_pickle=False) as emb:
        corpus = rag.Corpus(emb["img_final"], emb["img_mid"], emb["txt_final"], emb["txt_mid"], captions, ivf_threshold)
    return Stream(
        train={t: split(t, "train") for t in tasks},
        test={t: split(t, "test") for t in tasks},
        val={t: split(t, "val") for t in tasks},
        prompts={t: tokenize(tok, world.TASKS[t].prompts()) for t in tasks},
        db_images=torch.from_numpy(images(db)),
        db_tokens=tokenize(tok, captions),
        db_domains=np.asarray(db["domain"]),
        corpus=corpus,
        tokenizer=tok,
    )


def read_tasks(data_dir: Path) -> dict:
    return read_json(Path(data_dir) / TASKS)
