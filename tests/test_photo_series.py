"""Chapter 6's one-factor series on a real photograph (scikit-image's public-domain astronaut)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("skimage")

from portraitcraft.book.tables import series_strip, strip_columns  # noqa: E402
from portraitcraft.series_readings import PHOTO_SWEEPS, photo_face, photograph, render_photo_series  # noqa: E402


def test_the_astronaut_series_change_one_thing_at_a_time(tmp_path):
    photo = photograph("astronaut")
    steps, how = render_photo_series(photo, tmp_path, name="astronaut", side=256)
    assert "GrabCut" in how
    assert [(s.factor, s.value) for s in steps] == [(f, v) for f, values in PHOTO_SWEEPS.items() for v in values]
    # The neutral step of tilt, exposure and blur is the photograph as shot; every other step differs from it.
    assert {(s.factor, s.value) for s in steps if s.unchanged} == {("tilt", 0.0), ("exposure", 0.0),
                                                                   ("background_blur", 0.0)}
    pixels = {s.image: np.asarray(Image.open(s.image), dtype=int) for s in steps}
    plain = pixels[next(s for s in steps if s.unchanged).image]
    for s in steps:
        if not s.unchanged:
            assert np.abs(pixels[s.image] - plain).mean() > 1.0, (s.factor, s.value)
    brightness = [pixels[s.image].mean() for s in steps if s.factor == "exposure"]
    assert brightness == sorted(brightness)
    # The face is found and the blur keeps it sharp: the face region changes far less than the background.
    x0, y0, x1, y1 = (int(v * 256 / 512) for v in photo_face(photo))
    blurred = pixels[next(s for s in steps if s.factor == "background_blur" and s.step == 3).image]
    face_change = np.abs(blurred[y0:y1, x0:x1] - plain[y0:y1, x0:x1]).mean()
    assert face_change < 0.5 * np.abs(blurred - plain).mean()


def test_strips_never_leave_one_picture_alone_on_a_row():
    assert [strip_columns(n) for n in (2, 3, 4, 5, 6, 7)] == [2, 3, 2, 3, 3, 4]
    assert all(n % strip_columns(n) != 1 for n in range(2, 12))


def test_a_photo_strip_links_each_picture_to_its_full_size(tmp_path):
    steps, _ = render_photo_series(photograph("astronaut"), tmp_path, name="astronaut", side=128)
    html = series_strip([s for s in steps if s.factor == "tilt"], None, image_side=128)
    assert html.count("<figure id='pc-astronaut-tilt-") == 4 and html.count("href='#pc-astronaut-tilt-") == 4
    assert "repeat(2,1fr)" in html and "tilt = 10" in html
