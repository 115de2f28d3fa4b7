"""The moving-digit generator (it must not give the class away in one frame) and the real format:
UCF-101-style frame-PNG folders with a SHA256SUMS file, on a fixture written in exactly that layout."""

import hashlib

import numpy as np
import pytest
import torch
from PIL import Image

from repro.core.config import ConfigError
from repro.core.data import DataUnavailableError, Manifest, ManifestFile, load_manifest
from repro.videopure import config
from repro.videopure.data import (
    SUMS,
    frame_folders,
    glyph_split,
    moving_digits,
    read_frame_folders,
    read_sums,
    render_clips,
)
from repro.videopure.evaluate import single_frame_probe
from repro.videopure.flow import estimate_shifts, shift_frames, true_shifts, warping_error


@pytest.fixture(scope="module")
def digits_clips():
    cfg = config("smoke")
    return cfg, moving_digits(cfg.video, cfg.test_fraction, 0).with_format("torch")


def test_clips_have_the_typed_shape_and_balanced_test_classes(digits_clips):
    cfg, clips = digits_clips
    test = clips["test"][:]
    assert test["video"].shape[1:] == (cfg.video.frames, 1, cfg.video.canvas, cfg.video.canvas)
    assert 0 <= test["video"].min() and test["video"].max() <= 1
    assert clips["train"].features["label"].num_classes == cfg.n_classes
    first = test["label"][: cfg.n_classes].tolist()
    assert sorted(first) == list(range(cfg.n_classes))  # the evaluation blocks are stratified


def test_train_validation_and_test_glyphs_are_disjoint(digits_clips):
    _, clips = digits_clips
    ids = {part: set(clips[part][:]["source_id"].tolist()) for part in ("train", "validation", "test")}
    assert ids["validation"] and not ids["train"] & ids["test"]
    assert not ids["validation"] & ids["test"] and not ids["validation"] & ids["train"]
    labels = clips["validation"][:]["label"].tolist()
    assert len(set(labels)) == clips["train"].features["label"].num_classes  # every class is validated


def test_each_frame_is_the_previous_one_shifted_by_dx():
    cfg = config("smoke", video={"noise": 0.0})
    glyphs = glyph_split(cfg.video.digits, 0.5, 0)["train_glyphs"][:6]
    rng = np.random.default_rng(0)
    direction = np.array([0, 1, 0, 1, 0, 1])
    video = torch.from_numpy(render_clips(glyphs, direction, rng.integers(0, 12, 6), np.zeros(6, int), cfg.video, rng))
    dx = torch.from_numpy(np.where(direction == 1, 1, -1))
    assert warping_error(video, true_shifts(dx, video.shape[1])).max() == 0
    assert torch.equal(estimate_shifts(video, 2), true_shifts(dx, video.shape[1]))


def test_a_single_frame_cannot_tell_the_direction():
    """A linear probe on frame 0, or on the clip's mean frame, reads the direction at chance: the
    class needs the motion (and the recogniser must use it)."""
    cfg = config("cpu")
    clips = moving_digits(cfg.video, cfg.test_fraction, 0).with_format("torch")["train"][:]
    probe = single_frame_probe(clips["video"].numpy(), clips["label"].numpy())
    assert 40 <= probe["frame0_direction"] <= 60 and 40 <= probe["mean_frame_direction"] <= 60


def test_shift_frames_is_inverted_by_the_opposite_shift():
    frames = torch.rand(3, 2, 1, 5, 7)
    shifts = torch.tensor([[[1, 2], [0, -3]]] * 3)
    torch.testing.assert_close(shift_frames(shift_frames(frames, shifts), -shifts), frames)


# ----------------------------------------------------------------------------------------------
# real format: <root>/<class>/<clip>/<i>.png + SHA256SUMS


def write_frames(root, classes=("jump", "run"), clips=2, frames=4, size=20):
    rng = np.random.default_rng(0)
    for name in classes:
        for clip in range(clips):
            folder = root / name / f"v_{name}_{clip:02d}"
            folder.mkdir(parents=True)
            for i in range(frames):
                pixels = (rng.random((size, size, 3)) * 255).astype(np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.png")
    lines = [
        f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(root).as_posix()}"
        for p in sorted(root.rglob("*.png"))
    ]
    (root / SUMS).write_text("\n".join(lines) + "\n")
    return root


def manifest_for(root, folder="ucf101_frames"):
    digest = hashlib.sha256((root / SUMS).read_bytes()).hexdigest()
    return Manifest(
        name="ucf101_frames",
        title="fixture",
        homepage="-",
        license="-",
        citation="-",
        access="manual",
        instructions="write the frames",
        files=(ManifestFile(path=f"{folder}/{SUMS}", sha256=digest),),
    )


def test_frame_folders_load_as_the_same_features(tmp_path):
    root = write_frames(tmp_path / "ucf101_frames", clips=6)
    cfg = config("smoke", video={"frames": 3})
    data = frame_folders(cfg.video, 0.5, 0, cfg.max_shift, manifest_for(root), tmp_path)
    assert set(data) == {"train", "validation", "test"}
    assert data["train"].features["label"].names == ["jump", "run"]
    video = data["train"].with_format("torch")[:]["video"]
    assert video.shape[1:] == (3, 1, cfg.video.canvas, cfg.video.canvas) and video.max() <= 1
    assert data["train"].features["video"] == moving_digits(cfg.video, 0.25, 0)["train"].features["video"]


def grey_clip(folder, indices, value=lambda i: 20 * i, dtype=np.uint8):
    folder.mkdir(parents=True, exist_ok=True)
    for i in indices:
        Image.fromarray(np.full((4, 4), value(i), dtype)).save(folder / f"{i}.png")


def test_frames_are_ordered_by_their_integer_index(tmp_path):
    root = tmp_path / "r"
    for cls in "ab":
        grey_clip(root / cls / "c", (0, 2, 10, 1, 3, 4, 5, 6, 7, 8, 9))
    clips = read_frame_folders(root, 11, 4)
    assert [round(float(v) * 255) for v in clips["video"][0, :, 0, 0, 0]] == [20 * i for i in range(11)]


@pytest.mark.parametrize(
    "names, message",
    [
        (("0", "1", "3", "4"), "frame indices must run contiguously from 0 or 1; got 0..4, missing \\[2\\]"),
        (("2", "3", "4", "5"), "frame indices must run contiguously from 0 or 1"),
        (("0", "1", "01", "2"), "more than one file per frame index: \\{1: \\['01.png', '1.png'\\]\\}"),
    ],
)
def test_bad_frame_indices_name_the_clip(tmp_path, names, message):
    root = tmp_path / "r"
    grey_clip(root / "a" / "fine", range(4))
    bad = root / "b" / "v_bad_07"
    bad.mkdir(parents=True)
    for name in names:
        Image.fromarray(np.zeros((4, 4), np.uint8)).save(bad / f"{name}.png")
    with pytest.raises(ValueError, match=f"v_bad_07: {message}"):
        read_frame_folders(root, 3, 4)


def test_sixteen_bit_frames_keep_their_grey_level(tmp_path):
    """PIL's grey conversion clips 16-bit values to white; the loader scales them by 65535."""
    root = tmp_path / "r"
    grey_clip(root / "a" / "c", range(2), value=lambda i: 20000, dtype=np.uint16)
    grey_clip(root / "b" / "c", range(2))
    assert Image.open(root / "a" / "c" / "0.png").mode.startswith("I")
    clips = read_frame_folders(root, 2, 4)
    assert clips["video"][0].max() == pytest.approx(20000 / 65535, abs=1e-4)  # 0.305, not 1.0


def test_numeric_class_folders_are_in_numeric_order(tmp_path):
    root = tmp_path / "r"
    for cls in ("10", "9", "2"):
        grey_clip(root / cls / "c", range(2), value=lambda i, c=int(cls): c)
    clips = read_frame_folders(root, 2, 4)
    assert clips["classes"] == ["2", "9", "10"]
    assert [round(float(v) * 255) for v in clips["video"][:, 0, 0, 0, 0]] == [2, 9, 10]


def test_links_out_of_the_data_folder_are_refused(tmp_path):
    outside = tmp_path / "elsewhere"
    grey_clip(outside / "clip", range(3))
    root = tmp_path / "r"
    grey_clip(root / "a" / "c", range(3))
    (root / "b").mkdir()
    (root / "b" / "v_link").symlink_to(outside / "clip", target_is_directory=True)
    with pytest.raises(ValueError, match="v_link: the clip folder resolves outside the data folder"):
        read_frame_folders(root, 3, 4)
    (root / "b" / "v_link").unlink()
    grey_clip(root / "b" / "v_frame", range(2))
    (root / "b" / "v_frame" / "2.png").symlink_to(outside / "clip" / "2.png")
    with pytest.raises(ValueError, match="v_frame: frame 2.png resolves outside the data folder"):
        read_frame_folders(root, 3, 4)


def test_a_changed_frame_is_refused(tmp_path):
    root = write_frames(tmp_path / "ucf101_frames")
    manifest = manifest_for(root)
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(root / "run" / "v_run_01" / "2.png")
    with pytest.raises(DataUnavailableError, match="sha256 mismatch"):
        frame_folders(config("smoke").video, 0.5, 0, 2, manifest, tmp_path)


def test_a_changed_sums_file_is_refused(tmp_path):
    root = write_frames(tmp_path / "ucf101_frames")
    manifest = manifest_for(root)
    (root / SUMS).write_text((root / SUMS).read_text() + "\n")
    with pytest.raises(DataUnavailableError, match="mismatch"):
        frame_folders(config("smoke").video, 0.5, 0, 2, manifest, tmp_path)


def test_malformed_sums_and_missing_frames_and_bad_pngs_raise(tmp_path):
    bad = tmp_path / "sums"
    bad.write_text("abc  x.png\n")
    with pytest.raises(ValueError, match="expected '<sha256>  <path>'"):
        read_sums(bad)
    root = write_frames(tmp_path / "f", frames=2)
    with pytest.raises(ValueError, match="2 frames, the profile needs 4"):
        read_frame_folders(root, 4, 8)
    (root / "jump" / "v_jump_00" / "0.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="not a readable PNG"):
        read_frame_folders(root, 2, 8)
    (root / "jump" / "v_jump_00" / "first.png").write_bytes(b"")
    with pytest.raises(ValueError, match="named <index>.png"):
        read_frame_folders(root, 2, 8)


def test_missing_data_names_the_manifest_and_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("REPRO_DATA_DIR", str(tmp_path))
    manifest = load_manifest("ucf101_frames")
    assert manifest.files[0].sha256 is None  # no published checksum: the user pins it
    with pytest.raises(DataUnavailableError, match="file not found"):
        frame_folders(config("smoke").video, 0.5, 0, 2, manifest, tmp_path)


# every value the config checked by hand before repro.core.config.check_values took over
CHECKED_VALUES = [
    ({"video": {"frames": 1}}, "video.frames"),
    ({"video": {"canvas": 7}}, "video.canvas"),
    ({"video": {"clips_per_glyph": 0}}, "video.clips_per_glyph"),
    *(({spec: {name: 0}}, f"{spec}.{name}") for spec in ("recogniser", "surrogate") for name in ("epochs", "width")),
    *(({spec: {"lr": 0.0}}, f"{spec}.lr") for spec in ("recogniser", "surrogate")),
    *(({name: 0}, name) for name in ("diffusion_steps", "diffusion_batch_size", "ddim_steps", "inversion_steps")),
    *(({name: 0}, name) for name in ("diffpure_steps", "attack_steps", "eot_samples", "n_eval")),
    ({"diffusion_lr": 0.0}, "diffusion_lr"),
    ({"step_size": 0.0}, "step_size"),
    ({"seeds": [1, 1]}, "seeds"),
]


@pytest.mark.parametrize("overrides, field", CHECKED_VALUES)
def test_each_checked_value_names_its_field(overrides, field):
    with pytest.raises(ConfigError, match=rf"^{field.replace('.', '[.]')}="):
        config("smoke", **overrides)


def test_bad_config_values_name_the_field():
    with pytest.raises(ConfigError, match="video.frames"):
        config("smoke", video={"frames": 1})
    with pytest.raises(ConfigError, match="unet.sample_size"):
        config("smoke", video={"canvas": 16})
    with pytest.raises(ConfigError, match="bpda_rungs"):
        config("smoke", bpda_rungs=["dip"])
    with pytest.raises(ConfigError, match="seeds"):
        config("smoke", seeds=[])
    with pytest.raises(ConfigError, match="unknown override"):
        config("smoke", epochs=3)


def test_the_paper_profile_reads_ucf101_frames_or_says_what_to_do(tmp_path, monkeypatch):
    """``paper`` builds (tests/test_configs_build.py runs its models) and, without the frames, its data
    step stops with the manifest's instructions."""
    cfg = config("paper")
    assert cfg.data_source == "frames" and cfg.depth == 100 and cfg.n_classes == 101
    monkeypatch.setenv("REPRO_DATA_DIR", str(tmp_path))
    with pytest.raises(DataUnavailableError, match="Download UCF101.rar"):
        frame_folders(cfg.video, cfg.test_fraction, cfg.data_seed, cfg.max_shift, load_manifest("ucf101_frames"))
