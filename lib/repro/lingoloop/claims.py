"""LingoLoop's claims, fixed before the first ``cpu`` run (margins are not tuned to results).

Arms: ``clean``, the attacks of :data:`repro.lingoloop.method.METHODS`, the lambda_rep sweep
``lingoloop@lam<value>``, and ``majority`` (a constant 50 per image: "most outputs hit the cap"
means the share at the cap beats 50%). Tokens are counted with the EOS; the cap is 128 new tokens.
Paper numbers (Qwen2.5-VL-3B, COCO, eps 8/255, max 1024 tokens): clean 66.6 tokens / 430 J / 2.24 s;
Verbose Images 394.7 / 2682 / 13.1; LingoLoop 1020.4 / 7091 / 32.9; ablation tokens: uniform EOS
843.9, POS-weighted 926.9, full 1024. Energy is not a claim of its own here (on CPU it is a FLOP
estimate proportional to tokens; docs/papers/lingoloop.md). Margins: the paper claims orderings, not
sizes, so every ``better`` claim's margin is 0 (an interval wholly beyond zero is the smallest effect
that confirms the ordering) unless its note says otherwise.
"""

from repro.core.claims import Claim, Gate

CLEAN = "clean"  # trivial reference for every attack claim: no attack at all
READY_ENDING = 0.9  # a victim is ready when this share of its validation captions end on the right POS

PAPER = {"clean": 66.6, "verbose_images": 394.7, "lingoloop": 1020.4}
PAPER_LATENCY_S = {"clean": 2.24, "verbose_images": 13.1, "lingoloop": 32.9}
PAPER_ABLATION = {"uniform_eos": 843.9, "lps_only": 926.9, "lingoloop": 1024.0}

CLAIMS = (
    Claim(
        id="C1a",
        note=(
            "Margin 0: the paper's effect is many times the length (hundreds of tokens); any reliable gain "
            "in this miniature counts."
        ),
        trivial=(CLEAN,),
        type="better",
        metric="tokens",
        a="lingoloop",
        b=("verbose_images",),
        text="LingoLoop yields more generated tokens than Verbose Images at the same eps and steps.",
        paper_delta=round(PAPER["lingoloop"] - PAPER["verbose_images"], 1),
        paper_numbers=PAPER,
    ),
    Claim(
        id="C1b",
        note=("Margin 0: latency follows tokens; any reliable increase at batch 1 counts."),
        trivial=(CLEAN,),
        type="better",
        metric="latency_ms",
        a="lingoloop",
        b=("verbose_images",),
        text="... and a longer generation latency (ms per image, batch 1, every image, the arms interleaved, "
        "median of repeated passes).",
        paper_delta=round(1000 * (PAPER_LATENCY_S["lingoloop"] - PAPER_LATENCY_S["verbose_images"]), 1),
        paper_numbers={k: 1000 * v for k, v in PAPER_LATENCY_S.items()},
    ),
    Claim(
        id="C1c",
        trivial=(CLEAN,),
        type="better",
        metric="at_cap",
        a="lingoloop",
        b=("majority",),
        text="... with most outputs hitting the cap (share at the cap, in points, above 50).",
        paper_delta=round(100 * PAPER["lingoloop"] / 1024 - 50, 1),
        note="paper: mean 1020.4 of 1024 tokens, so nearly every output reaches the cap; margin 0 against the "
        "constant 50 (majority)",
    ),
    Claim(
        id="C1d",
        note=("Margin 0: below saturation any reliable length gain counts."),
        trivial=(CLEAN,),
        type="better",
        metric="tokens_at_probe",
        a="lingoloop",
        b=("verbose_images",),
        text="Below saturation: after probe_step attack steps LingoLoop's outputs are already longer "
        "than Verbose Images' (the guard against a victim that saturates under every attack).",
    ),
    Claim(
        id="C2a",
        note=("Margin 0: the ablation claims any gain of POS weighting over uniform EOS suppression."),
        trivial=(CLEAN,),
        type="better",
        metric="tokens",
        a="lps_only",
        b=("uniform_eos",),
        text="POS-weighted EOS suppression yields more tokens than uniform EOS suppression.",
        paper_delta=round(PAPER_ABLATION["lps_only"] - PAPER_ABLATION["uniform_eos"], 1),
        paper_numbers=PAPER_ABLATION,
    ),
    Claim(
        id="C2b",
        note=("Margin 0: as C2a, below saturation."),
        trivial=(CLEAN,),
        type="better",
        metric="tokens_at_probe",
        a="lps_only",
        b=("uniform_eos",),
        text="... also below saturation (tokens after probe_step steps).",
    ),
    Claim(
        id="C3a",
        note=("Margin 0: any reliable rise in repetition (100 x (1 - distinct-2)) from path pruning counts."),
        trivial=(CLEAN,),
        type="better",
        metric="repetition",
        a="lingoloop",
        b=("lps_only",),
        text="Generative path pruning (LPS + Rep) makes outputs more repetitive than LPS alone "
        "(100 x (1 - distinct-2)).",
    ),
    Claim(
        id="C3b",
        note=("Margin 0: the ablation claims any added length from path pruning."),
        trivial=(CLEAN,),
        type="better",
        metric="tokens",
        a="lingoloop",
        b=("lps_only",),
        text="Path pruning adds length on top of POS-weighted EOS suppression.",
        paper_delta=round(PAPER_ABLATION["lingoloop"] - PAPER_ABLATION["lps_only"], 1),
        paper_numbers=PAPER_ABLATION,
    ),
    Claim(
        id="C3c",
        note=("Margin 0: any reliable drop in hidden-state norm shows the term acts."),
        type="better",
        metric="hidden_norm",
        a="lingoloop",
        b=("lps_only",),
        higher_is_better=False,
        text="Path pruning does what it says: smaller hidden-state norms than LPS alone "
        "(percent of the clean image's norm).",
    ),
    Claim(
        id="C3d",
        type="better",
        metric="loop_period_both",
        a="lingoloop@lam100",
        b=("lingoloop",),
        higher_is_better=False,
        text="Too large a lambda makes short loops: at lambda_rep = 100 the repeating period is shorter "
        "than at lambda_rep = 1 (per seed, on the images where both outputs loop).",
        note="A period is defined only for an output that loops (evaluate.loop_period); the claim is not "
        "measured when some victim has no image on which both arms loop.",
    ),
    Claim(
        id="C3e",
        note=("Margin 0: any reliable rise in the share of looping outputs counts."),
        trivial=(CLEAN,),
        type="better",
        metric="loops",
        a="lingoloop",
        b=("lps_only",),
        text="Path pruning drives outputs into loops: more of LingoLoop's outputs end in a loop than LPS "
        "alone's (share of outputs, in points).",
    ),
    Claim(
        id="S1",
        note=(
            "Margin 0: a kit check, not a paper claim; any reliable effect of the Rep term on hidden norms "
            "shows the scaling makes it act."
        ),
        type="better",
        metric="hidden_norm",
        a="lingoloop",
        b=("lingoloop_reimpl",),
        higher_is_better=False,
        text="Kit's check of the lambda_t scaling (not a paper claim): with lambda_t computed from the "
        "same 1e5-scaled L_LPS the Rep term acts (smaller hidden norms) where the re-implementation's "
        "unscaled lambda_t leaves it nearly inert.",
    ),
    Claim(
        id="S2",
        note=(
            "Margin 0: a kit check, not a paper claim (issue 31). Verbose Images' base term flattens the "
            "next-token distribution; it lengthens captions only where the grammar leaves a choice that a "
            "flatter distribution tips towards more words. The arm keeps its final iterate (the best of 16 "
            "would lengthen by selection alone). It can fail: in a grammar of fixed templates the term may "
            "only garble words, and then C1a compares LingoLoop with Verbose Images' EOS term alone."
        ),
        type="better",
        metric="tokens",
        a="vi_uncertainty",
        b=(CLEAN,),
        text="Kit's check (not a paper claim): Verbose Images' uncertainty term alone lengthens captions "
        "above clean (its route to length in this grammar).",
    ),
    Claim(
        id="K1",
        note=(
            "Control: the victim reads where its caption ends from the top strip's two rows (a 6-colour "
            "code, the colours 1.0 apart); random sign noise of the attacks' eps on every other row carries "
            "no objective and leaves that code intact, so lengths should stay within 3 tokens of clean "
            "(less than one clause, ~5-6 tokens). It can fail: a victim whose EOS decision also hangs on the "
            "texture or the shapes "
            "(which the noise does reach) would lengthen or shorten; noise on the strip rows (the sabotage "
            "test) moves lengths past the band. (The first K1, noise on every row, erased the earlier grey strip: "
            "eps was larger than half its shade spacing, so shorter captions were expected, not equal ones.)"
        ),
        type="equivalent",
        metric="tokens",
        a="outside_noise",
        b=("clean",),
        margin=3.0,
        control=True,
        expected="reproduced",
        text="Control: random sign noise of the same eps outside the strip rows (which code the length) has "
        "no objective to steer the length, so caption lengths stay within 3 tokens of clean.",
    ),
)

GATES = (
    Gate(
        "victims_ready",
        f"victims whose validation captions end on the right part of speech at least {READY_ENDING:.0%} of the "
        "time (each victim's rate is in run.victims; the others are excluded from every pooled score)",
        covers=("C1a", "C1b", "C1c", "C1d", "C2a", "C2b", "C3a", "C3b", "C3c", "C3d", "C3e", "S1", "S2", "K1"),
        threshold=2,
        note="Every claim is about moving a victim's EOS decision, which only a victim that reads the strip "
        "makes on purpose (cpu golden before the gate: victim 2's right ending was 0.42, and it was pooled). A "
        "victim below 0.9 is excluded, not pooled; two ready victims are the fewest that give the seed part of "
        "the interval a degree of freedom.",
    ),
)

CANNOT_SHOW = (
    "GPU energy in joules: these CPUs expose no RAPL counters, so energy is a FLOP-based estimate "
    "proportional to generated tokens (labelled as such), not a measurement.",
    "The 30x token figure on Qwen2.5-VL-3B: the miniature's victim writes clean captions of 11-73 tokens "
    "(mean ~28) with a 128-token cap (at most ~4.6x the mean).",
    "Transfer to real MLLMs (InstructBLIP, Qwen2.5-VL, InternVL): the victim is a 0.2M-parameter "
    "LLaVA-shaped model trained on procedural scenes with a 36-word grammar whose captions chain clauses "
    "with 'and' (no enumerations or relative clauses).",
    "The paper's attention re-weighting as written: no public formula; our attention option is a "
    "documented reconstruction and the claims use the loss form of the re-implementation.",
    "The paper's eps 8/255 at cpu: the cpu profile runs 150 steps (the paper: 300) at eps 32/255 for every "
    "attack on 32x32 images (at 8/255 no attack moved any caption in a pilot).",
)
