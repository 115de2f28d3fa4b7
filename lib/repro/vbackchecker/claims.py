"""VBackChecker's claims and gates, fixed before the ``cpu`` run (margins and thresholds are not tuned to
results).

Arms: ``checker`` (the method), ``grounder`` (positives only), ``gsva`` (referring and no-target
expressions: the paper's GSVA comparator), ``similarity`` (global image-text judge), ``text_only`` (the
checker with a blank image), ``text_prior`` (a bag-of-words judge that sees no image: the K1 controls),
and ``chance`` (what a coin-flip judge scores per item: 50 balanced accuracy, 0 for Pos.Acc - Neg.Acc).
Trivial references (:data:`repro.vbackchecker.evaluate.TRIVIAL`): ``always_accept``, ``always_reject``
and ``mask_all`` (accepts with a mask over every object), scored on the same items; a claim one of them
would pass is "not testable". Metrics are in points; see :mod:`repro.vbackchecker.evaluate`.

Paper numbers: R^2-HalBench Acc / Neg.Acc / Pos.Acc 62.5 / 64.1 / 60.9 for VBackChecker and 49.9 / 0.5 /
99.3 for GSVA-7B (Acc = (Neg.Acc + Pos.Acc) / 2); gRefCOCO val gIoU / N-acc 80.2 / 81.3 for
VBackChecker and 66.5 / 62.4 for GSVA.

Restated for issue 26 (same ids): C1a was Neg.Acc +20 over the grounder (always-reject passed it) and is
now the paper's Acc; C1b was Pos.Acc within 15 of the grounder (always-accept passed it) and is now
Pos.Acc within 15 of Neg.Acc; C2 is decided on the swap operators seen in training, with C2-heldout on
the held-out ones; C3 compares with ``gsva`` (was ``grounder``) and C3b is ``(N-acc + T-acc) / 2`` (was
N-acc, which always-reject scores 100); K1 reads a text prior that cannot answer one way by collapse
(was the blank-image checker, which any constant answer passed at exactly 50), and the controls are
named K1a (attribute) and K1r (relation), was K1-attribute and K1-relation (a test names its sabotage
``test_<id>_sabotage``).
"""

from repro.core.claims import Claim, Gate

PAPER_BENCH = {"checker_acc": 62.5, "checker_neg": 64.1, "checker_pos": 60.9, "gsva_acc": 49.9, "gsva_neg": 0.5,
               "gsva_pos": 99.3}  # fmt: skip
PAPER_REFER = {"checker_giou": 80.2, "checker_n_acc": 81.3, "gsva_giou": 66.5, "gsva_n_acc": 62.4}
LEVEL_NOTE = (
    "2 points of balanced accuracy is the smallest gap we would call 'beats' on a benchmark of this size; "
    "the paper reports per-type results but no single per-type delta over these judges."
)
DETECTION_TRIVIAL = ("always_accept", "always_reject")
GROUNDING_TRIVIAL = ("always_accept", "always_reject", "mask_all")

CLAIMS = (
    Claim(
        id="C1a",
        type="better",
        metric="acc",
        a="checker",
        b=("grounder",),
        margin=10.0,
        text="Hard-negative instruction tuning turns a grounder into a detector: the paper's Acc, "
        "(Neg.Acc + Pos.Acc) / 2, rises by at least 10 points over the grounder.",
        paper_delta=round(PAPER_BENCH["checker_acc"] - PAPER_BENCH["gsva_acc"], 1),
        paper_numbers=PAPER_BENCH,
        trivial=DETECTION_TRIVIAL,
        note="The paper's Acc rises 12.6 points (49.9 -> 62.5); a grounder that accepts everything, and any "
        "constant judge, scores 50. 10 points is the smallest rise we would call 'a detector'.",
    ),
    Claim(
        id="C1b",
        type="equivalent",
        metric="pos_minus_neg",
        a="checker",
        b=("chance",),
        margin=15.0,
        text="... while Pos.Acc stays high: the checker does not buy Neg.Acc by rejecting everything "
        "(Pos.Acc within 15 points of Neg.Acc).",
        paper_delta=round(PAPER_BENCH["checker_pos"] - PAPER_BENCH["checker_neg"], 1),
        paper_numbers=PAPER_BENCH,
        trivial=DETECTION_TRIVIAL,
        note="The paper's checker has Pos.Acc 60.9 and Neg.Acc 64.1 (3.2 apart; GSVA 98.8 apart). The "
        "earlier form, Pos.Acc within 15 of the grounder's, was passed by always-accept; a judge that "
        "answers one way is 100 apart here. 15 points is the most we would still call 'both stay high'.",
    ),
    Claim(
        id="C1c",
        type="best_of",
        metric="acc",
        a="checker",
        b=("grounder", "gsva", "similarity", "text_only"),
        margin=1.0,
        text="The checker has the best Acc, (Neg.Acc + Pos.Acc) / 2, on the mini R^2-HalBench.",
        paper_delta=round(PAPER_BENCH["checker_acc"] - PAPER_BENCH["gsva_acc"], 1),
        paper_numbers=PAPER_BENCH,
        trivial=DETECTION_TRIVIAL,
        note="1 point of accuracy over the best other judge is the smallest lead we would call 'best'.",
    ),
    *(
        Claim(
            id=f"C2-{level}",
            type="best_of",
            metric=metric,
            a="checker",
            b=("similarity", "text_only"),
            margin=2.0,
            text=f"The checker beats the similarity and text-only judges on {what} (balanced accuracy "
            "against clean captions).",
            trivial=DETECTION_TRIVIAL,
            note=LEVEL_NOTE,
        )
        for level, metric, what in (
            ("object", "bacc_object_seen", "object hallucinations"),
            (
                "attribute",
                "bacc_attribute_seen",
                "attribute hallucinations made by the operator seen in training (colour)",
            ),
            (
                "relation",
                "bacc_relation_seen",
                "relation hallucinations made by the operator seen in training (left/right)",
            ),
            ("heldout", "bacc_heldout", "hallucinations made by operators held out of training (size, above/below)"),
        )
    ),
    Claim(
        id="C3a",
        type="better",
        metric="giou",
        a="checker",
        b=("gsva",),
        margin=10.0,
        text="On referring data with no-target expressions the checker improves gIoU over GSVA (a grounder "
        "trained on no-target expressions) by at least 10 points.",
        paper_delta=round(PAPER_REFER["checker_giou"] - PAPER_REFER["gsva_giou"], 1),
        paper_numbers=PAPER_REFER,
        trivial=GROUNDING_TRIVIAL,
        note="The paper's own threshold (its '>10%' claim on gRefCOCO). Half the split has no target, so "
        "always-reject scores 50 gIoU: the claim is not testable unless GSVA is above 40.",
    ),
    Claim(
        id="C3b",
        type="better",
        metric="refer_acc",
        a="checker",
        b=("gsva",),
        margin=10.0,
        text="... and rejects no-target expressions without losing the grounded ones: (N-acc + T-acc) / 2 "
        "rises by at least 10 points.",
        paper_delta=round(PAPER_REFER["checker_n_acc"] - PAPER_REFER["gsva_n_acc"], 1),
        paper_numbers=PAPER_REFER,
        trivial=GROUNDING_TRIVIAL,
        note="The paper's threshold on its N-acc claim (+18.9); N-acc alone is 100 for always-reject, so it "
        "is paired with T-acc as the paper pairs Neg.Acc with Pos.Acc.",
    ),
    *(
        Claim(
            id=f"K1{level[0]}",
            type="equivalent",
            metric=f"bacc_{level}",
            a="text_prior",
            b=("chance",),
            margin=5.0,
            control=True,
            expected="reproduced",
            text=f"Control: a judge that sees no image stays at chance on {level} hallucinations (the label "
            "is in the pixels, not in the words).",
            note="Not fixed by construction: the text prior is a logistic regression on the words' uni- and "
            "bigrams, fitted on the checker's training rows; it cannot collapse to one answer, and it "
            "reads a label the generator leaks into the words (the gate text_prior_reads_a_leak shows "
            "it does; tests/vbackchecker/test_controls.py leaks the label and sees K1 fail). 5 points "
            "of balanced accuracy is the smallest leak we would call 'reading the answer off the text'.",
        )
        for level in ("attribute", "relation")
    ),
)

GATES = (
    Gate(
        name="grounder_target_iou",
        text="The grounder finds the object a description names: mean IoU with the named object on the "
        "validation positives (grounder arm, every seed).",
        covers=("C1a", "C1b", "C1c", "C3a", "C3b"),
        threshold=60.0,
        note="Issue 27's aim. A mask over every object scores about 35 on these scenes (34.1 on the last "
        "golden's referring split), and one object of three picked at random with a perfect mask about "
        "33: 60 means the named object is found most of the time.",
    ),
    Gate(
        name="checker_object_bacc",
        text="The checker detects: balanced accuracy of its verdicts on the validation positives and "
        "object-swap negatives (every seed).",
        covers=("C1a", "C1b", "C1c", "C2-object", "C2-attribute", "C2-relation", "C2-heldout", "C3a", "C3b"),
        threshold=60.0,
        note="Any constant judge scores 50; the last golden's checkers scored 48.5-51 on every level. 60 "
        "is well clear of seed noise at a few hundred validation rows, and below the paper's 62.5.",
    ),
    Gate(
        name="text_prior_reads_a_leak",
        text="The text prior reads a label written into the words: fitted on the training rows with a "
        "word planted in half the hallucinated ones, its balanced accuracy on validation rows planted "
        "alike (every seed).",
        covers=("K1a", "K1r"),
        threshold=65.0,
        note="Reading the planted word alone gives 75 (half the hallucinations rejected, every clean "
        "caption accepted); below 65 the prior would miss a leak that large, and K1 could not fail.",
    ),
)

CANNOT_SHOW = (
    "LLaVA/SAM-scale grounding: every network here is trained from scratch on 64x64 procedural scenes.",
    "Real MLLM descriptions: the describers are simulated by a grammar with exact swap operators.",
    "Parity with GPT-4o (the paper's strongest judge) or any other proprietary judge.",
    "The paper's absolute numbers (R^2-HalBench 62.5 Acc, gRefCOCO 80.2 gIoU): only the direction and "
    "size of the differences between arms carry over.",
)
