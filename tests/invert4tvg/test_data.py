"""The generator, the task banks and the real annotation formats (fixtures in exactly those formats)."""

import json

import numpy as np
import pytest

from repro.core.config import ConfigError
from repro.invert4tvg import config
from repro.invert4tvg.data import (
    OPPOSITE,
    Annotation,
    Vocab,
    load_real,
    make_videos,
    read_charades_sta,
    read_timezero_json,
    resample,
    to_frames,
    verb_lemma,
    verb_of,
    verb_word,
    write_charades_sta,
    write_timezero_json,
)
from repro.invert4tvg.tasks import build_bank, sample_tasks

KW = dict(frames=16, feature_dim=8, min_len=3, max_len=6, distractors=1, noise=0.3, verb_strength=1.0)


@pytest.fixture(scope="module")
def table():
    return make_videos(64, 0, **KW)


def test_segments_are_disjoint_and_distractors_take_the_opposite_verb(table):
    for row in table:
        spans = [(row["start"], row["end"]), *zip(row["distractor_start"], row["distractor_end"])]
        occupied = np.zeros(16, int)
        for s, e in spans:
            assert 0 <= s < e <= 16 and 3 <= e - s <= 6
            occupied[s:e] += 1
        assert occupied.max() == 1, "segments overlap"
        (other,) = row["distractor_sentence"]
        assert other == f"person {OPPOSITE[row['verb']]} the {row['object']}"


def test_object_contrast_keeps_the_verb_and_changes_the_object():
    for row in make_videos(32, 0, **KW, contrast="object"):
        (other,) = row["distractor_sentence"]
        assert other.split()[1] == row["verb"] and other.split()[-1] != row["object"]


def test_target_position_is_not_readable_without_the_query(table):
    """No query-blind cue: the target comes first in time about as often as the distractor, and the
    target's and distractor's frames have the same energy."""
    first = np.mean([row["start"] < row["distractor_start"][0] for row in table])
    assert 0.3 < first < 0.7
    x = np.asarray(table.with_format("numpy")["features"])
    target = [np.linalg.norm(x[i, r["start"] : r["end"]], axis=1).mean() for i, r in enumerate(table)]
    other = [
        np.linalg.norm(x[i, r["distractor_start"][0] : r["distractor_end"][0]], axis=1).mean()
        for i, r in enumerate(table)
    ]
    assert abs(np.mean(target) - np.mean(other)) < 0.25


def test_generator_is_seeded(table):
    again = make_videos(64, 0, **KW)
    np.testing.assert_array_equal(np.asarray(again["features"]), np.asarray(table["features"]))


def test_bank_holds_the_four_tasks(table):
    vocab = Vocab.build(16)
    bank = build_bank(table, vocab, 10, 8, seed=0)
    assert bank.prompts.shape == (64, 4, 10) and bank.answers.shape == (64, 4, 8)
    row = table[0]
    words = [vocab.decode(bank.answers[0, t]) for t in range(4)]
    assert words[0][:7] == ["<think>", "</think>", "<answer>", f"t{row['start']}", "to", f"t{row['end']}", "</answer>"]
    assert words[1][:6] == ["<answer>", *row["sentence"].split(), "</answer>"]  # verb completion: the sentence
    vc_prompt = [w for w in vocab.decode(bank.prompts[0, 1]) if w != "<pad>"]
    assert "<mask>" in vc_prompt and row["verb"] not in vc_prompt
    ar_prompt = vocab.decode(bank.prompts[0, 2])
    assert row["verb"] in ar_prompt and OPPOSITE[row["verb"]] in ar_prompt


def test_schedule_draws_inversion_at_rate_p():
    import torch

    g = torch.Generator().manual_seed(0)
    tasks = sample_tasks(g, 20000, ("tvg", "vc", "ar", "vd"), 0.2)
    assert abs((tasks > 0).float().mean().item() - 0.2) < 0.015
    assert set(tasks.unique().tolist()) == {0, 1, 2, 3}
    assert (sample_tasks(g, 100, ("tvg",), 0.2) == 0).all()
    batches = [sample_tasks(g, 8, ("tvg", "vc", "ar", "vd"), 0.2, per="batch") for _ in range(400)]
    assert all(len(set(b.tolist())) == 1 for b in batches)  # the official code: one task per batch
    assert 0.15 < np.mean([b[0].item() != 0 for b in batches]) < 0.25


# Charades-STA's queries as released (TimeZero's train/val JSON and the TALL txt), one of each shape
REAL_SENTENCES = {
    "person is sitting on a chair.": "sitting",
    "a person opens a door.": "opens",
    "they put the book down.": "put",
    "the person takes a cup off a desk.": "takes",
    "person they throw their clothes on to a nearby desk.": "throw",
    "lastly the person takes a drink from a cup.": "takes",
    "the same person was laughing as he was undressing.": "laughing",
    "a person is putting a picture onto the wall.": "putting",
    "Person closes the door.": "closes",
    "a person awakens in their sofa.": "awakens",
}


@pytest.mark.parametrize("text, verb", REAL_SENTENCES.items())
def test_the_verb_is_the_action_never_a_function_word(text, verb):
    assert verb_word(text) == verb
    assert verb_of(Annotation("AO8RW", 0.0, 1.0, text)) == verb


def test_verb_lemmas_join_the_inflections_of_one_verb():
    for forms in (
        ("sit", "sits", "sitting", "sat"),
        ("close", "closes", "closing", "closed"),
        ("take", "takes", "taking", "took"),
        ("open", "opens", "opened"),
        ("tidy", "tidies"),
        ("drop", "dropped"),
        ("watch", "watches"),
        ("lie", "lying", "lies"),
    ):
        assert {verb_lemma(f) for f in forms} == {forms[0]}, forms
    assert verb_lemma("open") != verb_lemma("close") and verb_lemma("sit") != verb_lemma("stand")


def test_charades_sta_round_trip(tmp_path):
    notes = [
        Annotation("AO8RW", 0.0, 6.9, "person open the door"),
        Annotation("Y6R7T", 11.2, 18.0, "person drop a box"),
    ]
    path = tmp_path / "charades_sta_test.txt"
    write_charades_sta(path, notes)
    assert path.read_text().splitlines()[0] == "AO8RW 0.0 6.9##person open the door."
    back = read_charades_sta(path)
    assert [(a.vid, a.start, a.end, a.sentence) for a in back] == [(a.vid, a.start, a.end, a.sentence) for a in notes]


def test_charades_sta_rejects_malformed_lines(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("AO8RW 0.0 6.9 person opens the door\n")
    with pytest.raises(ValueError, match="bad.txt:1"):
        read_charades_sta(path)
    path.write_text("AO8RW 0.0 6.9##fine.\nY6R7T 8.0 7.0##person opens the door.\n")
    with pytest.raises(ValueError, match=r"bad.txt:2: video 'Y6R7T'.*0 <= start < end"):
        read_charades_sta(path)
    path.write_text("AO8RW 0.0 x##person opens the door.\n")
    with pytest.raises(ValueError, match="'AO8RW'.*not two numbers"):
        read_charades_sta(path)


def official_loader(path):
    """The Invert4TVG training script's reading of its JSON (train_grpo.py, load_json_dataset),
    restated: per video ``duration`` and ``action``; per query ``timestamps``, ``sentences``,
    ``Missing`` and ``verb`` zipped, sentences lower-cased and stripped of a final period."""
    examples = []
    for vid, video in json.loads(path.read_text()).items():
        for stamps, sentence, miss, verb in zip(
            video["timestamps"], video["sentences"], video["Missing"], video["verb"]
        ):
            sentence = sentence.strip().lower().removesuffix(".")
            examples.append(
                {
                    "vid": vid,
                    "problem": sentence,
                    "solution": (stamps[0], stamps[1]),
                    "durations": video["duration"],
                    "miss": miss.removesuffix("."),
                    "action": video["action"],
                    "verb": verb,
                }
            )
    return examples


def test_timezero_json_is_what_the_official_loader_reads(tmp_path):
    notes = [
        Annotation("AO8RW", 1.0, 6.9, "person open the door", 30.0, "open"),
        Annotation("AO8RW", 10.0, 14.0, "a person is closing the door", 30.0),
    ]
    path = tmp_path / "val.json"
    write_timezero_json(path, notes)
    examples = official_loader(path)
    assert [e["solution"] for e in examples] == [(1.0, 6.9), (10.0, 14.0)]
    assert [e["verb"] for e in examples] == ["open", "closing"]
    assert [e["miss"] for e in examples] == ["person the door", "a person is the door"]
    assert [e["problem"] for e in examples] == [n.sentence for n in notes] and examples[0]["action"] == 0
    back = read_timezero_json(path)
    assert back[0] == notes[0] and back[1].verb == "closing"


def test_both_readers_normalise_alike(tmp_path):
    txt, js = tmp_path / "a.txt", tmp_path / "a.json"
    txt.write_text("AO8RW 0.0 6.9##A person opens  the door.\n")
    js.write_text(
        json.dumps(
            {"AO8RW": {"duration": 30.0, "timestamps": [[0.0, 6.9]], "sentences": ["a person opens the door. "]}}
        )
    )
    assert read_charades_sta(txt)[0].sentence == read_timezero_json(js)[0].sentence == "a person opens the door"


def test_timezero_json_rejects_what_would_build_wrong_tasks(tmp_path):
    path = tmp_path / "train.json"

    def refuses(entry, message):
        path.write_text(
            json.dumps({"3MSZA": {"duration": 30.0, "timestamps": [[1.0, 2.0]], "sentences": ["x."]} | entry})
        )
        with pytest.raises(ValueError, match=rf"train.json.*'3MSZA'.*{message}"):
            read_timezero_json(path)

    refuses({"timestamps": [[8.0, 7.0]]}, "0 <= start < end")  # reversed, as 4 queries of TimeZero's train set
    refuses({"timestamps": [[-1.0, 2.0]]}, "0 <= start < end")
    refuses({"timestamps": [[1.0, 2.0, 3.0]]}, "not \\[start, end\\]")
    refuses({"duration": -5.0}, "positive")
    refuses({"duration": float("nan")}, "positive")
    refuses({"timestamps": [[1.0, 2.0], [3.0, 4.0]]}, "2 timestamps but 1 sentences")
    del_duration = {"3MSZA": {"timestamps": [[1.0, 2.0]], "sentences": ["x."]}}
    path.write_text(json.dumps(del_duration))
    with pytest.raises(ValueError, match="lacks fields"):
        read_timezero_json(path)
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        read_timezero_json(path)


def test_the_official_verb_completion_copies_are_skipped(tmp_path):
    path = tmp_path / "val.json"
    entry = {
        "duration": 30.0,
        "timestamps": [[1.0, 2.0]],
        "sentences": ["person sits."],
        "verb": ["sits"],
        "Missing": ["person."],
    }
    path.write_text(json.dumps({"GBD1Y": entry | {"action": 0}, "GBD1Y_c": entry | {"action": 1}}))
    assert [a.vid for a in read_timezero_json(path)] == ["GBD1Y"]


def test_real_loader_reads_npy_features_into_the_same_schema(tmp_path):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "AO8RW.npy", rng.normal(size=(40, 8)).astype(np.float32))
    notes = [Annotation("AO8RW", 3.0, 15.0, "person open the door", 30.0, "open")]
    table = load_real(notes, lambda vid: tmp_path / f"{vid}.npy", frames=16, feature_dim=8)
    assert table.features == make_videos(1, 0, **KW).features
    assert (table[0]["start"], table[0]["end"]) == to_frames(3.0, 15.0, 30.0, 16) == (1, 8)
    np.save(tmp_path / "AO8RW.npy", rng.normal(size=(40, 5)).astype(np.float32))
    with pytest.raises(ValueError, match="expected"):
        load_real(notes, lambda vid: tmp_path / f"{vid}.npy", frames=16, feature_dim=8)
    bad = rng.normal(size=(40, 8)).astype(np.float32)
    bad[3, 2] = np.nan
    np.save(tmp_path / "AO8RW.npy", bad)
    with pytest.raises(ValueError, match="AO8RW.npy.*'AO8RW'.*NaN"):
        load_real(notes, lambda vid: tmp_path / f"{vid}.npy", frames=16, feature_dim=8)
    np.save(tmp_path / "AO8RW.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="allow_pickle"):
        load_real(notes, lambda vid: tmp_path / f"{vid}.npy", frames=16, feature_dim=8)


def test_an_end_beyond_the_video_is_clipped_for_training_and_kept_for_scoring(tmp_path):
    from repro.invert4tvg.evaluate import span_scores

    np.save(tmp_path / "9JZO2.npy", np.zeros((40, 8), np.float32))
    note = Annotation("9JZO2", 26.1, 36.0, "person put on their shoes", 35.75)  # as in TimeZero's val set
    table = load_real([note], lambda vid: tmp_path / f"{vid}.npy", frames=16, feature_dim=8)
    assert (table[0]["start"], table[0]["end"]) == (11, 16)  # the frame grid ends with the video
    assert table[0]["end_s"] == pytest.approx(36.0)  # the annotation as released
    vocab = Vocab.build(16, table[0]["sentence"].split())
    bank = build_bank(table, vocab, prompt_len=10, answer_len=8, seed=0)
    exact = span_scores([(11, 16)], bank)["mIoU"][0]  # 24.58 s to 35.75 s against 26.1 s to 36.0 s
    assert exact == pytest.approx(100 * (35.75 - 26.1) / (36.0 - 11 * 35.75 / 16))


def test_resample_averages_bins():
    x = np.arange(8, dtype=np.float32)[:, None]
    np.testing.assert_allclose(resample(x, 4)[:, 0], [0.5, 2.5, 4.5, 6.5])
    with pytest.raises(ValueError):
        resample(np.zeros((0, 3)), 4)


# every count and rate the config checked by hand before repro.core.config.check_values took over
CHECKED_VALUES = [
    ({"seeds": [2, 2]}, "seeds"),
    ({"n_train": 0}, "n_train"),
    ({"n_eval": 0}, "n_eval"),
    *(({"video": {name: 0}}, f"video.{name}") for name in ("frames", "feature_dim", "min_len")),
    *(({"policy": {name: 0}}, f"policy.{name}") for name in ("layers", "width", "heads", "prompt_len", "answer_len")),
    *(({"sft": {name: 0}}, f"sft.{name}") for name in ("steps", "batch_size")),
    *(({"grpo": {name: 0}}, f"grpo.{name}") for name in ("steps", "prompts", "iterations")),
    *(({spec: {"lr": 0.0}}, f"{spec}.lr") for spec in ("sft", "grpo")),
]


@pytest.mark.parametrize("overrides, field", CHECKED_VALUES)
def test_each_checked_value_names_its_field(overrides, field):
    with pytest.raises(ConfigError, match=rf"^{field.replace('.', '[.]')}="):
        config("smoke", **overrides)


def test_config_validates_fields():
    with pytest.raises(ConfigError, match="seeds"):
        config("smoke", seeds=[])
    with pytest.raises(ConfigError, match="unknown arm"):
        config("smoke", arms=["nope"])
    with pytest.raises(ConfigError, match="grpo.group"):
        config("smoke", grpo={"group": 1})
    with pytest.raises(ConfigError, match="video.frames"):
        config("smoke", video={"frames": 8, "max_len": 6})
    with pytest.raises(ConfigError, match="valid keys"):
        config("smoke", nope=1)


def test_missing_charades_files_say_no_checksum_is_published(tmp_path):
    from repro.core.data import DataUnavailableError, load_manifest, verified_path

    with pytest.raises(DataUnavailableError) as err:
        verified_path(load_manifest("charades_sta"), "Charades_STA/train.json", root=tmp_path)
    assert "no published checksum: record yours" in str(err.value) and "None" not in str(err.value)
