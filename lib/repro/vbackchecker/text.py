"""The checker's word-level vocabulary and its instruction format.

Prompt: ``can you segment <description> ?``. Answer (teacher-forced in training):

* grounded: ``[SEG] [EOS]``
* hallucinated: ``[REJ] because there is a <object|attribute|relation> error <reason> [EOS]``, the
  reason in the scene graph's words (``the circle is red , not blue``), as the paper's rejection answer
  gives one
* no-target without an error type (easy negatives, gRefCOCO-style): ``[REJ] [EOS]``

The paper's answer echoes the description before ``[SEG]`` ("Sure, {desc}: [SEG]"); here the answer
starts with the decision token, so the decision is read at one slot (the prompt's last position) and
the echo, which carries no information in a miniature with exact descriptions, is left out. As in
LISA, the mask query is the last hidden state at the position that predicts ``[SEG]``: the same slot.

Introduced in ``notebooks/vbackchecker/02_model.ipynb``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from repro.vbackchecker.scenes import COLOURS, ERROR_TYPES, RELATIONS, SHAPES, SIZES

PAD, UNK, EOS, SEG, REJ = "[PAD]", "[UNK]", "[EOS]", "[SEG]", "[REJ]"
PROMPT = ("can", "you", "segment")
REASON = ("because", "there", "is", "a")
REASON_WORDS = ("not", ",", "it", "object")  # the reasons' words outside the description grammar
IGNORE = -100


def tokenize(text: str) -> list[str]:
    return text.lower().replace("?", " ? ").replace(",", " , ").split()


@dataclass(frozen=True)
class Vocab:
    words: tuple[str, ...]

    @classmethod
    def build(cls) -> Vocab:
        grammar = {"the", "and", *SIZES, *COLOURS, *SHAPES, *(w for r in RELATIONS for w in r.split())}
        words = (PAD, UNK, EOS, SEG, REJ, *PROMPT, "?", *REASON, "error", *ERROR_TYPES, *sorted(grammar))
        words += tuple(w for w in REASON_WORDS if w not in words)
        return cls(words)

    @property
    def index(self) -> dict[str, int]:
        return {w: i for i, w in enumerate(self.words)}

    def ids(self, words: list[str]) -> list[int]:
        index = self.index
        return [index.get(w, index[UNK]) for w in words]

    def decode(self, ids) -> str:
        return " ".join(self.words[i] for i in ids if i != 0)

    @property
    def seg(self) -> int:
        return self.index[SEG]

    @property
    def rej(self) -> int:
        return self.index[REJ]


def answer(no_target: bool, error_type: str, reason: str = "") -> list[str]:
    if not no_target:
        return [SEG, EOS]
    if error_type in ERROR_TYPES:
        return [REJ, *REASON, error_type, "error", *tokenize(reason), EOS]
    return [REJ, EOS]


@dataclass
class Encoded:
    """Token arrays of a row table. ``inputs``: prompt (+ answer without its last token when
    teacher-forced), right-padded; ``targets``: next-token labels on answer positions, ``IGNORE``
    elsewhere; ``slot``: the position whose output decides [SEG] vs [REJ] and queries the mask;
    ``text``: the description alone (the similarity judge's text input)."""

    inputs: np.ndarray
    targets: np.ndarray
    slot: np.ndarray
    text: np.ndarray


def encode(vocab: Vocab, sentences, no_target, error_types, max_len: int, with_answer: bool = True,
           reasons=None) -> Encoded:  # fmt: skip
    """Prompts (and teacher-forced answers, each rejection with its ``reasons`` entry when given)."""
    n = len(sentences)
    reasons = [""] * n if reasons is None else reasons
    inputs = np.zeros((n, max_len), np.int64)
    targets = np.full((n, max_len), IGNORE, np.int64)
    text = np.zeros((n, max_len), np.int64)
    slot = np.zeros(n, np.int64)
    for i, (sentence, empty, kind, why) in enumerate(zip(sentences, no_target, error_types, reasons)):
        words = tokenize(sentence)
        prompt = vocab.ids([*PROMPT, *words, "?"])
        reply = vocab.ids(answer(bool(empty), kind, why)) if with_answer else []
        sequence = prompt + reply[:-1]
        if len(sequence) > max_len:
            raise ValueError(f"row {i}: {len(sequence)} tokens exceed max_len={max_len}: {sentence!r}")
        inputs[i, : len(sequence)] = sequence
        if reply:
            targets[i, len(prompt) - 1 : len(prompt) - 1 + len(reply)] = reply
        slot[i] = len(prompt) - 1
        ids = vocab.ids(words)[:max_len]
        text[i, : len(ids)] = ids
    return Encoded(inputs, targets, slot, text)
