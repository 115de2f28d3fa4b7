"""The four tasks as token sequences: TVG and the three inversion tasks built from the same annotation.

Introduced in ``notebooks/invert4tvg/01_data.ipynb``. Every example becomes four (prompt, answer) pairs:

=====  =============================================  ====================================================
task   prompt (left-padded to ``prompt_len``)          answer (then ``<eos>``)
=====  =============================================  ====================================================
tvg    ``[tvg] person open the door``                  ``<think> </think> <answer> t5 to t12 </answer>``
vc     ``[vc] person <mask> the door`` (the clip)      ``<answer> person open the door </answer>``
ar     ``[ar] t5 to t12 close pick open drop``         ``<answer> open </answer>``
vd     ``[vd] from t5 to t12``                         ``<answer> person open the door </answer>``
=====  =============================================  ====================================================

Verb Completion, as the official code writes it, masks the query's verb, shows the video cropped to
the target segment (:attr:`TaskBank.clips`: the segment's frames resampled onto the frame grid) and
asks for the completed sentence; ``tasks.vc_input="video"`` shows the whole video with the segment's
timestamps in the prompt instead, ``tasks.vc_answer="verb"`` asks for the verb alone, and
``tasks.think=False`` drops the ``<think> </think>`` tags from TVG answers. Action Recognition gives
the segment and a shuffled candidate list (the verb, its opposite where the data has one, and other
verbs); Video Description gives the segment and expects a description that contains the action.
The frames always follow the prompt, so the policy reads the prompt before the video.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from repro.invert4tvg.arms import TASKS
from repro.invert4tvg.config import OFFICIAL_TASKS, TaskSpec
from repro.invert4tvg.data import OPPOSITE, Vocab, resample

AR_CANDIDATES = 4


@dataclass
class TaskBank:
    """All four tasks of every example, as tensors (rows = examples, dim 1 = :data:`TASKS`)."""

    prompts: torch.Tensor  # (n, 4, prompt_len) token ids, left-padded
    answers: torch.Tensor  # (n, 4, answer_len) token ids: the reference answer, <eos>, then <pad>
    frames: torch.Tensor  # (n, frames, feature_dim)
    clips: torch.Tensor  # (n, frames, feature_dim): what Verb Completion sees (the cropped segment, or the video)
    spans: torch.Tensor  # (n, 2) target [start, end) in frames
    distractors: list[list[tuple[int, int]]]  # per example: other segments (empty for real data)
    verbs: list[str]
    objects: list[str]
    seconds: torch.Tensor  # (n, 2) the annotated target in seconds, as released (scoring's ground truth)
    durations: torch.Tensor  # (n,) seconds

    def __len__(self) -> int:
        return len(self.verbs)

    @property
    def duration(self) -> int:
        return self.frames.shape[1]

    @classmethod
    def concat(cls, banks: list[TaskBank]) -> TaskBank:
        """The examples of every bank, in order (same vocabulary and video shape)."""
        fields = [f.name for f in dataclasses.fields(cls)]
        return cls(
            **{
                k: torch.cat([getattr(b, k) for b in banks])
                if isinstance(getattr(banks[0], k), torch.Tensor)
                else [x for b in banks for x in getattr(b, k)]
                for k in fields
            }
        )

    def subset(self, n: int) -> TaskBank:
        """The first ``n`` examples."""
        return TaskBank(**{f.name: getattr(self, f.name)[:n] for f in dataclasses.fields(self)})

    def video(self, rows: torch.Tensor, tasks: torch.Tensor) -> torch.Tensor:
        """The frames each (example, task) pair sees: the clip for Verb Completion, else the video."""
        vc = (tasks == TASKS.index("vc")).view(-1, 1, 1)
        return torch.where(vc, self.clips[rows], self.frames[rows])


def task_words(
    task: str,
    sentence: list[str],
    verb: str,
    span: tuple[int, int],
    candidates: list[str],
    forms: TaskSpec = OFFICIAL_TASKS,
) -> tuple[list, list]:
    """The prompt and answer words of one task for one example (``sentence``: the query's words)."""
    s, e = f"t{span[0]}", f"t{span[1]}"
    if task == "tvg":
        return ["[tvg]", *sentence], [
            *(["<think>", "</think>"] if forms.think else []),
            "<answer>",
            s,
            "to",
            e,
            "</answer>",
        ]
    if task == "vc":
        masked = ["<mask>" if w == verb else w for w in sentence]
        where = [] if forms.vc_input == "segment" else ["from", s, "to", e]  # a cropped clip needs no times
        said = sentence if forms.vc_answer == "sentence" else [verb]
        return ["[vc]", *masked, *where], ["<answer>", *said, "</answer>"]
    if task == "ar":
        return ["[ar]", s, "to", e, *candidates], ["<answer>", verb, "</answer>"]
    if task == "vd":
        return ["[vd]", "from", s, "to", e], ["<answer>", *sentence, "</answer>"]
    raise ValueError(f"unknown task {task!r}; tasks: {TASKS}")


def ar_candidates(rng: np.random.Generator, verb: str, verbs: list[str], k: int = AR_CANDIDATES) -> list[str]:
    """The verb, its opposite (when known) and random other verbs, shuffled."""
    chosen = [verb] + ([OPPOSITE[verb]] if verb in OPPOSITE and OPPOSITE[verb] in verbs else [])
    rest = [v for v in verbs if v not in chosen]
    chosen += list(rng.choice(rest, size=min(k - len(chosen), len(rest)), replace=False))
    return [chosen[i] for i in rng.permutation(len(chosen))]


def pad_left(ids: list[int], length: int, pad: int) -> list[int]:
    if len(ids) > length:
        raise ValueError(f"prompt of {len(ids)} tokens exceeds policy.prompt_len={length}")
    return [pad] * (length - len(ids)) + ids


def pad_right(ids: list[int], length: int, pad: int) -> list[int]:
    if len(ids) > length:
        raise ValueError(f"answer of {len(ids)} tokens exceeds policy.answer_len={length}")
    return ids + [pad] * (length - len(ids))


def build_bank(
    table, vocab: Vocab, prompt_len: int, answer_len: int, seed: int, forms: TaskSpec = OFFICIAL_TASKS
) -> TaskBank:
    """Encode a TVG table (:func:`repro.invert4tvg.data.features_schema`) into a :class:`TaskBank`."""
    rng = np.random.default_rng(seed)
    columns = table.remove_columns("features").to_dict()
    verbs_seen = sorted(set(columns["verb"]))
    pad, eos = vocab.index["<pad>"], vocab.index["<eos>"]
    prompts, answers = [], []
    for text, verb, s, e in zip(columns["sentence"], columns["verb"], columns["start"], columns["end"]):
        candidates = ar_candidates(rng, verb, verbs_seen)
        p_row, a_row = [], []
        for task in TASKS:
            p, a = task_words(task, text.split(), verb, (s, e), candidates, forms)
            p_row.append(pad_left(vocab.encode(p), prompt_len, pad))
            a_row.append(pad_right([*vocab.encode(a), eos], answer_len, pad))
        prompts.append(p_row)
        answers.append(a_row)
    frames = torch.from_numpy(np.asarray(table.with_format("numpy")["features"], dtype=np.float32))
    clips = frames
    if forms.vc_input == "segment":  # the official Verb Completion crops the video to the segment
        n_frames = frames.shape[1]
        clips = torch.stack(
            [
                torch.from_numpy(resample(x[s:e].numpy(), n_frames))
                for x, s, e in zip(frames, columns["start"], columns["end"])
            ]
        )
    return TaskBank(
        prompts=torch.tensor(prompts),
        answers=torch.tensor(answers),
        frames=frames,
        clips=clips,
        spans=torch.tensor(list(zip(columns["start"], columns["end"]))),
        distractors=[list(zip(s, e)) for s, e in zip(columns["distractor_start"], columns["distractor_end"])],
        verbs=columns["verb"],
        objects=columns["object"],
        seconds=torch.tensor(list(zip(columns["start_s"], columns["end_s"])), dtype=torch.float64),
        durations=torch.tensor(columns["duration"], dtype=torch.float64),
    )


def sample_tasks(
    rng: torch.Generator, n: int, tasks: tuple[str, ...], p_inversion: float, per: str = "prompt"
) -> torch.Tensor:
    """The paper's schedule: TVG with probability ``1 - p``, else one of the arm's inversion tasks
    uniformly, drawn for each prompt (``per="prompt"``) or once for the whole batch (``"batch"``, as
    the official code does). Returns indices into :data:`TASKS`."""
    inversion = [TASKS.index(t) for t in tasks if t != "tvg"]
    out = torch.zeros(n, dtype=torch.long)
    if not inversion or p_inversion == 0:
        return out
    draws = n if per == "prompt" else 1
    flip = torch.rand(draws, generator=rng) < p_inversion
    pick = torch.tensor(inversion)[torch.randint(len(inversion), (draws,), generator=rng)]
    return torch.where(flip, pick, out[:draws]).expand(n).clone()
