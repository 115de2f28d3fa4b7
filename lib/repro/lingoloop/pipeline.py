"""LingoLoop's five steps; each notebook calls one. ``python -m repro step lingoloop <step> --profile cpu``
runs one outside Jupyter."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from repro.core.claims import claims_document
from repro.core.runtime import make_accelerator, seed_everything
from repro.core.steps import Pipeline, StepContext, read_json, write_json
from repro.core.train import Budget, fit
from repro.lingoloop import figures as draw
from repro.lingoloop.claims import CANNOT_SHOW, CLAIMS
from repro.lingoloop.config import LingoloopConfig
from repro.lingoloop.data import (
    POS_TAGS,
    SceneSet,
    Vocab,
    eos_table,
    load_scenes,
    make_scenes,
    pos_weights,
    save_scenes,
)
from repro.lingoloop.evaluate import output_metrics, probe_metrics, results_table, timed_generation
from repro.lingoloop.method import attack, spec_of, sweep_arm
from repro.lingoloop.models import (
    PROMPT,
    build_processor,
    build_victim,
    caption_loss,
    ending_match,
    exact_match,
    normalise,
    save_victim,
)
from repro.lingoloop.vlm import VLM, checked_model_folder, load_vlm

pipe = Pipeline("lingoloop")
VICTIM_FIELDS = ("victim", "victim_path", "victim_manifest", "epochs", "batch_size", "lr", "seeds", "device")


def attack_arms(cfg: LingoloopConfig) -> list[str]:
    """Every attacked arm: the methods, then the lambda_rep sweep (0 is lps_only, 1 is lingoloop)."""
    return [*cfg.methods, *(sweep_arm(v) for v in cfg.lambda_sweep)]


def victim_dir(ctx_dir, seed: int):
    return ctx_dir / "victims" / f"seed{seed}"


def open_victim(cfg: LingoloopConfig, model_dir, seed: int) -> VLM:
    """The victim of one seed (or the local HF model named by ``victim_path``), through the same
    path-based loader any HF VLM goes through."""
    from repro.core.data import data_root, load_manifest

    path = data_root() / cfg.victim_path if cfg.victim_path else victim_dir(model_dir, seed)
    if cfg.victim_manifest:
        path, unverified = checked_model_folder(load_manifest(cfg.victim_manifest))
        if unverified:
            print(f"[lingoloop] {cfg.victim_manifest}: {len(unverified)} files have no pinned sha256 (unverified)")
    device = make_accelerator(cfg).device
    vlm = load_vlm(path)
    vlm.model.to(device)
    return vlm


def eval_images(data_dir, device) -> torch.Tensor:
    return torch.from_numpy(load_scenes(data_dir / "eval.npz").images).to(device)


def token_weights_of(data_dir) -> torch.Tensor:
    table = read_json(data_dir / "pos_table.json")
    return torch.tensor(table["token_weight"], dtype=torch.float32)


@pipe.step(uses=("data_source", "n_train", "n_eval", "noise", "data_seed", "victim"))
def data(cfg: LingoloopConfig, ctx: StepContext) -> dict:
    """Scenes and captions (train and attacked sets), and the POS -> P(EOS) table of the captions."""
    if cfg.data_source != "scenes":
        raise NotImplementedError(
            "data_source='coco' (paper profile) needs COCO val2017 and a POS tagger: see "
            "repro.lingoloop.data.coco_eval_set and the integration notes"
        )
    size = cfg.victim.image_size
    train = make_scenes(cfg.n_train, cfg.data_seed, size, cfg.noise)
    evaluation = make_scenes(cfg.n_eval, cfg.data_seed + 10_000, size, cfg.noise)
    save_scenes(train, ctx.dir / "train.npz")
    save_scenes(evaluation, ctx.dir / "eval.npz")
    vocab = Vocab.build()
    pos_of_id = vocab.pos_of_ids()
    table = eos_table(train.tokens, pos_of_id)
    weights = pos_weights(table)
    write_json(
        ctx.dir / "pos_table.json",
        {
            "tags": list(POS_TAGS),
            "p_eos": table.round(4).tolist(),
            "weight": weights.round(4).tolist(),
            "token_weight": weights[pos_of_id].round(6).tolist(),
            "words": list(vocab.words),
        },
    )
    lengths = (train.tokens != 0).sum(1)
    return {
        "train": list(train.images.shape),
        "eval": list(evaluation.images.shape),
        "vocab": len(vocab.words),
        "caption_tokens": [int(lengths.min()), round(float(lengths.mean()), 2), int(lengths.max())],
        "p_eos": {t: round(float(p), 3) for t, p in zip(POS_TAGS, table) if p > 0},
    }


def train_victim(cfg: LingoloopConfig, scenes: SceneSet, seed: int, accelerator):
    """One victim: captioning cross-entropy, AdamW with warm-up and cosine decay, clipped gradients."""
    seed_everything(seed)
    vocab = Vocab.build()
    model = build_victim(cfg.victim, vocab)
    processor = build_processor(cfg.victim, vocab)
    prompt = processor(text=PROMPT, images=np.zeros((cfg.victim.image_size,) * 2 + (3,), np.uint8), return_tensors="pt")
    prompt_ids = prompt["input_ids"].to(accelerator.device)
    data = TensorDataset(torch.from_numpy(scenes.images), torch.from_numpy(scenes.tokens))
    loader = DataLoader(data, batch_size=cfg.batch_size, shuffle=True, generator=torch.Generator().manual_seed(seed))
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01)
    total = cfg.epochs * len(loader)
    warmup = min(50, total // 10 + 1)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda k: min(1.0, (k + 1) / warmup) * (0.55 + 0.45 * np.cos(np.pi * min(k, total) / total)),
    )
    model, optimizer, loader, schedule = accelerator.prepare(model, optimizer, loader, schedule)

    def loss_fn(m, batch):
        x, y = batch
        return caption_loss(m, normalise(x), prompt_ids, y)

    fitted = fit(
        model,
        loss_fn,
        loader,
        optimizer,
        epochs=cfg.epochs,
        accelerator=accelerator,
        scheduler=schedule,
        desc=f"victim s{seed}",
    )
    return accelerator.unwrap_model(model).eval(), processor, fitted


@pipe.step(uses=("n_eval", *VICTIM_FIELDS, "hp"), upstream=("data",))
def model(cfg: LingoloopConfig, ctx: StepContext) -> dict:
    """Train one victim per seed (saved with save_pretrained) and caption the clean attack set."""
    accelerator = make_accelerator(cfg)
    scenes = load_scenes(ctx.upstream["data"] / "train.npz")
    evaluation = load_scenes(ctx.upstream["data"] / "eval.npz")
    vocab = Vocab.build()
    summary: dict = {}
    for seed in cfg.seeds:
        if not cfg.victim_path:
            net, processor, fitted = train_victim(cfg, scenes, seed, accelerator)
            save_victim(net, processor, victim_dir(ctx.dir, seed))
        vlm = open_victim(cfg, ctx.dir, seed)
        images = torch.from_numpy(evaluation.images).to(vlm.device)
        tokens = vlm.generate(images, cfg.hp.max_new_tokens, cfg.hp.repetition_penalty)
        captions = [vocab.decode(row) for row in tokens.cpu()]
        summary[f"seed{seed}"] = {
            "params": vlm.parameters_count(),
            "losses": [round(v, 4) for v in fitted.losses] if not cfg.victim_path else [],
            "exact_match": exact_match(captions, evaluation.captions),
            "ending_match": ending_match(captions, evaluation.captions),
            "clean_tokens": round(float(vlm.lengths(tokens).float().mean()), 2),
            "examples": captions[:3],
        }
        ctx.log(
            f"victim seed {seed}: exact-match captions {summary[f'seed{seed}']['exact_match']:.2f}, "
            f"right ending POS {summary[f'seed{seed}']['ending_match']:.2f}, "
            f"mean clean length {summary[f'seed{seed}']['clean_tokens']}"
        )
    return summary


@pipe.step(uses=("hp", "methods", "lambda_sweep", "n_eval", *VICTIM_FIELDS), upstream=("data", "model"))
def train(cfg: LingoloopConfig, ctx: StepContext) -> dict:
    """Run every attack on the same images for every victim; keep the adversarial images, the
    lengths after every regeneration, the loss curves and the budget ledger."""
    token_weight = token_weights_of(ctx.upstream["data"])
    history: dict = {}
    budgets: dict[str, Budget] = {}
    for seed in cfg.seeds:
        vlm = open_victim(cfg, ctx.upstream["model"], seed)
        images = eval_images(ctx.upstream["data"], vlm.device)
        adversarial = {}
        for arm in attack_arms(cfg):
            seed_everything(seed)
            result = attack(vlm, images, spec_of(arm), cfg.hp, token_weight, seed=seed)
            adversarial[arm] = result.images.cpu().numpy()
            history.setdefault(arm, []).append(
                {
                    "checkpoints": result.checkpoints,
                    "lengths": result.lengths.tolist(),
                    "loss": [round(v, 6) for v in result.losses],
                    "parts": {k: [float(f"{x:.6g}") for x in v] for k, v in result.parts.items()},
                }
            )
            budgets[arm] = budgets.get(arm, Budget()).merge(result.budget)
            ctx.log(f"seed {seed} {arm}: tokens {result.lengths[-1].float().mean():.1f} ({result.budget.wall_s:.1f} s)")
        np.savez(ctx.dir / f"adversarial_seed{seed}.npz", **{arm_file(arm): v for arm, v in adversarial.items()})
    write_json(ctx.dir / "history.json", history)
    write_json(ctx.dir / "budget.json", {arm: b.to_dict() for arm, b in budgets.items()})
    return {"arms": len(history), "attacks": len(history) * len(cfg.seeds), "steps_per_attack": cfg.hp.steps}


def arm_file(arm: str) -> str:
    return arm.replace("@", "_at_")


def load_adversarial(train_dir, seed: int) -> dict[str, np.ndarray]:
    with np.load(train_dir / f"adversarial_seed{seed}.npz", allow_pickle=False) as z:
        return {k.replace("_at_", "@"): z[k] for k in z.files}


def arm_metrics(cfg: LingoloopConfig, vlm: VLM, arm: str, x: torch.Tensor, run: dict | None) -> dict:
    """Every per-image metric of one arm on one victim (``run``: the arm's attack history; None for clean)."""
    hp = cfg.hp
    m = output_metrics(vlm, x, hp.max_new_tokens, hp.repetition_penalty)
    if run is None:  # clean: no attack steps; never reaches the cap (censored like an attack that does not)
        m |= {"tokens_at_probe": m["tokens"], "steps_to_cap": np.full_like(m["tokens"], hp.steps + hp.regen_every)}
    else:
        lengths = np.array(run["lengths"])
        m |= probe_metrics(run["checkpoints"], lengths, cfg.probe_step, hp.max_new_tokens, hp.regen_every)
    if arm in cfg.latency_arms:
        m |= timed_generation(vlm, x[: cfg.latency_subset], hp.max_new_tokens, hp.repetition_penalty)
    return m


@pipe.step(
    uses=("hp", "probe_step", "latency_arms", "latency_subset", "methods", "lambda_sweep", *VICTIM_FIELDS),
    upstream=("data", "model", "train"),
)
def evaluate(cfg: LingoloopConfig, ctx: StepContext) -> dict:
    """Generate under every attack: tokens, cap share, repetition, loops, hidden norms, latency and
    energy; decide the claims by the kit's paired-bootstrap rule."""
    hp = cfg.hp
    history = read_json(ctx.upstream["train"] / "history.json")
    per_seed: dict[str, dict[str, list[np.ndarray]]] = {}
    outputs: dict[str, list] = {}
    energy_sources: set[str] = set()
    for i, seed in enumerate(cfg.seeds):
        vlm = open_victim(cfg, ctx.upstream["model"], seed)
        images = {"clean": eval_images(ctx.upstream["data"], vlm.device)}
        for arm, adv in load_adversarial(ctx.upstream["train"], seed).items():
            images[arm] = torch.from_numpy(adv).to(vlm.device)
        for arm, x in images.items():
            m = arm_metrics(cfg, vlm, arm, x, None if arm == "clean" else history[arm][i])
            if arm == "clean":
                clean_norm = m["hidden_raw"]
            m["hidden_norm"] = 100 * m.pop("hidden_raw") / clean_norm
            outputs.setdefault(arm, []).append(m.pop("outputs")[:4])
            energy_sources |= set(m.pop("energy_source", ()))
            for metric, values in m.items():
                per_seed.setdefault(metric, {}).setdefault(arm, []).append(np.asarray(values, dtype=float))
    scores = {metric: {arm: np.stack(v) for arm, v in arms.items()} for metric, arms in per_seed.items()}
    table = results_table(scores, hp.max_new_tokens)
    scores["at_cap"]["majority"] = np.full_like(scores["at_cap"]["clean"], 50.0)
    np.savez(ctx.dir / "scores.npz", **{f"{metric}|{arm}": v for metric, d in scores.items() for arm, v in d.items()})
    vocab = Vocab.build()
    texts = {arm: [[vocab.decode(row) for row in rows] for rows in runs] for arm, runs in outputs.items()}
    write_json(ctx.dir / "outputs.json", texts)
    budget = read_json(ctx.upstream["train"] / "budget.json")
    budget["clean"] = Budget(forward_samples={"teacher_forced": 0, "generate": 0}).to_dict()
    doc = claims_document(
        paper="lingoloop",
        run={
            "profile": cfg.profile,
            "run_name": cfg.run_name,
            "seeds": list(cfg.seeds),
            "steps": hp.steps,
            "eps": hp.eps,
            "max_new_tokens": hp.max_new_tokens,
            "probe_step": cfg.probe_step,
            "energy_source": sorted(energy_sources),
            "lps_mode_in_claims": "loss",
            "lambda_scaling_in_claims": "consistent",
        },
        claims=CLAIMS,
        scores=scores,
        table=table,
        budget=budget,
        cannot_show=CANNOT_SHOW,
    )
    write_json(ctx.dir / "claims.json", doc)
    return {c["id"]: c["result"]["verdict"] for c in doc["claims"]}


@pipe.step(uses=("hp", "probe_step", "seeds", "methods", "lambda_sweep"), upstream=("data", "train", "evaluate"))
def figures(cfg: LingoloopConfig, ctx: StepContext) -> dict:
    """Token-length histograms, tokens vs attack step, hidden norm vs repetition, loss curves, examples."""
    written = draw.all_figures(cfg, ctx.upstream, ctx.dir)
    return {"figures": sorted(p.name for p in written if p.suffix == ".png")}


class CaptionLogits(torch.nn.Module):
    """The victim as a module of the images alone (for the config-rot test): prompt logits."""

    def __init__(self, model, prompt_ids: torch.Tensor):
        super().__init__()
        self.model, self.prompt_ids = model, prompt_ids

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        ids = self.prompt_ids.expand(len(images), -1)
        return self.model(input_ids=ids, pixel_values=normalise(images)).logits


def check_models(cfg: LingoloopConfig) -> dict[str, tuple[torch.nn.Module, torch.Tensor]]:
    """Every network a profile builds, with a tiny batch (the victim spec of the profile; the paper
    profile attacks an external checkpoint, so this builds the miniature's victim as its stand-in)."""
    vocab = Vocab.build()
    processor = build_processor(cfg.victim, vocab)
    prompt = processor(text=PROMPT, images=np.zeros((cfg.victim.image_size,) * 2 + (3,), np.uint8), return_tensors="pt")
    victim = CaptionLogits(build_victim(cfg.victim, vocab), prompt["input_ids"])
    return {"victim": (victim, torch.rand(2, 3, cfg.victim.image_size, cfg.victim.image_size))}
