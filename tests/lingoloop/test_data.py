"""The scene grammar (an honesty guard, docs/papers/lingoloop.md), the POS -> P(EOS) table, and the COCO captions
loader on a fixture written in the exact captions_val2017.json / zip layout."""

import hashlib
import io
import json
import zipfile
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from repro.core.data import DataUnavailableError, ManifestFile, load_manifest
from repro.lingoloop.data import (
    COCO_ANNOTATIONS_ZIP,
    COCO_CAPTIONS_MEMBER,
    COCO_IMAGES_ZIP,
    EOS,
    LEXICON,
    MAX_CLAUSES,
    POS_TAGS,
    TICK_STRIDE,
    Vocab,
    coco_eval_set,
    eos_table,
    load_scenes,
    make_scenes,
    parse_coco_captions,
    pos_weights,
    save_scenes,
)


def test_scenes_and_captions_have_the_promised_shape(tmp_path):
    scenes = make_scenes(50, seed=1)
    assert scenes.images.shape == (50, 3, 32, 32) and 0 <= scenes.images.min() and scenes.images.max() <= 1
    lengths = (scenes.tokens != 0).sum(1)
    clauses = np.array([c.count(" and ") + 1 for c in scenes.captions]) - np.array(
        [
            " is big and " in c or " are big and " in c or " is small and " in c or " are small and " in c
            for c in scenes.captions
        ]
    )  # template 1 has an "and" of its own ("... is big and red")
    assert lengths.min() >= 10 and lengths.max() <= 13 * MAX_CLAUSES + 1
    assert 1 <= clauses.min() and clauses.max() <= MAX_CLAUSES and (clauses > 1).any()
    ticks = np.stack([scenes.images[:, :, 0, 1 + TICK_STRIDE * j].mean(1) > 0.9 for j in range(MAX_CLAUSES)], 1)
    ticks_shown = np.where(ticks.all(1), MAX_CLAUSES, ticks.argmin(1))  # the first tick missing
    assert np.array_equal(ticks_shown, clauses - 1)  # one tick per clause after the first
    assert (scenes.tokens[np.arange(50), lengths - 1] == EOS).all()
    save_scenes(scenes, tmp_path / "s.npz")
    back = load_scenes(tmp_path / "s.npz")
    assert back.captions == scenes.captions and np.abs(back.images - scenes.images).max() <= 0.5 / 255 + 1e-6


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
