"""The scene grammar (an honesty guard, docs/papers/lingoloop.md), the POS -> P(EOS) table, and the COCO captions
loader on a fixture written in the exact captions_val2017.json / zip layout."""

import hashlib
import io
import json
import zipfile
from dataclasses import replace

import numpy as np
import pytest
from datasets import load_from_disk
from PIL import Image

from repro.core.data import DataUnavailableError, ManifestFile, load_manifest
from repro.lingoloop.artifacts import SCENES, load_scenes, save_scenes
from repro.lingoloop.data import (
    COCO_ANNOTATIONS_ZIP,
    COCO_CAPTIONS_MEMBER,
    COCO_IMAGES_ZIP,
    CONTINUE_DECAY,
    CONTINUE_PROB,
    END_COLOURS,
    EOS,
    LEXICON,
    LONG_COLOUR,
    MAX_CLAUSES,
    NAMED_CLAUSES,
    POS_TAGS,
    STRIP_ROWS,
    TEMPLATE_END,
    Vocab,
    chained_caption,
    coco_eval_set,
    eos_table,
    last_template,
    make_scenes,
    n_clauses,
    parse_coco_captions,
    pos_weights,
)
from repro.lingoloop.evaluate import loop_period


def test_scenes_and_captions_have_the_promised_shape(tmp_path):
    scenes = make_scenes(50, seed=1)
    assert scenes.images.shape == (50, 3, 32, 32) and 0 <= scenes.images.min() and scenes.images.max() <= 1
    lengths = (scenes.tokens != 0).sum(1)
    assert lengths.min() >= 10 and lengths.max() <= 13 * MAX_CLAUSES + 1
    assert (scenes.tokens[np.arange(50), lengths - 1] == EOS).all()
    save_scenes(tmp_path, {"train": scenes})
    back = load_scenes(tmp_path, "train")
    assert back.captions == scenes.captions and np.abs(back.images - scenes.images).max() <= 0.5 / 255 + 1e-6
    assert np.array_equal(back.tokens, scenes.tokens) and np.array_equal(back.templates, scenes.templates)
    table = load_from_disk(str(tmp_path / SCENES))["train"]
    assert table.features["template"].names == list(TEMPLATE_END) and table.features["image"].dtype == "uint8"


def test_the_top_strip_tells_where_the_caption_ends():
    """The victim's cue: for a chain of up to five clauses the strip's colour is its last clause's
    template, the first clause with that template (a 5-cycle); a longer chain shows LONG_COLOUR and
    its caption is cut after MAX_CLAUSES clauses with no EOS. No two colours are within reach of
    one another inside the attacks' eps ball (their L_inf distance is 1, more than 2 eps)."""
    scenes = make_scenes(400, seed=2)
    colours = np.array([*END_COLOURS, LONG_COLOUR])
    gaps = np.abs(colours[:, None] - colours[None]).max(-1)[~np.eye(len(colours), dtype=bool)]
    assert gaps.min() > 2 * 32 / 255  # the cpu profile's eps cannot repaint one code as another
    long_seen = 0
    for image, text, first, row in zip(scenes.images, scenes.captions, scenes.templates, scenes.tokens):
        shown = np.abs(colours - image[:, :STRIP_ROWS].mean((1, 2))).max(1).argmin()
        own_and = sum(text.count(f" {s} and ") for s in ("big", "small"))  # template 1's "and" is within a clause
        clauses = text.count(" and ") + 1 - own_and
        if shown == len(END_COLOURS):
            long_seen += 1
            assert clauses == MAX_CLAUSES and EOS not in row
            continue
        assert clauses <= NAMED_CLAUSES and EOS in row
        assert shown == last_template(int(first), clauses)
        templates = [(int(first) + 2 * k) % len(TEMPLATE_END) for k in range(clauses)]
        assert templates.index(last_template(int(first), clauses)) == clauses - 1
    assert 0 < long_seen < 0.15 * len(scenes)  # the tail: rare but seen


def test_clause_counts_are_open_ended_with_decaying_continuation():
    """P(a clause k + 1 | k clauses) = CONTINUE_PROB * CONTINUE_DECAY**(k - 1), with no bound but
    the draw's own limit (captions are cut at MAX_CLAUSES, not the chains)."""
    rng = np.random.default_rng(0)
    counts = np.bincount([n_clauses(rng) for _ in range(40_000)])[1:]
    assert len(counts) > MAX_CLAUSES + 1  # chains longer than any caption occur
    reached = counts[::-1].cumsum()[::-1]  # chains with at least k clauses
    for k in range(1, MAX_CLAUSES + 1):
        expected = CONTINUE_PROB * CONTINUE_DECAY ** (k - 1)
        assert reached[k] / reached[k - 1] == pytest.approx(expected, abs=0.04)
    assert (np.diff(reached / reached[0]) < 0).all()  # ever fewer


def test_an_endless_chain_cycles_with_a_period_of_five_clauses():
    """What an attack that keeps suppressing EOS meets: the chain repeats, and the loop detector sees it."""
    attrs = dict(count=2, size="big", color="red", shape="square", place="left")
    five = chained_caption(3, 5, **attrs).split()
    eleven = chained_caption(3, 11, **attrs).split()  # two full cycles and a clause
    assert eleven[: len(five)] == five and eleven[len(five) + 1 : 2 * len(five) + 1] == five  # clause 6 = clause 1
    ids = Vocab.build().encode(" ".join(eleven))
    assert loop_period(ids) == len(five) + 1  # five clauses and their "and"
    assert loop_period(ids[: 2 * len(five) + 1]) is None  # under two full periods: not (yet) a loop


def test_eos_follows_several_parts_of_speech_at_different_rates():
    """Honesty guard: if EOS only followed nouns, POS weighting would equal uniform weighting."""
    scenes = make_scenes(2000, seed=0)
    table = eos_table(scenes.tokens, Vocab.build().pos_of_ids())
    ending = {t for t, p in zip(POS_TAGS, table) if p > 0}
    assert ending == {"NOUN", "ADJ", "VERB", "ADV", "NUM"}
    rates = table[table > 0]
    assert rates.max() / rates.min() > 2, "EOS rates should differ across parts of speech"
    for tag in ("NOUN", "ADJ", "VERB", "ADV", "NUM"):  # each also occurs mid-sentence
        assert table[POS_TAGS.index(tag)] < 1
    assert pos_weights(table).sum() == pytest.approx(1.0)


def test_eos_table_counts_by_the_previous_token():
    vocab = Vocab.build()
    ids = vocab.index
    rows = np.array([[ids["a"], ids["red"], EOS, 0], [ids["a"], ids["circle"], ids["glows"], EOS]])
    table = eos_table(rows, vocab.pos_of_ids())
    assert table[POS_TAGS.index("ADJ")] == 1.0  # "red" was followed by EOS once out of once
    assert table[POS_TAGS.index("VERB")] == 1.0
    assert table[POS_TAGS.index("NOUN")] == 0.0
    assert table[POS_TAGS.index("DET")] == 0.0
    assert all(w in LEXICON for w in vocab.words[4:])


def test_vocab_refuses_unknown_words():
    with pytest.raises(ValueError, match="outside the vocabulary"):
        Vocab.build().encode("a purple circle")


# ----------------------------------------------------------------------------------------------
# COCO captions


def coco_json(n_images=3):
    return {
        "info": {"description": "COCO 2017 Dataset", "version": "1.0", "year": 2017},
        "licenses": [{"url": "http://creativecommons.org/licenses/by-nc-sa/2.0/", "id": 1, "name": "BY-NC-SA"}],
        "images": [
            {
                "license": 1,
                "file_name": f"{i:012d}.jpg",
                "coco_url": "",
                "height": 40,
                "width": 60,
                "date_captured": "2013-11-14 17:02:52",
                "flickr_url": "",
                "id": i,
            }
            for i in range(1, n_images + 1)
        ],
        "annotations": [
            {"image_id": i, "id": 100 + 10 * i + k, "caption": f"A photo number {i}, caption {k}. "}
            for i in range(1, n_images + 1)
            for k in range(2)
        ],
    }


def jpeg(seed):
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)).save(buf, format="JPEG")
    return buf.getvalue()


@pytest.fixture
def coco(tmp_path):
    """The two official zips (annotations_trainval2017.zip, val2017.zip), tiny, and a manifest with their hashes."""
    doc = coco_json()
    with zipfile.ZipFile(tmp_path / COCO_ANNOTATIONS_ZIP, "w") as z:
        z.writestr(COCO_CAPTIONS_MEMBER, json.dumps(doc))
    with zipfile.ZipFile(tmp_path / COCO_IMAGES_ZIP, "w") as z:
        for img in doc["images"]:
            z.writestr(f"val2017/{img['file_name']}", jpeg(img["id"]))
    files = tuple(
        ManifestFile(path=name, sha256=hashlib.sha256((tmp_path / name).read_bytes()).hexdigest())
        for name in (COCO_ANNOTATIONS_ZIP, COCO_IMAGES_ZIP)
    )
    return tmp_path, replace(load_manifest("coco_val2017"), files=files), doc


def test_coco_loader_reads_images_and_captions_from_the_zips(coco):
    root, manifest, doc = coco
    images, entries = coco_eval_set(manifest, n=2, size=32, root=root)
    assert images.shape == (2, 3, 32, 32) and 0 <= images.min() and images.max() <= 1
    assert [e.id for e in entries] == [1, 2]
    assert entries[0].file_name == "000000000001.jpg"
    assert entries[0].captions == ("A photo number 1, caption 0.", "A photo number 1, caption 1.")


def test_coco_loader_refuses_corrupted_and_missing_zips(coco):
    root, manifest, _ = coco
    with pytest.raises(DataUnavailableError, match="sha256 mismatch"):
        coco_eval_set(load_manifest("coco_val2017"), 1, 32, root)  # published hashes != fixture
    (root / COCO_IMAGES_ZIP).unlink()
    with pytest.raises(DataUnavailableError, match="file not found"):
        coco_eval_set(manifest, 1, 32, root)


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda d: d.pop("annotations"), "needs 'images' and 'annotations'"),
        (lambda d: d["images"][0].pop("file_name"), r"images\[0\] lacks \['file_name'\]"),
        (lambda d: d["annotations"][1].pop("caption"), r"annotations\[1\] lacks \['caption'\]"),
        (lambda d: d["annotations"][0].update(image_id=999), "unknown image_id 999"),
        (lambda d: d["annotations"][1].update(caption=None), r"annotations\[1\] caption is None, not text"),
    ],
)
def test_malformed_captions_files_give_clear_errors(mutate, message):
    doc = coco_json()
    mutate(doc)
    with pytest.raises(ValueError, match=message):
        parse_coco_captions(json.dumps(doc))


def test_truncated_captions_file_is_named():
    with pytest.raises(ValueError, match="not valid JSON"):
        parse_coco_captions(json.dumps(coco_json())[:50], "captions_val2017.json")
