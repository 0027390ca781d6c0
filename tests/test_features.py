"""Composition features on controlled lab scenes: change one factor, the matching feature moves the right way."""

from __future__ import annotations

import functools
import os

import numpy as np
import pytest
from PIL import Image

from portraitcraft.features import (
    FEATURE_DOCS,
    FEATURE_NAMES,
    FeatureError,
    compute_features,
    compute_features_of_images,
    detect_faces,
    extract_features,
    spectral_residual,
)
from portraitcraft.lab import Factors, image_rng, render_scene, sample_factors

SIDE = 256


@pytest.fixture(scope="module", autouse=True)
def one_opencv_thread():
    """As in the extraction workers: on a busy machine OpenCV's own threads only slow each call down."""
    import cv2

    before = cv2.getNumThreads()
    cv2.setNumThreads(1)
    yield
    cv2.setNumThreads(before)


@pytest.fixture(scope="module")
def scene() -> Factors:
    """One sampled scene made plain: one person, level horizon, sharp, correctly exposed, few props."""
    base = sample_factors(image_rng(3, "features-test", 0))
    return base.replace(n_people=1, horizon_tilt=0.0, global_blur=0.0, exposure=0.0, clutter=0.1,
                        background_blur=1.0, subject_x=0.5, subject_y=0.35, subject_scale=0.18,
                        framing="half-body", aspect="3:2", leading_lines=False, golden_hour=False,
                        light_direction="left")


@functools.lru_cache(maxsize=None)
def features_of(f: Factors) -> dict[str, float]:
    """Features of a rendered scene; cached, since several tests compare against the same plain scene."""
    return compute_features(render_scene(f, long_side=SIDE))


def test_every_feature_is_documented_and_finite(scene):
    values = features_of(scene)
    assert tuple(values) == FEATURE_NAMES == tuple(FEATURE_DOCS)
    assert all(np.isfinite(v) for v in values.values())


def test_features_are_deterministic(scene):
    image = render_scene(scene, long_side=SIDE)
    assert compute_features(image) == compute_features(image.copy())


def test_blur_lowers_sharpness(scene):
    crisp, soft = features_of(scene), features_of(scene.replace(global_blur=3.0))
    assert soft["sharpness"] < crisp["sharpness"] - 0.5
    assert soft["sharpness_subject"] < crisp["sharpness_subject"]


def test_exposure_moves_brightness_and_clipping(scene):
    dark, normal, bright = (features_of(scene.replace(exposure=ev)) for ev in (-1.5, 0.0, 1.5))
    assert dark["brightness_mean"] < normal["brightness_mean"] < bright["brightness_mean"]
    assert bright["clipped_highlights"] > normal["clipped_highlights"]
    assert dark["brightness_p95"] < normal["brightness_p95"]


@pytest.mark.parametrize("measure", ["subject_cx", "saliency_cx"])
def test_subject_position_follows_the_subject(scene, measure):
    left, right = features_of(scene.replace(subject_x=0.25)), features_of(scene.replace(subject_x=0.75))
    assert left[measure] < 0.5 < right[measure]
    assert right[measure] - left[measure] > 0.2


def test_thirds_distance_is_small_on_a_third(scene):
    on_third, centred = features_of(scene.replace(subject_x=1 / 3)), features_of(scene.replace(subject_x=0.5))
    assert on_third["subject_thirds_dx"] < centred["subject_thirds_dx"]


def test_tilted_horizon_reads_as_tilted(scene):
    level, tilted = features_of(scene), features_of(scene.replace(horizon_tilt=8.0))
    assert tilted["horizon_tilt_abs"] > level["horizon_tilt_abs"] + 4.0
    assert tilted["horizon_tilt"] > 0  # the render's positive tilt rises to the right, as the feature's sign


def test_clashing_palette_is_more_colourful_than_muted(scene):
    muted, clashing = features_of(scene.replace(palette="muted")), features_of(scene.replace(palette="clashing"))
    assert clashing["colourfulness"] > muted["colourfulness"]


def test_a_grey_image_has_no_colour_and_no_lines():
    grey = compute_features(Image.new("RGB", (120, 80), (128, 128, 128)))
    assert grey["colourfulness"] == 0.0 and grey["hue_spread"] == 0.0
    assert grey["line_count"] == 0.0 and grey["edge_density"] == 0.0
    assert grey["aspect_ratio"] == pytest.approx(1.5)


def test_tiny_image_is_refused():
    with pytest.raises(FeatureError):
        compute_features(Image.new("RGB", (8, 8)))


def test_images_measured_in_processes_give_what_one_process_gives(scene):
    """The run loop's batches (decoded images, one too small to measure) in two worker processes: the same
    features, in order, and the small one's error in its place."""
    images = [render_scene(scene.replace(subject_x=x), long_side=SIDE) for x in (0.3, 0.7)]
    images.insert(1, Image.new("RGB", (8, 8)))
    serial, parallel = compute_features_of_images(images), compute_features_of_images(images, n_jobs=2)
    assert serial[0] != serial[2] and [serial[0], serial[2]] == [parallel[0], parallel[2]]
    assert isinstance(serial[1], FeatureError) and str(serial[1]) == str(parallel[1])
    assert "16 x 16" in str(parallel[1])


def test_face_detector_finds_a_real_face(real_sample):
    """The Haar cascade finds a face in a real portrait of the sample (read in place, never copied)."""
    import cv2

    from portraitcraft.images import open_image

    files = sorted((real_sample / "images_00").glob("*.jpg"))
    assert files, f"no images in {real_sample / 'images_00'}"
    for path in files:  # stop at the first face: decoding 6k-pixel photos is the slow part
        gray = cv2.cvtColor(np.asarray(open_image(path, max_side=512)), cv2.COLOR_RGB2GRAY)
        if detect_faces(gray):
            return
    pytest.fail(f"no face found in any of the {len(files)} real sample portraits")


def test_extraction_caches_and_names_missing_files(tmp_path, scene):
    paths = []
    for i, x in enumerate((0.3, 0.7)):
        path = tmp_path / f"img_{i}.jpg"
        render_scene(scene.replace(subject_x=x), long_side=SIDE).save(path, quality=90)
        paths.append(path)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    names = ["a.jpg", "b.jpg", "gone.jpg", "broken.jpg"]
    files = [paths[0], paths[1], None, broken]
    first = extract_features(names, files, max_side=SIDE, cache_dir=tmp_path / "cache")
    assert list(first.frame.index) == ["a.jpg", "b.jpg"]
    assert set(first.failures) == {"gone.jpg", "broken.jpg"}
    assert "broken.jpg" in first.failures["broken.jpg"]
    assert first.computed == 2 and first.cached == 0

    again = extract_features(names[:2], files[:2], max_side=SIDE, cache_dir=tmp_path / "cache")
    assert again.computed == 0 and again.cached == 2
    assert again.frame.equals(first.frame)

    # A changed file is a new cache key: its features are computed afresh.
    render_scene(scene.replace(subject_x=0.5, global_blur=3.0), long_side=SIDE).save(paths[0], quality=90)
    os.utime(paths[0], ns=(1, 1))
    changed = extract_features(names[:2], files[:2], max_side=SIDE, cache_dir=tmp_path / "cache")
    assert changed.computed == 1 and changed.cached == 1
    assert changed.frame.loc["a.jpg", "sharpness"] < first.frame.loc["a.jpg", "sharpness"]


def test_spectral_residual_saliency_peaks_on_the_odd_one_out_and_stays_finite_on_a_flat_frame():
    """A bright disk on a regular stripe pattern stands out; a flat frame has nothing to stand out (no NaN from
    the empty frequencies of its spectrum)."""
    h, w = 96, 128
    yy, xx = np.mgrid[0:h, 0:w]
    stripes = (100 + 40 * np.sin(xx / 2.0)).astype(np.uint8)
    image = np.dstack([stripes] * 3)
    disk = (yy - 30) ** 2 + (xx - 90) ** 2 < 8**2
    image[disk] = 250
    sal = spectral_residual(image)
    assert sal.shape == (h, w) and 0.9 < sal.max() <= 1.0
    peak_y, peak_x = np.unravel_index(int(np.argmax(sal)), sal.shape)
    assert abs(peak_y - 30) < 12 and abs(peak_x - 90) < 12
    flat = spectral_residual(np.full((h, w, 3), 128, np.uint8))
    assert np.isfinite(flat).all() and np.ptp(flat) < 0.01
