"""Run records (portraitcraft.provenance): strict JSON written atomically, fingerprints, versions."""

from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from portraitcraft.provenance import file_sha256, json_safe, package_versions, write_json


def test_json_safe_gives_strict_json():
    value = {1: np.float32(0.5), "nan": math.nan, "inf": -math.inf, "na": pd.NA, "path": Path("a/b"),
             "array": np.array([1, 2]), "tuple": (np.int64(3), None)}
    assert json_safe(value) == {"1": 0.5, "nan": None, "inf": None, "na": None, "path": "a/b", "array": [1, 2],
                                "tuple": [3, None]}


def test_write_json_replaces_the_file_whole_and_leaves_nothing_behind(tmp_path):
    target = tmp_path / "out" / "report.json"
    write_json(target, {"a": math.nan})
    write_json(target, {"b": "é"})
    assert json.loads(target.read_text(encoding="utf-8")) == {"b": "é"}
    assert target.read_text(encoding="utf-8").endswith("}\n")
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.json"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask  # the usual permissions, not a temp file's 0600


class Unprintable:
    def __str__(self) -> str:
        raise ValueError("unprintable")


def test_write_json_keeps_the_old_file_when_the_payload_cannot_be_written(tmp_path):
    target = tmp_path / "report.json"
    write_json(target, {"a": 1})
    with pytest.raises(ValueError, match="unprintable"):
        write_json(target, {"a": Unprintable()})
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_fingerprints_and_versions(tmp_path):
    (tmp_path / "f").write_bytes(b"abc")
    assert file_sha256(tmp_path / "f") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert package_versions(["numpy", "no-such-distribution"]) == {
        "numpy": np.__version__,
        "no-such-distribution": None,
    }
    assert list(package_versions(["numpy"], with_python=True)) == ["python", "numpy"]
