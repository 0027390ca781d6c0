"""The composition lab: determinism, the published schema, hidden labels, and that each factor really
changes the pixels it claims to change."""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from portraitcraft.attributes import ANSWER_LETTERS, ATTRIBUTE_NAMES, LEVELS, level_from_score
from portraitcraft.cli import app
from portraitcraft.lab import (
    MODELS,
    TERMS,
    Factors,
    image_rng,
    make_record,
    render_scene,
    sample_factors,
    write_lab,
)
from portraitcraft.lab.annotate import OVERALL_CAUSES, cited_term, counterfactual
from portraitcraft.lab.describe import ANALYSIS_CHARS, CONTENT_CHARS
from portraitcraft.lab.factors import HEAD_TOP, companion_layout
from portraitcraft.lab.render import figure_look
from portraitcraft.lab.writer import JPEG_QUALITY, image_folder

SMALL = dict(n_train=5, n_test=8, n_track2_train=1, n_track2_test=1, images_per_folder=5, progress=False)
JSON_FILES = ("track_1_train.json", "track_1_test.json", "track_1_test_ground_truth.json", "track_2_train.json",
              "track_2_test.json", "lab_factors.json")


def load(root: Path, name: str):
    return json.loads((root / name).read_text(encoding="utf-8"))


def all_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("lab") / "seed7"
    write_lab(root, seed=7, **SMALL)
    return root


@pytest.fixture(scope="module")
def big_annotations(tmp_path_factory) -> Path:
    """Enough records (JSON only) for distributions."""
    root = tmp_path_factory.mktemp("lab") / "annotations"
    write_lab(root, n_train=500, n_test=60, n_track2_train=24, n_track2_test=0, seed=1, annotations_only=True,
              progress=False)
    return root


# ---- determinism --------------------------------------------------------------------------------------------------
def test_same_seed_gives_the_same_bytes_even_in_parallel(lab, tmp_path):
    again = tmp_path / "again"
    write_lab(again, seed=7, workers=2, **SMALL)
    assert all_files(again) == all_files(lab)


def test_another_seed_gives_other_images_and_labels(lab, tmp_path):
    other = tmp_path / "other"
    write_lab(other, seed=8, **SMALL)
    first, second = all_files(lab), all_files(other)
    assert first.keys() == second.keys()
    assert first["track_1_train.json"] != second["track_1_train.json"]
    jpegs = [k for k in first if k.endswith(".jpg")]
    assert sum(first[k] != second[k] for k in jpegs) == len(jpegs)


def test_records_do_not_depend_on_the_split_sizes(lab, tmp_path):
    smaller = tmp_path / "smaller"
    write_lab(smaller, seed=7, n_train=3, n_test=4, n_track2_train=0, n_track2_test=0, progress=False)
    assert load(smaller, "track_1_train.json") == load(lab, "track_1_train.json")[:3]
    assert (smaller / "images_00" / "lab_00002.jpg").read_bytes() == (lab / "images_00" / "lab_00002.jpg").read_bytes()
    # Test records keep their content; only their image numbers follow the (smaller) training split.
    for small, big in zip(load(smaller, "track_1_test_ground_truth.json"), load(lab, "track_1_test_ground_truth.json")):
        assert {k: v for k, v in small.items() if k != "image_path"} == {
            k: v for k, v in big.items() if k != "image_path"
        }


# ---- layout and schema --------------------------------------------------------------------------------------------
def test_layout_numbering_and_folders(lab):
    names = [r["image_path"] for r in load(lab, "track_1_train.json") + load(lab, "track_1_test.json")
             + load(lab, "track_2_train.json") + load(lab, "track_2_test.json")]
    assert names == [f"lab_{i:05d}.jpg" for i in range(15)]
    for i, name in enumerate(names):
        assert (lab / f"images_{i // 5:02d}" / name).is_file()
    assert set(load(lab, "lab_factors.json")) == set(names)
    assert {image_folder(i, 100) for i in range(5000)} == {f"images_{k:02d}" for k in range(11)}


def test_images_have_the_factor_aspect_ratio(lab):
    factors = load(lab, "lab_factors.json")
    for name, values in list(factors.items())[:6]:
        with Image.open(next(lab.glob(f"images_*/{name}"))) as image:
            width, height = image.size
        assert image.format == "JPEG" and max(width, height) == 512
        assert Factors.from_dict(values).size == (width, height)


@pytest.mark.real_sample
def test_schema_matches_the_real_files(lab, real_sample):
    for name in ("track_1_train.json", "track_1_test.json", "track_2_train.json"):
        real, ours = load(real_sample, name), load(lab, name)
        assert {type(r).__name__ for r in ours} == {type(r).__name__ for r in real} == {"dict"}
        assert {tuple(r) for r in ours} == {tuple(r) for r in real}, name  # same keys, same order
    real_train, train = load(real_sample, "track_1_train.json")[0], load(lab, "track_1_train.json")[0]
    assert list(train["criteria"]) == list(real_train["criteria"])
    assert {tuple(v) for v in train["criteria"].values()} == {tuple(v) for v in real_train["criteria"].values()}
    assert type(train["total_score"]) is type(real_train["total_score"]) is int
    real_test, test = load(real_sample, "track_1_test.json")[0], load(lab, "track_1_test.json")[0]
    assert test["criteria"] == real_test["criteria"]  # every attribute {"level": "x"}
    assert (test["total_score"], test["answer"]) == (real_test["total_score"], real_test["answer"])
    assert list(test["options"]) == list(real_test["options"])


def test_scores_are_on_the_published_scales(lab):
    for record in load(lab, "track_1_train.json") + load(lab, "track_1_test_ground_truth.json"):
        assert list(record["criteria"]) == list(ATTRIBUTE_NAMES)
        assert isinstance(record["total_score"], int) and 1 <= record["total_score"] <= 100
        for entry in record["criteria"].values():
            assert set(entry) == {"score", "reason"}
            assert 0.0 <= entry["score"] <= 10.0 and round(entry["score"], 1) == entry["score"]
            assert 60 <= len(entry["reason"]) <= 260 and entry["reason"].endswith(".")


def test_published_test_file_hides_the_labels_and_ground_truth_holds_them(lab):
    test, truth = load(lab, "track_1_test.json"), load(lab, "track_1_test_ground_truth.json")
    assert [r["image_path"] for r in test] == [r["image_path"] for r in truth]
    for hidden, full in zip(test, truth):
        assert hidden["criteria"] == {name: {"level": "x"} for name in ATTRIBUTE_NAMES}
        assert hidden["total_score"] == 0 and hidden["answer"] == "x"
        assert (hidden["question"], hidden["options"]) == (full["question"], full["options"])
        assert full["answer"] in ANSWER_LETTERS
        assert list(full) == ["image_path", "criteria", "total_score", "question", "options", "answer"]
    # Letters are balanced block by block: 8 questions use each letter exactly twice.
    assert Counter(r["answer"] for r in truth) == {letter: 2 for letter in ANSWER_LETTERS}


def test_the_right_option_cites_the_true_state_with_the_true_level(big_annotations):
    truth = load(big_annotations, "track_1_test_ground_truth.json")
    factors = load(big_annotations, "lab_factors.json")
    for record in truth:
        attribute = record["question"].removeprefix("Regarding the ").split(" in this image, ")[0]
        assert attribute in ATTRIBUTE_NAMES
        assert record["question"] == (f"Regarding the {attribute} in this image, which of the following best "
                                      "describes the visual evidence?")
        f = Factors.from_dict(factors[record["image_path"]])
        level = level_from_score(record["criteria"][attribute]["score"])
        model = MODELS[attribute]
        cited = cited_term(f, attribute, level)
        right = record["options"][record["answer"]]
        # The right option's cause is a term in the state of the true level, or, where no term is in that state,
        # the annotator's overall impression at that level.
        causes = TERMS[cited].phrase(f, TERMS[cited].state(f)) if cited else OVERALL_CAUSES[level]
        assert any(right.startswith(p) for p in causes), right
        assert any(right.rstrip(".").endswith(v) for v in model.verdicts[level])
        others = [text for letter, text in record["options"].items() if letter != record["answer"]]
        assert len(set(others) | {right}) == 4
        other_levels = {
            lv for text in others for lv in LEVELS if any(text.rstrip(".").endswith(v) for v in model.verdicts[lv])
        }
        assert set(LEVELS) - {level} <= other_levels  # distractors describe the other two levels


def test_distractor_states_are_really_false():
    """A distractor words a term in a state the image is not in; the factor changes behind it must reach it."""
    for index in range(60):
        f = sample_factors(image_rng(5, "cf", index))
        for name, term in TERMS.items():
            if name == "space":  # worded from the requested state directly
                continue
            for state in ("bad", "fair", "good"):
                assert term.state(counterfactual(f, name, state)) == state, (name, state, f)


# ---- distributions ------------------------------------------------------------------------------------------------
def test_every_level_occurs_for_every_attribute_and_totals_spread(big_annotations):
    records = load(big_annotations, "track_1_train.json")
    for name in ATTRIBUTE_NAMES:
        scores = np.array([r["criteria"][name]["score"] for r in records])
        assert {level_from_score(s) for s in scores} == set(LEVELS), name
        assert 4.8 <= scores.mean() <= 7.6, name
    totals = np.array([r["total_score"] for r in records])
    assert 0.8 <= np.mean((totals >= 40) & (totals <= 85))
    assert totals.std() > 6
    # Creativity is mostly noise; Sharpness is mostly the blur factor.
    factors = load(big_annotations, "lab_factors.json")
    blur = np.array([factors[r["image_path"]]["global_blur"] for r in records])
    sharp = np.array([r["criteria"]["Sharpness"]["score"] for r in records])
    assert np.corrcoef(blur, sharp)[0, 1] < -0.8


def test_reasons_cite_the_driving_factor(big_annotations):
    records = load(big_annotations, "track_1_train.json")
    factors = load(big_annotations, "lab_factors.json")
    # A head cut beyond a trim (a fifth of the head or more) is a fault: a Poor reason cites it.
    heads = [r for r in records if factors[r["image_path"]]["crop"] == "head"
             and factors[r["image_path"]]["crop_amount"] >= 0.2 and r["criteria"]["Subject Integrity"]["score"] < 5]
    assert heads, "some head crops must score Poor on Subject Integrity"
    for record in heads:
        reason = record["criteria"]["Subject Integrity"]["reason"]
        assert "head" in reason and "top edge" in reason
    blurred = [r for r in records if factors[r["image_path"]]["global_blur"] > 2.5]
    assert blurred and all(r["criteria"]["Sharpness"]["score"] < 5 for r in blurred)


PEOPLE_IN_REASON = ((re.compile(r"a group of (\d) people|with (\d) figures side by side", re.IGNORECASE), None),
                    (re.compile(r"a single subject gives|there is only one person", re.IGNORECASE), 1),
                    (re.compile(r"a second person beside the subject|two people share the frame", re.IGNORECASE), 2))


def test_the_people_a_reason_counts_are_the_people_in_the_frame(big_annotations):
    """A reason never counts people the picture does not show: every companion's head is inside the frame."""
    records = load(big_annotations, "track_1_train.json")
    factors = load(big_annotations, "lab_factors.json")
    counted = Counter()
    for record in records:
        scene = Factors.from_dict(factors[record["image_path"]])
        heads = [(scene.subject_x, scene.subject_y), *((x, y) for x, y, _ in companion_layout(scene))]
        in_frame = sum(0.0 <= x <= 1.0 and 0.0 <= y <= 1.0 for x, y in heads)
        assert in_frame == len(heads) == scene.n_people, (record["image_path"], heads)
        for entry in record["criteria"].values():
            for pattern, number in PEOPLE_IN_REASON:
                if match := pattern.search(entry["reason"]):
                    said = number or int(next(g for g in match.groups() if g))
                    assert said == in_frame, (record["image_path"], entry["reason"], in_frame)
                    counted[said] += 1
    assert counted[1] and counted[3] and counted[4], counted  # the check saw reasons about one person and groups


def test_track2_texts_have_real_lengths_and_state_the_factors(big_annotations):
    records = load(big_annotations, "track_2_train.json")
    factors = load(big_annotations, "lab_factors.json")
    assert list(records[0]) == ["image_path", "content_description", "composition_analysis"]
    for record in records:
        f = Factors.from_dict(factors[record["image_path"]])
        content, analysis = record["content_description"], record["composition_analysis"]
        assert CONTENT_CHARS[0] - 5 <= len(content) <= CONTENT_CHARS[1] + 200
        assert ANALYSIS_CHARS[0] - 5 <= len(analysis) <= ANALYSIS_CHARS[1] + 250
        lower = analysis.lower()
        assert f.placement in lower or (f.placement == "centre" and "centred" in lower)
        assert ("horizon is level" in lower) == (abs(f.horizon_tilt) < 1)
        assert ("shallow depth of field" in lower) == (f.background_blur >= 4)
        assert ("no leading lines" in lower) != f.leading_lines
        assert f.framing in lower and "palette" in lower and "light" in lower
    lengths = [len(r["composition_analysis"]) for r in records]
    assert max(lengths) - min(lengths) > 150  # lengths vary


# ---- factors change pixels ----------------------------------------------------------------------------------------
PLAIN = Factors(aspect="3:2", framing="half-body", subject_x=1 / 3, subject_y=0.4, subject_scale=0.2, gaze="right",
                clutter=0.5, background_blur=0.0, light_direction="front", light_hardness=0.0, scene_seed=11)


def gray(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("L"), dtype=np.float64)


def laplacian_variance(pixels: np.ndarray) -> float:
    lap = -4 * pixels[1:-1, 1:-1] + pixels[:-2, 1:-1] + pixels[2:, 1:-1] + pixels[1:-1, :-2] + pixels[1:-1, 2:]
    return float(lap.var())


def test_global_blur_lowers_sharpness():
    variances = [laplacian_variance(gray(render_scene(PLAIN.replace(global_blur=b)))) for b in (0.0, 1.0, 3.0)]
    assert variances[0] > 2 * variances[1] > 4 * variances[2]


def test_background_blur_softens_the_background_but_not_the_face():
    sharp, soft = (gray(render_scene(PLAIN.replace(background_blur=b))) for b in (0.0, 6.0))
    corner = (slice(0, 60), slice(-120, None))  # top right: sky and props, far from the subject
    assert laplacian_variance(soft[corner]) < 0.3 * laplacian_variance(sharp[corner])
    width, height = PLAIN.size
    cx, cy, h = int(PLAIN.subject_x * width), int(PLAIN.subject_y * height), PLAIN.subject_scale * height
    face = (slice(int(cy - 0.3 * h), int(cy + 0.3 * h)), slice(int(cx - 0.2 * h), int(cx + 0.2 * h)))
    assert np.abs(sharp[face] - soft[face]).mean() < 1.0


def test_exposure_changes_brightness():
    means = [gray(render_scene(PLAIN.replace(exposure=ev))).mean() for ev in (-1.0, 0.0, 1.0)]
    assert means[0] + 20 < means[1] < means[2] - 20


def skin_centroid(f: Factors) -> tuple[float, float]:
    pixels = np.asarray(render_scene(f), dtype=np.int16)
    skin = np.asarray(figure_look(f, 0)["skin"], dtype=np.int16)
    ys, xs = np.nonzero(np.abs(pixels - skin).max(axis=2) <= 2)
    return xs.mean() / pixels.shape[1], ys.mean() / pixels.shape[0]


def test_subject_position_moves_the_figure():
    for x in (0.3, 0.5, 0.7):
        cx, _ = skin_centroid(PLAIN.replace(subject_x=x))
        assert abs(cx - x) < 0.03
    small = PLAIN.replace(subject_scale=0.1)  # head to hands stay inside the frame at both heights
    _, high = skin_centroid(small.replace(subject_y=0.3))
    _, low = skin_centroid(small.replace(subject_y=0.5))
    assert low - high == pytest.approx(0.2, abs=0.02)


def test_light_direction_puts_the_shadow_on_the_far_side():
    def side_balance(direction: str) -> float:
        f = PLAIN.replace(light_direction=direction, light_hardness=0.9, subject_x=0.5, clutter=0.0)
        pixels = gray(render_scene(f))
        width, height = f.size
        cx, cy, h = int(0.5 * width), int(f.subject_y * height), int(f.subject_scale * height)
        torso = pixels[cy + h: cy + 2 * h]
        return torso[:, cx - h // 2: cx].mean() - torso[:, cx: cx + h // 2].mean()

    assert side_balance("left") > 15 and side_balance("right") < -15
    assert abs(side_balance("front")) < 3


def test_horizon_tilt_tilts_the_sky_line():
    def horizon_rows(tilt: float) -> tuple[float, float]:
        f = PLAIN.replace(horizon_tilt=tilt, clutter=0.0, subject_x=0.5, palette="cool")
        pixels = gray(render_scene(f))  # the cool sky is much brighter at the horizon than the ground

        def edge(column: int) -> float:
            steps = np.diff(pixels[:, column]) < -30
            assert steps.any()
            return float(np.argmax(steps))
        return edge(10), edge(f.size[0] - 10)

    left, right = horizon_rows(0.0)
    assert abs(left - right) <= 2
    left, right = horizon_rows(8.0)  # positive tilt rises to the right
    assert left - right > 40


def test_factor_file_re_renders_the_same_image(lab):
    factors = load(lab, "lab_factors.json")
    name = "lab_00003.jpg"
    buffer = io.BytesIO()
    render_scene(Factors.from_dict(factors[name])).save(buffer, "JPEG", quality=JPEG_QUALITY)
    assert buffer.getvalue() == next(lab.glob(f"images_*/{name}")).read_bytes()


def test_sampled_crops_are_what_the_geometry_does():
    kinds = Counter()
    for index in range(400):
        f = sample_factors(image_rng(2, "crops", index))
        kind, amount = f.crop
        kinds[kind] += 1
        top_of_head = f.subject_y + HEAD_TOP * f.subject_scale  # the top of the hair
        assert (kind == "head") == (top_of_head < -0.05 * f.subject_scale)
        assert 0.0 <= amount <= 1.0
    assert set(kinds) == {"none", "head", "joint", "side"} and kinds["none"] > 200


def test_make_record_matches_the_written_files(lab):
    record = make_record(7, "track1", "train", 4, "lab_00004.jpg")
    assert record["record"] == load(lab, "track_1_train.json")[4]


# ---- command line and safety ----------------------------------------------------------------------------------------
def test_demo_data_command_writes_a_lab(tmp_path):
    result = CliRunner().invoke(app, ["demo-data", str(tmp_path / "cli"), "--n-train", "5", "--n-test", "4",
                                      "--n-track2", "2", "--seed", "3", "--annotations-only", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "track_1_train 5" in result.output
    for name in JSON_FILES:
        assert (tmp_path / "cli" / name).is_file()
    assert not list((tmp_path / "cli").glob("images_*"))


def test_refuses_to_overwrite_a_real_download(tmp_path):
    (tmp_path / "track_1_train.json").write_text("[]")
    with pytest.raises(FileExistsError, match="track_1_train.json"):
        write_lab(tmp_path, n_train=1, n_test=0, n_track2_train=0, n_track2_test=0, progress=False)
    result = CliRunner().invoke(app, ["demo-data", str(tmp_path), "--n-train", "1", "--annotations-only"])
    assert result.exit_code == 2 and "refusing" in result.output
