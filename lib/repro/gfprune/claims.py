"""gfprune's claims, fixed before the first ``cpu`` run (margins are not tuned to results).

Arms are method names at the MACs target, and ``<method>@<ratio>`` for the control's tiny pruning
ratio. Metrics (see :mod:`repro.gfprune.evaluate`): ``frechet`` (jackknife pseudo-values of the
Frechet distance in the digit classifier's features, lower is better), ``ssim`` (to the pretrained
model's sample from the same noise), ``ft_loss_auc`` (validation DDPM loss averaged over the
fine-tuning checkpoints), ``speedup`` (measured, and ``gfprune:macs`` = dense / pruned MACs).

The paper (abstract only) reports no numbers we could check; the peer numbers quoted are
Diff-Pruning's on CIFAR-10 DDPM (from memory, unverified; ``docs/papers/gfprune.md``): 35.7M -> 19.8M parameters,
6.1G -> 3.4G MACs, FID 4.19 -> 5.29, SSIM 0.932.
"""

from repro.core.claims import Claim

DIFF_PRUNING_CIFAR10 = {
    "dense params (M)": 35.7,
    "pruned params (M)": 19.8,
    "dense MACs (G)": 6.1,
    "pruned MACs (G)": 3.4,
    "dense FID": 4.19,
    "Diff-Pruning FID": 5.29,
    "Diff-Pruning SSIM": 0.932,
}
CONTROL = "@0.05"

CLAIMS = (
    Claim(
        id="C1a",
        type="best_of",
        metric="frechet",
        a="gfprune",
        b=("diffpruning", "magnitude"),
        higher_is_better=False,
        text="At equal MACs, gradient-flow iterative pruning gives a lower Frechet distance than one-shot "
        "Diff-Pruning and magnitude pruning (here in a digit classifier's features, not Inception's).",
        paper_numbers=DIFF_PRUNING_CIFAR10,
    ),
    Claim(
        id="C1b",
        type="best_of",
        metric="ssim",
        a="gfprune",
        b=("diffpruning", "magnitude"),
        text="At equal MACs, it gives a higher SSIM to the pretrained model's samples (same noise) than "
        "Diff-Pruning and magnitude pruning.",
        paper_numbers={"Diff-Pruning SSIM": 0.932},
    ),
    Claim(
        id="C1c",
        type="better",
        metric="frechet",
        a="gfprune",
        b=("iterative_taylor",),
        higher_is_better=False,
        text="Soft masks on the gradient flow with the gradient-norm criterion beat hard iterative Taylor "
        "pruning on the same schedule and optimizer steps (lower Frechet distance).",
    ),
    Claim(
        id="C2a",
        type="best_of",
        metric="ft_loss_auc",
        a="gfprune",
        b=("diffpruning", "magnitude"),
        higher_is_better=False,
        text="It converges faster during fine-tuning: lower validation loss over the same fine-tuning steps "
        "than Diff-Pruning and magnitude pruning (its soft phase is extra training: see the ledger and the "
        "loss-vs-gradient-evaluations figure).",
    ),
    Claim(
        id="C2b",
        type="better",
        metric="ft_loss_auc",
        a="gfprune",
        b=("iterative_taylor",),
        higher_is_better=False,
        text="It converges faster than hard iterative Taylor pruning, which trained for the same optimizer "
        "steps before fine-tuning (ours spends HVPs on top).",
    ),
    Claim(
        id="C3",
        type="tracks",
        metric="speedup",
        a="gfprune",
        b=("gfprune:macs",),
        band=(0.8, 1.25),
        text="The measured sampling speed-up follows the MACs reduction (ratio of the two within 0.8-1.25). "
        "Expected to fail at this size (a 0.56x MACs cut was measured at only 0.75x latency on CPU before).",
        paper_numbers={"Diff-Pruning MACs ratio": round(6.1 / 3.4, 3)},
    ),
    Claim(
        id="K1",
        type="equivalent",
        metric="ssim",
        a=f"gfprune{CONTROL}",
        b=(f"magnitude{CONTROL}",),
        margin=0.02,
        control=True,
        expected="reproduced",
        text="Control: at a tiny pruning ratio (5%) the criterion has almost nothing to choose, so ours and "
        "magnitude pruning should be equivalent in SSIM (within 0.02).",
    ),
)

CANNOT_SHOW = (
    "Inception FID on CIFAR-10, CelebA or LSUN: the miniature's Frechet distance is computed in a digit "
    "classifier's 64 features on 16x16 sklearn digits, and is not comparable with any FID.",
    "The paper's absolute MACs, parameter counts and GPU speed-ups: the UNet here has about 0.28M parameters "
    "and 16 MMACs per step, and latency is timed on shared CPU cores.",
    "The paper's exact criterion and schedule: no code or equations were available; the soft-mask energy, "
    "its step sizes and the GraSP-style gradient-norm score are a documented reconstruction.",
    "Long fine-tuning (Diff-Pruning fine-tunes for 100k steps): the miniature fine-tunes for 60 steps, so "
    "claims about the quality of the pruned models are claims about early fine-tuning.",
)
