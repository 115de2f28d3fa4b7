"""The procedural world, the honesty guards on it, and the two real-format loaders."""

import json

import numpy as np
import pytest

from repro.mgtil import world
from repro.mgtil.data import FormatError, build_world, images, load_caption_jsonl, load_medmnist
from repro.mgtil.retrieval import question_pool


@pytest.fixture(scope="module")
def small_world():
    return build_world(
        tasks=world.tasks_of(("order1",)),
        image_size=16,
        database_size=400,
        attribute_rate=0.3,
        n_train=24,
        n_test=16,
        shift=0.4,
        control_shift=True,
        seed=0,
    )


def test_world_has_every_split_with_balanced_labels(small_world):
    for task in world.ORDERS["order1"]:
        for name in (f"{task}_train", f"{task}_val", f"{task}_test", f"noshift_{task}_test"):
            labels = np.asarray(small_world[name]["label"])
            counts = np.bincount(labels, minlength=len(world.TASKS[task].classes))
            assert counts.max() - counts.min() <= 1, (name, counts)
    assert images(small_world["database"]).shape == (400, 3, 16, 16)


def test_retrieval_database_never_holds_a_test_image(small_world):
    db = {img.tobytes() for img in np.asarray(small_world["database"].with_format("numpy")["image"])}
    for task in world.ORDERS["order1"]:
        for name in (f"{task}_test", f"{task}_val", f"noshift_{task}_test"):
            test = np.asarray(small_world[name].with_format("numpy")["image"])
            assert not any(img.tobytes() in db for img in test), name


def test_validation_is_drawn_like_test_but_holds_other_images(small_world):
    """Weights and gates are chosen on validation: the same generator and shift as the test split,
    its own draw (no image shared with test or train)."""
    pixels = lambda name: np.asarray(small_world[name].with_format("numpy")["image"])  # noqa: E731
    for task in world.ORDERS["order1"]:
        val, test, train = pixels(f"{task}_val"), pixels(f"{task}_test"), pixels(f"{task}_train")
        assert len(val) == len(test)
        assert not {v.tobytes() for v in val} & {t.tobytes() for t in np.concatenate([test, train])}
        assert abs(val.mean() - test.mean()) < 0.1 * test.mean()  # same rendering and acquisition shift


def test_prompt_words_come_from_captions_and_the_tokenizer_never_saw_prompts():
    captions = world.database(2000, 8, 0.3, seed=3)["caption"]
    words = {w for c in captions for w in c.split()}
    procedural = [world.TASKS[t] for t in world.tasks_of(("order1", "order2"))]  # the released stream's: real captions
    for task in procedural:
        for prompt in task.prompts():
            assert set(prompt.split()) <= words, prompt
    added = set(world.vocabulary(list(captions))) - set(captions)
    assert not added & {p for t in world.TASKS.values() for p in t.prompts()}, "prompts must not teach the tokenizer"


def test_question_pool_holds_only_labels_of_seen_tasks():
    order = world.ORDERS["order1"]
    for t in range(1, len(order) + 1):
        pool = question_pool(order[:t])
        seen = {p for name in order[:t] for p in world.TASKS[name].prompts()}
        unseen = {p for name in order[t:] for p in world.TASKS[name].prompts()} - seen
        assert set(pool["task"]) == set(world.TASKS[order[t - 1]].prompts())
        assert not unseen & (set(pool["general"]) | set(pool["task"]))
        assert set(pool["general"]) - {world.GENERAL_QUERY} == seen


def test_acquisition_shift_is_the_identity_at_zero_and_moves_colours_otherwise():
    rng = np.random.default_rng(0)
    imgs = world.render(
        "fundus", np.array(["healthy disc"] * 8, dtype=object), np.array([""] * 8, dtype=object), 16, rng
    )
    assert world.acquisition(imgs, 0.0, 5, rng) is imgs
    shifted = world.acquisition(imgs, 0.6, 5, rng)
    assert np.abs(shifted.mean(axis=(0, 2, 3)) - imgs.mean(axis=(0, 2, 3))).max() > 0.02


def test_fine_classes_differ_in_pixels_but_not_in_every_pixel():
    rng = np.random.default_rng(1)
    sizes = np.array([""] * 64, dtype=object)
    mild = world.render("fundus", np.array(["mild cupping"] * 64, dtype=object), sizes, 16, rng).mean(0)
    severe = world.render("fundus", np.array(["severe cupping"] * 64, dtype=object), sizes, 16, rng).mean(0)
    diff = np.abs(mild - severe)
    assert diff.max() > 0.05, "the grades must be visible"
    assert (diff > 0.05).mean() < 0.2, "only the optic disc differs between grades"


# ----------------------------------------------------------------------------------------------
# real formats


def write_medmnist(path, rgb=False, n=(6, 2, 3)):
    rng = np.random.default_rng(0)
    shape = (28, 28, 3) if rgb else (28, 28)
    arrays = {}
    for prefix, count in zip(("train", "val", "test"), n):
        arrays[f"{prefix}_images"] = rng.integers(0, 256, (count, *shape), dtype=np.uint8)
        arrays[f"{prefix}_labels"] = rng.integers(0, 4, (count, 1)).astype(np.uint8)
    np.savez(path, **arrays)
    return arrays


@pytest.mark.parametrize("rgb", [False, True])
def test_medmnist_npz_becomes_task_splits(tmp_path, rgb):
    arrays = write_medmnist(tmp_path / "pathmnist.npz", rgb)
    ds = load_medmnist(tmp_path / "pathmnist.npz", 16)
    assert set(ds) == {"train", "validation", "test"}
    assert images(ds["train"]).shape == (6, 3, 16, 16)
    assert ds["test"]["label"] == arrays["test_labels"].reshape(-1).tolist()


def test_medmnist_errors_name_the_problem(tmp_path):
    arrays = write_medmnist(tmp_path / "ok.npz")
    np.savez(tmp_path / "missing.npz", **{k: v for k, v in arrays.items() if k != "val_labels"})
    with pytest.raises(FormatError, match="val_labels"):
        load_medmnist(tmp_path / "missing.npz", 16)
    np.savez(tmp_path / "float.npz", **(arrays | {"train_images": arrays["train_images"].astype(np.float32)}))
    with pytest.raises(FormatError, match="uint8"):
        load_medmnist(tmp_path / "float.npz", 16)
    np.savez(tmp_path / "labels.npz", **(arrays | {"test_labels": arrays["test_labels"][:1]}))
    with pytest.raises(FormatError, match="test_labels"):
        load_medmnist(tmp_path / "labels.npz", 16)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(FormatError, match="not a readable"):
        load_medmnist(tmp_path / "junk.npz", 16)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"train_labels": lambda y: y.astype(np.float32) + 0.7}, "integers"),
        (
            {"val_labels": lambda y: np.where(np.arange(len(y))[:, None] == 1, -1, y.astype(np.int64))},
            r"val_labels\[1\] = -1",
        ),
        ({"test_labels": lambda y: np.full_like(y, 255)}, r"test_labels\[0\] = 255, labels must be \[0, 4\)"),
        ({"val_images": lambda x: x[:0], "val_labels": lambda y: y[:0]}, "val_images is empty"),
    ],
)
def test_medmnist_refuses_labels_out_of_range_and_empty_splits(tmp_path, change, message):
    """Issue 30: float labels were truncated (0.7 -> 0), -1 and 255 accepted, an empty split failed in
    a reshape; each now fails naming the file and the key."""
    arrays = write_medmnist(tmp_path / "ok.npz")
    np.savez(tmp_path / "bad.npz", **(arrays | {k: f(arrays[k]) for k, f in change.items()}))
    with pytest.raises(FormatError, match=message) as err:
        load_medmnist(tmp_path / "bad.npz", 16, n_classes=4)
    assert "bad.npz" in str(err.value)


def write_jsonl(folder, rows):
    from PIL import Image

    (folder / "images").mkdir(exist_ok=True)
    for i in range(2):
        Image.fromarray(np.full((20, 30, 3), 60 * i, np.uint8)).save(folder / "images" / f"PMC{i}.jpg")
    whole = (folder / "images" / "PMC0.jpg").read_bytes()
    (folder / "images" / "truncated.jpg").write_bytes(whole[: len(whole) // 2])
    path = folder / "pmc_oa.jsonl"
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return path


def test_pmc_style_jsonl_becomes_the_database(tmp_path):
    path = write_jsonl(
        tmp_path,
        [
            {"image": "images/PMC0.jpg", "caption": "Chest X-ray showing a nodule"},
            {"image": "images/PMC1.jpg", "caption": "Fundus photograph"},
        ],
    )
    db = load_caption_jsonl(path, tmp_path, 16)
    assert db["caption"] == ["chest x-ray showing a nodule", "fundus photograph"]
    assert images(db).shape == (2, 3, 16, 16) and db.features["domain"].dtype == "string"


@pytest.mark.parametrize(
    "row, message",
    [
        ("{not json", "not a JSON object"),
        ({"image": "images/PMC0.jpg"}, "'image' and 'caption'"),
        ({"image": "images/absent.jpg", "caption": "x"}, "not found"),
        ({"image": "../outside.jpg", "caption": "x"}, "not found"),
        ({"image": "images/PMC0.jpg", "caption": "   "}, "caption is empty"),
        ({"image": "images/truncated.jpg", "caption": "x"}, "truncated.jpg.*not a readable image"),
    ],
)
def test_jsonl_errors_name_the_line(tmp_path, row, message):
    path = write_jsonl(tmp_path, [{"image": "images/PMC1.jpg", "caption": "ok"}, row])
    with pytest.raises(FormatError, match=message) as err:
        load_caption_jsonl(path, tmp_path, 16)
    assert ":2:" in str(err.value)


# ----------------------------------------------------------------------------------------------
# the paper profile: the released files through their manifests


def test_paper_profile_without_the_data_says_what_to_do(tmp_path, monkeypatch):
    """``--profile paper`` reads MedMNIST and PMC-OA through their manifests; without them the data
    step stops with the manifest's instructions before anything is read."""
    from repro.core.data import DataUnavailableError
    from repro.mgtil import config
    from repro.mgtil.data import released_world

    monkeypatch.setenv("REPRO_DATA_DIR", str(tmp_path))
    cfg = config("paper")
    assert cfg.data_source == "released" and cfg.orders == ("medmnist",)
    sizes = dict(n_train=cfg.world.n_train, n_val=cfg.world.n_val, n_test=cfg.world.n_test)
    with pytest.raises(DataUnavailableError, match="what to do: Download the 28x28 files") as err:
        released_world(tasks=world.ORDERS["medmnist"], image_size=28, database_size=10, seed=0, **sizes)
    assert "pathmnist.npz" in str(err.value)


def test_released_world_reads_medmnist_and_pmc_oa_through_pinned_manifests(tmp_path, monkeypatch):
    """On fixtures in the released formats, with manifests pinning their hashes: every task gets the
    same number of images per split, labels within the task's classes, and the database the jsonl's
    captions; a PMC-OA jsonl whose sha256 is not pinned is refused with the manifest's instructions."""
    import hashlib

    import yaml

    from repro.core.data import DataUnavailableError, load_manifest
    from repro.mgtil import data as data_module

    root, manifests = tmp_path / "data", tmp_path / "manifests"
    (root / "medmnist").mkdir(parents=True), (root / "pmc_oa").mkdir(), manifests.mkdir()
    tasks = ("pneumonia", "retina")
    for task in tasks:
        write_medmnist(root / "medmnist" / f"{world.TASKS[task].source}.npz", n=(8, 4, 5))  # labels in [0, 4)
    rows = [{"image": f"images/PMC{i % 2}.jpg", "caption": f"Figure {i}: a chest x-ray"} for i in range(6)]
    jsonl = write_jsonl(root / "pmc_oa", rows)
    monkeypatch.setenv("REPRO_DATA_DIR", str(root))
    monkeypatch.setattr(data_module, "load_manifest", lambda name: load_manifest(name, manifests))

    def pin(name, files):  # the repo's manifest with the fixture's files and hashes
        raw = yaml.safe_load(open(f"data_manifests/{name}.yaml"))
        (manifests / f"{name}.yaml").write_text(yaml.safe_dump(raw | {"files": files}))

    md5 = lambda path: hashlib.md5(path.read_bytes()).hexdigest()  # noqa: E731
    pin("medmnist", [{"path": f"medmnist/{p.name}", "md5": md5(p)} for p in (root / "medmnist").iterdir()])
    pin("pmc_oa", [{"path": "pmc_oa/pmc_oa.jsonl", "sha256": None}])
    sizes = dict(n_train=6, n_val=3, n_test=4, database_size=5, seed=0, image_size=16)
    with pytest.raises(DataUnavailableError, match="no published checksum"):
        data_module.released_world(tasks=("retina",), **sizes)
    pin("pmc_oa", [{"path": "pmc_oa/pmc_oa.jsonl", "sha256": hashlib.sha256(jsonl.read_bytes()).hexdigest()}])
    with pytest.raises(FormatError, match=r"pneumoniamnist.npz: train_labels\[\d+\] = [23], labels must be \[0, 2\)"):
        data_module.released_world(tasks=("pneumonia",), **sizes)  # the fixture's labels 0-3, two classes
    ds = data_module.released_world(tasks=("retina",), **sizes)
    assert {k: len(v) for k, v in ds.items()} == {"database": 5, "retina_train": 6, "retina_val": 3, "retina_test": 4}
    assert set(ds["database"]["caption"]) <= {r["caption"].lower() for r in rows}
    assert images(ds["retina_test"]).shape == (4, 3, 16, 16)
    with pytest.raises(FormatError, match="validation holds 4 images, the profile draws 5"):
        data_module.released_world(tasks=("retina",), **(sizes | {"n_val": 5}))
