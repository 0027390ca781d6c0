"""Data-parallel prediction on the CPU: `predict --shard I/N` runs, each its own resumable file, and `merge`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from typer.testing import CliRunner

from portraitcraft.cli import app
from portraitcraft.predictions import read_predictions
from portraitcraft.runners import split_items
from portraitcraft.runners.shards import (
    ShardError,
    merge_shard_files,
    parse_shard,
    shard_items,
)
from portraitcraft.sources import open_dataset


@pytest.fixture(scope="module")
def lab(small_lab) -> Path:
    return small_lab  # 8 test images


def lines_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_shards_partition_the_split_by_image_name(lab):
    items = split_items(open_dataset(lab), "test")
    shards = [shard_items(items, i, 3) for i in range(3)]
    names = [[item.image_path for item in shard] for shard in shards]
    assert sorted(n for shard in names for n in shard) == sorted(i.image_path for i in items)  # each image once
    assert all(shard == [i.image_path for i in items if i.image_path in shard] for shard in names)  # split order
    # A property of the name alone: the same shards from the list in another order, or cut by --limit.
    again = [[item.image_path for item in shard_items(items[::-1], i, 3)] for i in range(3)]
    assert [sorted(s) for s in again] == [sorted(s) for s in names]
    assert [i.image_path for i in shard_items(items[:3], 1, 3)] == [n for n in names[1] if n in
                                                                    {i.image_path for i in items[:3]}]
    assert parse_shard("2/4") == (2, 4)
    for bad in ("4/4", "-1/4", "1", "a/b", "0/0"):
        with pytest.raises(ShardError, match="expected I/N"):
            parse_shard(bad)


def test_predict_shards_then_merge(lab, tiny_model, tmp_path):
    runner = CliRunner()
    common = ["predict", "--data", str(lab), "--model", str(tiny_model), "--protocol", "score", "--no-progress",
              "--batch-size", "2"]
    files = []
    for i in range(2):
        files.append(tmp_path / f"shard{i}.jsonl")
        result = runner.invoke(app, [*common, "--shard", f"{i}/2", "--out", str(files[i])])
        assert result.exit_code == 0, result.output
    order = [i.image_path for i in split_items(open_dataset(lab), "test")]
    per_shard = [[r["image_path"] for r in lines_of(f)] for f in files]
    assert sorted(per_shard[0] + per_shard[1]) == sorted(order) and per_shard[0] and per_shard[1]
    assert {r["run"]["config_hash"] for f in files for r in lines_of(f)} == {
        lines_of(files[0])[0]["run"]["config_hash"]
    }

    merged = tmp_path / "merged.jsonl"
    result = runner.invoke(app, ["merge", *map(str, files), "--out", str(merged), "--data", str(lab)])
    assert result.exit_code == 0, result.output
    assert "8 record(s) (8 ok, 0 failed)" in result.output
    records = lines_of(merged)
    assert [r["image_path"] for r in records] == order  # the split's order
    by_name = {r["image_path"]: r for f in files for r in lines_of(f)}
    assert records == [by_name[name] for name in order]  # the shards' records, unchanged
    assert len(read_predictions(merged)) == 8

    # Refused: an existing output, an image twice, another configuration, a torn file, another split.
    def refused(paths, out, expected=None, match=""):
        with pytest.raises(ShardError, match=match):
            merge_shard_files(paths, out, expected)

    refused(files, merged, match="already exists")
    refused([files[0], files[0]], tmp_path / "twice.jsonl", match="recorded twice")
    other = tmp_path / "other.jsonl"
    rows = lines_of(files[1])
    rows[-1]["run"]["config_hash"] = "0123456789abcdef"
    other.write_text("".join(json.dumps(r) + "\n" for r in rows))
    refused([files[0], other], tmp_path / "mixed.jsonl", match="configuration 0123456789abcdef")
    torn = tmp_path / "torn.jsonl"
    torn.write_bytes(files[1].read_bytes()[:-30])
    refused([files[0], torn], tmp_path / "torn-merged.jsonl", match="incomplete.*rerun")
    result = runner.invoke(app, ["merge", *map(str, files), "--out", str(tmp_path / "train.jsonl"), "--data", str(lab),
                                 "--split", "train"])
    assert result.exit_code == 2 and "not in the split" in result.output
    assert not (tmp_path / "twice.jsonl").exists() and not (tmp_path / "train.jsonl").exists()

    # One shard alone: merged, the missing images listed (exit 1); `predict --out MERGED` completes the file.
    partial = tmp_path / "partial.jsonl"
    result = runner.invoke(app, ["merge", str(files[0]), "--out", str(partial), "--data", str(lab)])
    assert result.exit_code == 1, result.output
    assert f"missing images ({len(per_shard[1])})" in result.output
    assert all(name in result.output for name in per_shard[1])
    result = runner.invoke(app, [*common, "--out", str(partial)])
    assert result.exit_code == 0, result.output
    assert f"{len(per_shard[0])} of 8 already done" in result.output
    assert sorted(r["image_path"] for r in lines_of(partial)) == sorted(order)
