"""One OpenCV, checked before it is used.

OpenCV reaches Python as several distributions on PyPI (``opencv-python``, ``opencv-python-headless`` and their
``contrib`` variants) that all write the same ``cv2`` folder. Installed side by side they overwrite each other's
files without a word from pip (``pip check`` passes), and ``cv2`` becomes whichever was installed last. The
features depend on ``opencv-python-headless`` 4.x, the distribution the tools installed beside this one ask for
(pyiqa, lmms-eval), so that pip settles on one copy for all of them; OpenCV 5 wheels no longer have the Haar
cascade and HOG people detectors the features use.

`import_cv2` checks the installed distributions before importing ``cv2`` (a mixed folder may not even import) and
what the imported module offers; on a problem it raises `OpenCVError` with one line that names the distributions
and the command that repairs the environment.
"""

from __future__ import annotations

import importlib.metadata
from types import ModuleType
from typing import Final

from portraitcraft.exceptions import PortraitCraftError

REQUIRED: Final[str] = "opencv-python-headless>=4.14,<5"
# Every distribution on PyPI that installs the top-level ``cv2`` package.
CV2_DISTRIBUTIONS: Final[tuple[str, ...]] = (
    "opencv-python-headless", "opencv-python", "opencv-contrib-python-headless", "opencv-contrib-python",
    "opencv-python-rolling", "opencv-python-headless-rolling", "opencv-contrib-python-rolling",
    "opencv-contrib-python-headless-rolling",
)
# What the features call that OpenCV 5 (or a trimmed build) may lack.
NEEDED: Final[tuple[str, ...]] = ("CascadeClassifier", "HOGDescriptor", "data")


class OpenCVError(PortraitCraftError, ImportError):
    """The installed OpenCV cannot serve the features; the message says why and how to repair it, in one line."""


def installed_distributions() -> dict[str, str]:
    """Name -> version of every installed distribution that provides ``cv2``."""
    found = {}
    for name in CV2_DISTRIBUTIONS:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def repair_command(installed: dict[str, str]) -> str:
    """The pip command that leaves exactly the required distribution: the others removed, it reinstalled (removing
    one distribution deletes the ``cv2`` files they shared)."""
    others = [name for name in installed if name != "opencv-python-headless"]
    remove = f"pip uninstall -y {' '.join(others)} && " if others else ""
    return f"{remove}pip install --force-reinstall --no-deps '{REQUIRED}'"


def check_distributions(installed: dict[str, str] | None = None) -> None:
    """Raise `OpenCVError` when more than one distribution provides ``cv2``."""
    installed = installed_distributions() if installed is None else installed
    if len(installed) > 1:
        named = " and ".join(f"{name} {version}" for name, version in installed.items())
        raise OpenCVError(f"{named} are installed together and overwrite each other's cv2 folder; keep one: "
                          f"{repair_command(installed)}")


def check_module(cv2: ModuleType, installed: dict[str, str] | None = None, needed: tuple[str, ...] = NEEDED) -> None:
    """Raise `OpenCVError` when the imported ``cv2`` lacks one of the ``needed`` names."""
    missing = [name for name in needed if not hasattr(cv2, name)]
    if missing:
        installed = installed_distributions() if installed is None else installed
        source = ", ".join(f"{name} {version}" for name, version in installed.items()) or "an unregistered copy"
        raise OpenCVError(f"OpenCV {getattr(cv2, '__version__', '?')} (from {source}) has no "
                          f"{', '.join(missing)}, which the features need; install {REQUIRED}: "
                          f"{repair_command(installed)}")


def import_cv2(needed: tuple[str, ...] = NEEDED) -> ModuleType:
    """``cv2``, after checking that one distribution provides it and that it has the ``needed`` names (by default
    what the features call; image measurements that use OpenCV's core only pass none)."""
    installed = installed_distributions()
    check_distributions(installed)
    import cv2

    check_module(cv2, installed, needed)
    return cv2
