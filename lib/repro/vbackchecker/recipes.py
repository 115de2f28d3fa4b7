"""What each arm trains on and which switches of the method it turns off (torch-free, so the config can
validate arm names without importing models).

Every arm gets the same optimizer steps, batch size and learning rate (the ledger in ``claims.json``
shows it); they differ only in the rows they learn from and the pieces of the objective they use.

Every checker arm (all but ``similarity``) fine-tunes from its seed's pretrained grounder (one per seed):
:data:`PRETRAIN` rows, the checker's network and objective (the paper fine-tunes GSVA, a grounder trained on gRefCOCO's
referring and no-target expressions; here the no-target expressions come in the ``gsva`` arm's
fine-tuning, because in the pretraining they cost the grounding the gates need).

============  ==============================  =============================================================
arm           rows                            what it isolates
============  ==============================  =============================================================
checker       positives + hard negatives      the method: R-Instruct tuning, 1 CE + 2 BCE + 0.5 DICE, x10
grounder      positives                       a grounder that never saw a rejection (the paper's GSVA-like row)
gsva          positives + easy no-target      gRefCOCO-style no-target training without hard negatives
text_only     positives + hard negatives      the checker with a blank image: the language prior (control)
no_mask_loss  positives + hard negatives      the checker without the BCE + DICE mask terms
token_w1      positives + hard negatives      the checker with weight 1 instead of 10 on [SEG] / [REJ]
similarity    positives + hard negatives      a global image-text similarity judge (SigLIP-style), threshold
                                              tuned on the validation split
============  ==============================  =============================================================
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Recipe:
    kinds: tuple[str, ...]  # row kinds trained on: positive, hard, easy
    model: str = "checker"  # checker | similarity
    blank_image: bool = False
    mask_loss: bool = True
    special_weight: float | None = None  # None: the profile's loss.special_token (the paper's 10)


# the grounder every checker arm starts from: referring expressions alone (LISA-style; with the no-target
# expressions as well, GSVA-style, it grounded worse: target IoU 51 against 69 in the pilots), first
# their head noun phrases (a curriculum), then the full expressions
PRETRAIN = Recipe(("positive",))

RECIPES = {
    "checker": Recipe(("positive", "hard")),
    "grounder": Recipe(("positive",)),
    "gsva": Recipe(("positive", "easy")),
    "text_only": Recipe(("positive", "hard"), blank_image=True),
    "no_mask_loss": Recipe(("positive", "hard"), mask_loss=False),
    "token_w1": Recipe(("positive", "hard"), special_weight=1.0),
    "similarity": Recipe(("positive", "hard"), model="similarity"),
}
