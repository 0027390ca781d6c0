"""One OpenCV: the check that stops a run when two distributions share ``cv2`` or the one installed lacks the
detectors, tried in a real environment where pip installs a peer that pulls another OpenCV distribution."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from portraitcraft.opencv import OpenCVError, check_distributions, import_cv2, installed_distributions

# `make install` keeps the wheel of a second OpenCV distribution here (tests use no network).
PEER_WHEELS = Path(sys.prefix) / "opencv-peer"


def test_the_installed_opencv_is_the_one_distribution_the_features_need():
    assert list(installed_distributions()) == ["opencv-python-headless"]
    cv2 = import_cv2()
    assert int(cv2.__version__.split(".")[0]) == 4


def test_two_distributions_stop_with_one_line_naming_both_and_the_repair():
    with pytest.raises(OpenCVError) as caught:
        check_distributions({"opencv-python-headless": "4.14.0.94", "opencv-contrib-python-headless": "4.14.0.94"})
    message = str(caught.value)
    assert "\n" not in message
    assert "opencv-python-headless 4.14.0.94 and opencv-contrib-python-headless 4.14.0.94" in message
    assert message.endswith("pip uninstall -y opencv-contrib-python-headless && "
                            "pip install --force-reinstall --no-deps 'opencv-python-headless>=4.14,<5'")


def peer_wheel(folder: Path) -> Path:
    """A minimal wheel of a tool that asks for ``opencv-python`` (the GUI build), as tools beside this one do."""
    wheel = folder / "photo_peer-1.0-py3-none-any.whl"
    info = "photo_peer-1.0.dist-info"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("photo_peer/__init__.py", "")
        archive.writestr(f"{info}/METADATA",
                         "Metadata-Version: 2.1\nName: photo-peer\nVersion: 1.0\nRequires-Dist: opencv-python\n")
        archive.writestr(f"{info}/WHEEL",
                         "Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        archive.writestr(f"{info}/RECORD", "")
    return wheel


@pytest.mark.slow
def test_a_peer_that_pulls_another_opencv_is_named_with_its_repair_in_a_real_environment(tmp_path, small_lab):
    """pip installs a peer tool, which pulls opencv-python 5.1 beside our opencv-python-headless 4.14; assess stops
    before any image with one line naming both and the repair; after the repair it scores the photos."""
    wheels = sorted(PEER_WHEELS.glob("opencv_python-*.whl"))
    if not wheels:
        pytest.skip(f"no second OpenCV wheel in {PEER_WHEELS} (`make install` downloads it)")
    from portraitcraft.baseline import train_on_dataset

    model_dir = tmp_path / "baseline.model"
    train_on_dataset(small_lab, model_dir, max_side=96, grid="linear")
    photos = tmp_path / "photos"
    photos.mkdir()
    for source in sorted((small_lab / "images_00").glob("*.jpg"))[:2]:
        shutil.copy(source, photos / source.name)

    # A new environment that sees this one's packages after its own (site.addsitedir runs the editable install's
    # hook), so what pip installs into it comes first, as in one site-packages folder.
    env = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
    python = env / "bin" / "python"
    own = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                              capture_output=True, text=True, check=True).stdout.strip())
    (own / "_parent_env.pth").write_text(f"import site; site.addsitedir({sysconfig.get_path('purelib')!r})\n")
    links = tmp_path / "wheels"
    links.mkdir()
    peer_wheel(links)
    pip = [sys.executable, "-m", "pip", "--python", str(python), "--disable-pip-version-check"]
    subprocess.run([*pip, "install", "--quiet", "--no-index", "--find-links", str(links), "--find-links",
                    str(PEER_WHEELS), "photo-peer"], check=True)
    assess = [str(python), "-m", "portraitcraft.cli", "assess", str(photos), "--model-dir", str(model_dir),
              "--no-progress", "--out", "-"]

    broken = subprocess.run(assess, capture_output=True, text=True)
    assert broken.returncode == 2, broken.stderr
    assert "Traceback" not in broken.stderr and broken.stdout == ""
    (line,) = broken.stderr.strip().splitlines()
    assert "opencv-python-headless 4.14" in line and "opencv-python 5.1" in line
    assert "pip uninstall -y opencv-python && pip install --force-reinstall --no-deps" in line

    # What the imported cv2 (OpenCV 5's) lacks is named too, when it is the only one.
    lacking = subprocess.run([str(python), "-c", "import cv2\nfrom portraitcraft.opencv import check_module\n"
                              "check_module(cv2, {'opencv-python': cv2.__version__})"], capture_output=True, text=True)
    assert "OpenCVError: OpenCV 5.1.0 (from opencv-python 5.1.0) has no CascadeClassifier, HOGDescriptor" in (
        lacking.stderr)

    subprocess.run([*pip, "uninstall", "--quiet", "-y", "opencv-python"], check=True)
    repaired = subprocess.run(assess, capture_output=True, text=True)
    assert repaired.returncode == 0, repaired.stderr
    assert len(repaired.stdout.splitlines()) == 2
