"""The real formats on fixtures written exactly as the datasets ship them, and bad input."""

import json

import numpy as np
import pytest

from repro.vbackchecker import formats
from repro.vbackchecker.data import load_splits, row_features, scene_features
from repro.vbackchecker.formats import FormatError


def rle_uncompressed(mask: np.ndarray) -> dict:
    """COCO's uncompressed RLE (column-major run lengths starting with zeros), written by hand."""
    flat = mask.flatten(order="F").astype(np.uint8)
    counts, value, run = [], 0, 0
    for v in flat:
        if v != value:
            counts.append(run)
            value, run = v, 0
        run += 1
    counts.append(run)
    return {"size": list(mask.shape), "counts": counts}


@pytest.fixture
def fixture_dir(tmp_path):
    """A 20x20 two-image COCO-style set: a polygon, an uncompressed RLE and a compressed RLE; gRefCOCO
    refs with and without the ``no_target`` key; an R-Instruct no-target sentence with the official
    ``response_error: {error_type, error_reason}``."""
    square = np.zeros((20, 20), np.uint8)
    square[2:8, 3:9] = 1
    disk = (np.hypot(*np.mgrid[0:20, 0:20] - 12) <= 4).astype(np.uint8)
    compressed = formats.encode_masks(disk[None])[0]
    instances = {
        "images": [
            {"id": 11, "file_name": "COCO_train2014_000000000011.jpg", "height": 20, "width": 20},
            {"id": 12, "file_name": "COCO_train2014_000000000012.jpg", "height": 20, "width": 20},
        ],
        "annotations": [
            {
                "id": 501,
                "image_id": 11,
                "category_id": 1,
                "iscrowd": 0,
                "bbox": [3, 2, 6, 6],
                "area": 36,
                "segmentation": [[3, 2, 9, 2, 9, 8, 3, 8]],
            },
            {
                "id": 502,
                "image_id": 11,
                "category_id": 2,
                "iscrowd": 1,
                "bbox": [8, 8, 9, 9],
                "area": 49,
                "segmentation": rle_uncompressed(disk),
            },
            {
                "id": 601,
                "image_id": 12,
                "category_id": 2,
                "iscrowd": 0,
                "bbox": [8, 8, 9, 9],
                "area": 49,
                "segmentation": {"size": [20, 20], "counts": compressed},
            },
        ],
        "categories": [{"id": 1, "name": "box"}, {"id": 2, "name": "ball"}],
    }
    refs = [
        {
            "ref_id": 0,
            "ann_id": [501],
            "image_id": 11,
            "split": "val",
            "no_target": False,
            "category_id": 1,
            "sentences": [{"sent": "the box on the left", "sent_id": 0, "response_error": None}],
        },
        {
            "ref_id": 1,
            "ann_id": [501, 502],
            "image_id": 11,
            "split": "val",
            "sentences": [{"sent": "both things"}],
        },
        {
            "ref_id": 2,
            "ann_id": [-1],
            "image_id": 12,
            "split": "val",
            "no_target": True,
            "sentences": [
                {
                    "sent": "the red cat",
                    "response_error": {"error_type": "Object", "error_reason": "There is a ball, not a cat."},
                }
            ],
        },
        {
            "ref_id": 3,
            "ann_id": -1,
            "image_id": 12,
            "split": "testA",
            "sentences": [{"sent": "a dog"}],
        },
    ]
    bench = [
        {
            "image": "COCO_train2014_000000000012.jpg",
            "model": "llava-1.5",
            "object_id": 601,
            "caption": "a ball",
            "with_hallucination": False,
            "hallucination_type": 0,
        },
        {
            "image": "COCO_train2014_000000000011.jpg",
            "model": "gpt-4v",
            "object_id": 501,
            "caption": "a blue box",
            "with_hallucination": True,
            "hallucination_type": 2,
        },
    ]
    (tmp_path / "instances.json").write_text(json.dumps(instances))
    (tmp_path / "grefs(unc).json").write_text(json.dumps(refs))
    (tmp_path / "meta.json").write_text(json.dumps(bench))
    return tmp_path, square, disk


def read_image(name: str) -> np.ndarray:
    return np.full((20, 20, 3), 100 + len(name) % 50, np.uint8)


def test_pycocotools_decodes_all_three_segmentations(fixture_dir):
    folder, square, disk = fixture_dir
    data = formats.read_instances(folder / "instances.json")
    poly, rle, compressed = data["anns"][11][0], data["anns"][11][1], data["anns"][12][0]
    assert abs(int(formats.annotation_mask(poly, 20, 20).sum()) - int(square.sum())) <= 6  # polygon rasterisation
    np.testing.assert_array_equal(formats.annotation_mask(rle, 20, 20), disk)
    np.testing.assert_array_equal(formats.annotation_mask(compressed, 20, 20), disk)


def test_refs_and_halbench_load_into_the_shared_features(fixture_dir):
    folder, _, disk = fixture_dir
    files = {"instances": folder / "instances.json", "refs": folder / "grefs(unc).json", "bench": folder / "meta.json"}
    tables = load_splits(files, read_image, side=10, splits={"refer": "val"})
    assert tables["scenes"].features == scene_features(10)
    assert tables["refer"].features == row_features()
    refer = tables["refer"]
    assert refer["sentence"] == ["the box on the left", "both things", "the red cat"]
    assert refer["targets"] == [[0], [0, 1], []]
    assert refer["kind"] == ["positive", "positive", "hard"] and refer["error_type"][2] == "object"
    assert refer["reason"][2] == "There is a ball, not a cat."
    bench = tables["bench"]
    assert bench["no_target"] == [False, True] and bench["error_type"] == ["none", "attribute"]
    assert bench["model"] == ["llava-1.5", "gpt-4v"]
    scene = tables["scenes"].with_format("numpy")[0]
    assert scene["image"].shape == (10, 10, 3)  # resized to the profile's side


@pytest.mark.parametrize(
    "name,payload,message",
    [
        ("grefs(unc).json", "{not json", "not valid JSON"),
        ("grefs(unc).json", json.dumps([{"ref_id": 0, "image_id": 11}]), "lacks"),
        (
            "meta.json",
            json.dumps(
                [
                    {
                        "image": "x",
                        "model": "m",
                        "object_id": 1,
                        "caption": "c",
                        "with_hallucination": True,
                        "hallucination_type": 0,
                    }
                ]
            ),
            "disagrees",
        ),
        ("meta.json", json.dumps({"image": "x"}), "JSON list"),
    ],
)
def test_malformed_files_name_the_problem(fixture_dir, name, payload, message):
    folder, _, _ = fixture_dir
    (folder / name).write_text(payload)
    files = {"instances": folder / "instances.json", "refs": folder / "grefs(unc).json", "bench": folder / "meta.json"}
    with pytest.raises(FormatError, match=message):
        load_splits(files, read_image, side=10, splits={"refer": "val"})


def test_dangling_ids_and_bad_segmentations_raise(fixture_dir):
    folder, _, _ = fixture_dir
    refs = json.loads((folder / "grefs(unc).json").read_text())
    refs[0]["ann_id"] = [999]
    (folder / "grefs(unc).json").write_text(json.dumps(refs))
    files = {"instances": folder / "instances.json", "refs": folder / "grefs(unc).json", "bench": folder / "meta.json"}
    with pytest.raises(FormatError, match="annotation 999"):
        load_splits(files, read_image, side=10, splits={"refer": "val"})
    with pytest.raises(FormatError, match="polygons, an RLE dict"):
        formats.annotation_mask({"id": 1, "segmentation": "oops"}, 20, 20)
    with pytest.raises(FormatError, match="RGB"):
        formats.resize(np.zeros((20, 20), np.uint8), None, 10)


def test_real_files_refuse_unpinned_or_missing_data(tmp_path, monkeypatch):
    from repro.core.data import DataUnavailableError
    from repro.vbackchecker.data import real_files

    monkeypatch.setenv("REPRO_DATA_DIR", str(tmp_path))
    with pytest.raises(DataUnavailableError, match="file not found|no published checksum"):
        real_files("grefcoco")
    (tmp_path / "r2halbench").mkdir()
    (tmp_path / "r2halbench" / "grefs(unc).json").write_text("[]")
    with pytest.raises(DataUnavailableError, match="no published checksum"):
        real_files("r2halbench")
    with pytest.raises(ValueError, match="known"):
        real_files("refcoco")


def write(folder, name, payload) -> None:
    (folder / name).write_text(json.dumps(payload))


def load(folder, **roles):
    files = {"instances": folder / "instances.json", "refs": folder / "grefs(unc).json"} | roles
    return load_splits(files, read_image, side=10, splits={"refer": "val"})


def edit_instances(folder, fn) -> None:
    data = json.loads((folder / "instances.json").read_text())
    fn(data)
    write(folder, "instances.json", data)


def test_r2halbench_as_released_in_refs_form(fixture_dir):
    """SA-1B-style images and refs; a sentence is hallucinated when its ref's ann_id is [-1]; a list of
    RLE dicts (R-Instruct's and R^2-HalBench's segmentation) decodes to their union."""
    folder, _, disk = fixture_dir
    rle = formats.encode_masks(disk[None])[0]
    edit_instances(folder, lambda d: d["annotations"][2].update(segmentation=[{"size": [20, 20], "counts": rle}]))
    bench = [
        {"ref_id": 0, "ann_id": [601], "image_id": 12, "split": "test", "category_id": 2,
         "sentences": [{"sent": "a ball on the right", "sent_id": 0}]},
        {"ref_id": 1, "ann_id": [-1], "image_id": 11, "split": "test", "category_id": 1,
         "sentences": [{"sent": "a blue box", "sent_id": 1,
                        "response_error": {"error_type": "attribute", "error_reason": "it is red"}}]},
    ]  # fmt: skip
    write(folder, "r2_refs.json", bench)
    tables = load_splits(
        {"instances": folder / "instances.json", "bench_refs": folder / "r2_refs.json"}, read_image, 20
    )
    rows = tables["bench"]
    assert rows["no_target"] == [False, True] and rows["kind"] == ["positive", "hard"]
    assert rows["error_type"] == ["none", "attribute"]
    from repro.vbackchecker.data import scene_tensors, target_masks

    np.testing.assert_array_equal(target_masks(rows, scene_tensors(tables["scenes"]))[0], disk.astype(bool))


@pytest.mark.parametrize(
    "edit,message",
    [
        (lambda d: d["annotations"][2]["segmentation"].update(size=[40, 40]), r"annotation 601: RLE size \[40, 40\]"),
        (
            lambda d: d["annotations"][0].update(segmentation=[[3, 2, 9, 2, 9, 8, 3]]),
            "annotation 501: polygons need an even",
        ),
        (lambda d: d["annotations"][0].update(segmentation=[{"counts": "xx"}]), "annotation 501: an RLE needs"),
    ],
)
def test_bad_segmentations_name_the_file_and_annotation(fixture_dir, edit, message):
    folder, _, _ = fixture_dir
    edit_instances(folder, edit)
    with pytest.raises(FormatError, match=message) as err:
        load(folder)
    assert "instances.json" in str(err.value)


@pytest.mark.parametrize(
    "ann_id,no_target,message",
    [([-1, 501], None, "-1 .no target. mixed"), ([501], True, "no_target=True but"), (["501"], None, "integers")],
)
def test_bad_ann_ids_name_the_file_and_ref(fixture_dir, ann_id, no_target, message):
    folder, _, _ = fixture_dir
    refs = json.loads((folder / "grefs(unc).json").read_text())
    refs[0]["ann_id"] = ann_id
    if no_target is not None:
        refs[0]["no_target"] = no_target
    write(folder, "grefs(unc).json", refs)
    with pytest.raises(FormatError, match=message) as err:
        load(folder)
    assert "grefs(unc).json: ref 0" in str(err.value)


def test_unknown_object_id_in_the_benchmark_names_the_entry(fixture_dir):
    folder, _, _ = fixture_dir
    items = json.loads((folder / "meta.json").read_text())
    items[1]["object_id"] = 777  # a hallucinated item still names the object it misdescribes
    write(folder, "meta.json", items)
    with pytest.raises(FormatError, match=r"meta.json: entry 1: .*annotation 777"):
        load(folder, bench=folder / "meta.json")


def test_image_names_are_confined_to_the_image_folder(tmp_path):
    from PIL import Image

    images = tmp_path / "images"
    images.mkdir()
    Image.fromarray(np.full((4, 4, 3), 7, np.uint8)).save(images / "a.png")
    read = formats.image_reader(images)
    assert read("a.png").shape == (4, 4, 3)
    for name in ("../../../etc/passwd", "/etc/passwd", "sub/../../a.png"):
        with pytest.raises(FormatError, match="leaves the image folder"):
            read(name)
    with pytest.raises(FormatError, match="not found"):
        read("b.png")


def test_paper_profile_without_the_data_says_what_to_do(tmp_path, monkeypatch):
    """``--profile paper`` reads the released files through their manifests; without them, the data
    step stops with the manifest's instructions, before anything else runs."""
    from repro.core.data import DataUnavailableError
    from repro.vbackchecker import config
    from repro.vbackchecker.data import load_released

    monkeypatch.setenv("REPRO_DATA_DIR", str(tmp_path))
    assert config("paper").data_source == "released"
    with pytest.raises(DataUnavailableError, match="R_Instruct") as err:
        load_released(config("paper").image_size)
    assert "rinstruct" in str(err.value)
