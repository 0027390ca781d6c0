"""The lab audit: every statement of the lab's texts checked against the rendered pictures and their label masks."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from portraitcraft.attributes import ATTRIBUTE_NAMES
from portraitcraft.cli import app
from portraitcraft.data import DataError
from portraitcraft.lab import sample_factors
from portraitcraft.lab.annotate import OVERALL_CAUSES, STATE_LEVEL, TERMS
from portraitcraft.lab.audit import TOLERANCES, audit_lab, cause_state, split_reason
from portraitcraft.lab.factors import Factors, image_rng
from portraitcraft.lab.render import GROUND_LABEL, render_scene, scene_masks


@pytest.fixture(scope="module")
def audit_lab_root(make_lab):
    """Rendered at 512 px, the smallest size the audit accepts (the heads of full-body scenes are measurable)."""
    return make_lab(n_train=16, n_test=6, n_track2_train=2, n_track2_test=2, seed=5, long_side=512)


def test_the_fixture_lab_has_no_contradictions(audit_lab_root):
    report = audit_lab(audit_lab_root)
    assert report.images == 26 and report.statements > 13 * report.images // 2
    assert not report.contradictions, "\n".join(map(str, report.contradictions[:10]))
    # The checks reach the kinds of statement the texts make, not only the cause-and-judgement rule.
    assert {"people", "horizon", "gaze", "palette", "cause and judgement", "natural line"} <= set(report.claims)
    assert set(report.claims) <= set(TOLERANCES)


def plant(root, image: str, attribute: str, reason: str) -> None:
    path = root / "track_1_train.json"
    records = json.loads(path.read_text(encoding="utf-8"))
    record = next(r for r in records if r["image_path"] == image)
    record["criteria"][attribute]["reason"] = reason
    path.write_text(json.dumps(records), encoding="utf-8")


def test_planted_contradictions_are_found_without_the_factors(audit_lab_root, tmp_path):
    root = tmp_path / "lab"
    shutil.copytree(audit_lab_root, root)
    (root / "lab_factors.json").unlink()  # the audit reads the pictures, never the factors
    masks = json.loads((root / "lab_masks.json").read_text(encoding="utf-8"))
    alone = next(name for name, m in masks.items() if len(m["people"]) == 1)
    records = json.loads((root / "track_1_train.json").read_text(encoding="utf-8"))
    assert any(r["image_path"] == alone for r in records)
    crowd = "A group of 4 people of similar size compete for attention, so the eye has no stable centre to rest on."
    plant(root, alone, "Visual Center Stability", crowd)
    mixed = "The level horizon gives the frame a firm base, so the frame feels unstable and unbalanced."
    plant(root, alone, "Structural Support Stability", mixed)
    report = audit_lab(root)
    found = {(c.image, c.kind, c.sentence) for c in report.contradictions}
    assert (alone, "people", crowd) in found
    assert (alone, "cause and judgement", mixed) in found
    assert len(report.contradictions) == 2, report.contradictions
    assert "1 person(s) visible" in next(c.measured for c in report.contradictions if c.kind == "people")
    # The command lists each contradiction with its image and sentence and exits 1.
    result = CliRunner().invoke(app, ["lab-audit", str(root), "--no-progress"])
    assert result.exit_code == 1, result.output
    assert alone in result.output and crowd in result.output and "2 contradiction(s)" in result.output


def test_the_command_passes_a_clean_lab_and_refuses_a_thumbnail_lab(audit_lab_root, small_lab):
    result = CliRunner().invoke(app, ["lab-audit", str(audit_lab_root), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "0 contradiction(s)" in result.output
    # Off a terminal (a log file, a pipe, CI) the default --progress draws no bar either.
    result = CliRunner().invoke(app, ["lab-audit", str(audit_lab_root)])
    assert result.exit_code == 0 and "auditing lab" not in result.output, result.output
    result = CliRunner().invoke(app, ["lab-audit", str(small_lab), "--no-progress"])
    assert result.exit_code == 2 and "too small to audit: under a 512 px long side" in result.output


def test_a_level_horizon_claim_is_measured_on_the_drawn_horizon(tmp_path):
    scene = sample_factors(image_rng(0, "audit", 1), horizon_tilt=6.0, n_people=1)
    masks = scene_masks(scene, long_side=256)
    ground = (masks.labels & GROUND_LABEL) > 0
    assert ground.any() and not ground.all()
    from portraitcraft.lab.audit import Scene, Statement, check_statement

    image = tmp_path / "x.jpg"
    render_scene(scene, long_side=256).save(image)
    measured = Scene(image, masks.labels, masks.to_json())
    assert measured.horizon_angle == pytest.approx(6.0, abs=0.3)
    kinds, found = check_statement(Statement("x.jpg", "test", "The horizon is level, as the reason claims."), measured)
    assert kinds == ["horizon"] and found and "+6" in found[0].measured
    kinds, found = check_statement(Statement("x.jpg", "test", "The horizon is tilted by about 6 degrees, rising to "
                                             "the right."), measured)
    assert kinds == ["horizon"] and not found


def test_the_horizon_angle_is_read_from_the_staircase_s_steps():
    """A horizon drawn 205 px wide that rises one row every 69 columns (the drawn angle 0.83 degrees, a slight
    tilt): the steps give that angle; a straight fit through every column's row gives 0.70 and calls it level."""
    from portraitcraft.lab.audit import Scene

    first = np.repeat([128, 127, 126], [68, 69, 68])
    labels = (np.arange(200)[:, None] >= first[None, :]).astype(np.uint8) * GROUND_LABEL
    assert Scene(None, labels, {"people": []}).horizon_angle == pytest.approx(np.degrees(np.arctan(1 / 69)), abs=0.01)


def test_masks_match_the_picture():
    """The label mask marks the pixels where the picture shows a person: they differ from the empty scene there."""
    scene = Factors(n_people=2, clutter=0.0, background_blur=0.0, scene_seed=4)
    masks = scene_masks(scene, long_side=256)
    people = (masks.labels & (GROUND_LABEL - 1)) > 0
    with_people = np.asarray(render_scene(scene, long_side=256), dtype=int)
    without = np.asarray(render_scene(scene.replace(subject_x=2.0, n_people=1), long_side=256), dtype=int)
    changed = np.abs(with_people - without).sum(axis=2) > 12
    # Nearly every masked pixel differs from the empty scene (some clothing is close to the ground's colour), and
    # nearly every pixel that differs is masked.
    assert (changed & people).sum() / people.sum() > 0.8
    assert (changed & ~people).sum() / max(changed.sum(), 1) < 0.05
    assert [p["area"] > 0 for p in masks.people] == [True, True]


def test_cause_wording_is_read_at_its_state():
    """The audit's reading of a cause's wording agrees with the state the lab wrote it for, for every term."""
    for index in range(150):
        f = sample_factors(image_rng(9, "causes", index))
        for term in TERMS.values():
            state = term.state(f)
            for phrase in term.phrase(f, state):
                assert cause_state(phrase) == state, (term.name, state, phrase)
    for level, causes in OVERALL_CAUSES.items():
        assert all(STATE_LEVEL[cause_state(c)] == level for c in causes)


def test_reasons_split_into_cause_and_verdict(small_lab):
    records = json.loads((small_lab / "track_1_train.json").read_text(encoding="utf-8"))
    for record in records:
        for name in ATTRIBUTE_NAMES:
            assert split_reason(name, record["criteria"][name]["reason"]) is not None


def test_thumbnail_labs_are_refused_saying_why(small_lab):
    with pytest.raises(DataError, match=" px, too small to audit: under a 512 px long side the picture cannot "
                                        r"show what the texts tell apart as finely as the audit checks it \(a level "
                                        "horizon from a 1-degree tilt"):
        audit_lab(small_lab)


def test_an_annotations_only_lab_cannot_be_audited(tmp_path):
    from portraitcraft.lab import write_lab

    write_lab(tmp_path / "json", n_train=3, n_test=0, n_track2_train=0, n_track2_test=0, annotations_only=True,
              progress=False)
    with pytest.raises(DataError, match="label masks"):
        audit_lab(tmp_path / "json")
    # A typo'd or wrong path is named as such, not as a lab without masks.
    result = CliRunner().invoke(app, ["lab-audit", str(tmp_path / "jsn"), "--no-progress"])
    assert result.exit_code == 2 and result.output.strip() == f"error: {tmp_path / 'jsn'}: no such folder"
    result = CliRunner().invoke(app, ["lab-audit", str(tmp_path / "json" / "track_1_train.json"), "--no-progress"])
    assert result.exit_code == 2 and result.output.strip().endswith("track_1_train.json: not a folder")


def test_label_masks_are_written_beside_the_images(small_lab):
    extents = json.loads((small_lab / "lab_masks.json").read_text(encoding="utf-8"))
    factors = json.loads((small_lab / "lab_factors.json").read_text(encoding="utf-8"))
    assert set(extents) == set(factors)
    name = next(iter(extents))
    with Image.open(small_lab / "lab_masks" / name.replace(".jpg", ".png")) as mask:
        assert list(mask.size) == extents[name]["size"]
    assert len(extents[name]["people"]) == factors[name]["n_people"]
