"""VideoPure's claims, fixed before the first ``cpu`` run (margins are not tuned to results).

Arms are ``<rung>@<condition>`` (:class:`repro.core.arms.Arm`): rungs ``none``, ``diffpure``,
``ddim_inversion``, ``temporal_inversion``, ``guided``, ``videopure`` (and ``diffpure_full``, DiffPure
on every timestep, timed on clean clips); conditions ``clean``, ``pgd4`` / ``pgd16`` (gray-box),
``bpda16`` (adaptive, BPDA + EOT), ``transfer16`` (black-box). Metrics: ``accuracy`` (points per clip),
``warping_error`` (x1000, lower is better), ``time_ms`` (per clip, lower is better).

Margins: ``better`` claims use 0 (the paper's claims are orderings; any gain whose interval excludes
zero counts, and the table prints the smallest effect this run could detect); ``equivalent`` claims
use 10 accuracy points (two of the 20 clips of a seed's evaluation block: a purifier that costs less
than that on clean clips is, for the paper's argument, as accurate as no defence).

The paper's own tables (UCF-101, HMDB-51, Kinetics with I3D/TSM recognisers) are not transcribed into
the kit, so ``paper_delta`` is left empty: the miniature checks the direction of each claim.
"""

from repro.core.arms import Arm
from repro.core.claims import Claim

ORDERING = "The paper's claim is an ordering: any gain whose interval excludes 0 counts."


def arm(rung: str, condition: str) -> str:
    return Arm(rung, condition).name


CLAIMS = (
    Claim(
        id="C1a",
        type="better",
        metric="accuracy",
        a=arm("videopure", "pgd4"),
        b=(arm("diffpure", "pgd4"),),
        text="Under the gray-box attack at the paper's eps 4/255, VideoPure's robust accuracy beats per-frame "
        "DiffPure's.",
        note=ORDERING,
    ),
    Claim(
        id="C1b",
        type="better",
        metric="accuracy",
        a=arm("videopure", "pgd16"),
        b=(arm("diffpure", "pgd16"),),
        text="Under the gray-box attack at eps 16/255, VideoPure's robust accuracy beats per-frame DiffPure's.",
        note=ORDERING,
    ),
    Claim(
        id="C1c",
        type="better",
        metric="accuracy",
        a=arm("videopure", "bpda16"),
        b=(arm("diffpure", "bpda16"),),
        text="Under the adaptive attack (BPDA through each purifier, averaged over candidates and EOT draws), "
        "VideoPure's robust accuracy beats per-frame DiffPure's.",
        note=ORDERING,
    ),
    Claim(
        id="C1d",
        type="equivalent",
        metric="accuracy",
        a=arm("videopure", "clean"),
        b=(arm("diffpure", "clean"),),
        margin=10.0,
        text="...at matched standard accuracy: on clean clips VideoPure and DiffPure are equally accurate.",
        note="The comparison C1a-c is fair only if neither purifier buys robustness with clean accuracy.",
    ),
    Claim(
        id="C2a",
        type="better",
        metric="accuracy",
        a=arm("diffpure", "pgd16"),
        b=(arm("none", "pgd16"),),
        text="Ladder: per-frame DiffPure adds robustness over no defence (gray-box, eps 16/255).",
        note=ORDERING,
    ),
    Claim(
        id="C2b",
        type="better",
        metric="accuracy",
        a=arm("temporal_inversion", "pgd16"),
        b=(arm("ddim_inversion", "pgd16"),),
        text="Ladder: temporal inversion (frame 0's noise shared) adds robustness over per-frame DDIM inversion.",
        note=ORDERING,
    ),
    Claim(
        id="C2c",
        type="better",
        metric="accuracy",
        a=arm("guided", "pgd16"),
        b=(arm("temporal_inversion", "pgd16"),),
        text="Ladder: the guided spatial-temporal step adds robustness over temporal inversion alone.",
        note=ORDERING,
    ),
    Claim(
        id="C2d",
        type="better",
        metric="accuracy",
        a=arm("videopure", "pgd16"),
        b=(arm("guided", "pgd16"),),
        text="Ladder: multi-step voting adds robustness over the guided step's last prediction.",
        note=ORDERING,
    ),
    Claim(
        id="C3a",
        type="better",
        metric="warping_error",
        a=arm("temporal_inversion", "clean"),
        b=(arm("diffpure", "clean"),),
        higher_is_better=False,
        text="Temporal inversion keeps the frames of a purified clip more consistent (lower warping error under "
        "the true flow) than per-frame DiffPure, on clean clips.",
        note=ORDERING,
    ),
    Claim(
        id="C3b",
        type="better",
        metric="warping_error",
        a=arm("temporal_inversion", "pgd16"),
        b=(arm("diffpure", "pgd16"),),
        higher_is_better=False,
        text="...and on adversarial clips (gray-box, eps 16/255).",
        note=ORDERING,
    ),
    Claim(
        id="C3c",
        type="better",
        metric="time_ms",
        a=arm("videopure", "clean"),
        b=(arm("diffpure_full", "clean"),),
        higher_is_better=False,
        text="VideoPure purifies faster than DiffPure run on every timestep from the same depth (fewer denoising "
        "steps, despite the guided step's backward pass).",
        note=ORDERING + " Wall time on a shared machine: the ledger also counts UNet frame passes.",
    ),
    Claim(
        id="K1",
        type="equivalent",
        metric="accuracy",
        a=arm("videopure", "clean"),
        b=(arm("none", "clean"),),
        margin=10.0,
        control=True,
        text="Control: with no attack there is nothing to purify, so VideoPure's standard accuracy should equal "
        "the recogniser's clean accuracy within the margin.",
        note="Not fixed by algebra: the purifier regenerates every frame with a DDPM trained in place, so it can "
        "blur glyphs or break the motion (the class needs both); a weak DDPM fails this control.",
    ),
    Claim(
        id="K2",
        type="equivalent",
        metric="accuracy",
        a=arm("diffpure", "clean"),
        b=(arm("none", "clean"),),
        margin=10.0,
        control=True,
        text="Control: the same for per-frame DiffPure.",
        note="Not fixed by algebra: DiffPure re-noises each frame independently, which can break the motion cue.",
    ),
)

CANNOT_SHOW = (
    "Latent text-to-video diffusion (ModelScope T2V, 1.7B parameters): a 1-channel per-frame pixel DDPM of "
    "about 0.1M parameters stands in, so 'temporal' lives only in the inversion and the guidance, not in the model.",
    "UCF-101 / HMDB-51 / Kinetics numbers and I3D / TSM / NL-ResNet recognisers (the frame-folder loader and the "
    "manifest are the way to real clips).",
    "RAFT optical flow: the miniature's motion is a global translation, estimated by exhaustive search.",
    "Robustness under a full-gradient adaptive attack through the purifier (too costly at cpu; BPDA+EOT is weaker).",
)
