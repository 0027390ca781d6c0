"""Progress bars only where someone watches: on a terminal, asked for, and not turned off by TQDM_DISABLE."""

from __future__ import annotations

import fcntl
import io
import os
import pty
import struct
import subprocess
import sys
import termios

import pytest

from portraitcraft.progress import bars_shown, progress_bar, quiet_library_bars


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("terminal", "requested", "tqdm_disable", "shown"), [
    (True, True, None, True), (False, True, None, False), (True, False, None, False), (True, True, "1", False),
    (True, True, "0", True),
])
def test_bars_are_drawn_only_on_a_terminal_when_asked_and_not_disabled(monkeypatch, terminal, requested,
                                                                        tqdm_disable, shown):
    monkeypatch.setattr(sys, "stderr", Terminal() if terminal else io.StringIO())
    if tqdm_disable is None:
        monkeypatch.delenv("TQDM_DISABLE", raising=False)
    else:
        monkeypatch.setenv("TQDM_DISABLE", tqdm_disable)
    assert bars_shown(requested) is shown
    bar = progress_bar(3, desc="work", enabled=requested)
    bar.update(3)
    bar.close()
    assert ("work" in sys.stderr.getvalue()) is shown


def run_lab(tmp_path, *, on_terminal: bool, extra_env: dict[str, str]) -> str:
    """`portraitcraft demo-data` with standard error on a pseudo-terminal or a pipe; what it wrote there."""
    command = [sys.executable, "-m", "portraitcraft.cli", "demo-data", str(tmp_path / "lab"), "--n-train", "4",
               "--n-test", "2"]
    env = {key: value for key, value in os.environ.items() if key != "TQDM_DISABLE"} | extra_env
    if not on_terminal:
        return subprocess.run(command, capture_output=True, text=True, env=env, check=True).stderr
    main, side = pty.openpty()
    fcntl.ioctl(side, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a terminal 100 columns wide
    try:
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=side, env=env, check=True)
    finally:
        os.close(side)
    chunks = []
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(main)
    return b"".join(chunks).decode(errors="replace")


@pytest.mark.slow
def test_a_command_draws_its_bar_on_a_terminal_only(tmp_path):
    assert "rendering lab" in run_lab(tmp_path / "a", on_terminal=True, extra_env={})
    assert "rendering lab" not in run_lab(tmp_path / "b", on_terminal=False, extra_env={})
    assert "rendering lab" not in run_lab(tmp_path / "c", on_terminal=True, extra_env={"TQDM_DISABLE": "1"})


LONG_COMMANDS = [["book"], ["predict"], ["assess"], ["export"], ["demo-data"], ["finetune"], ["lab-audit"],
                 ["baseline", "train"], ["baseline", "predict"], ["track2", "generate"], ["track2", "finetune"]]


@pytest.mark.parametrize("command", LONG_COMMANDS, ids=" ".join)
def test_every_long_command_can_turn_its_bars_off(command):
    from typer.testing import CliRunner

    from portraitcraft.cli import app

    result = CliRunner().invoke(app, [*command, "--help"], terminal_width=200)
    assert result.exit_code == 0 and "--no-progress" in result.output, command


def test_library_bars_follow_ours_and_no_library_is_imported_to_be_silenced(monkeypatch):
    transformers_logging = pytest.importorskip("transformers.utils.logging")
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    monkeypatch.setattr(sys, "stderr", Terminal())
    transformers_logging.enable_progress_bar()
    quiet_library_bars(True)  # on a terminal, asked for: the library's bars stay
    assert transformers_logging.is_progress_bar_enabled()
    quiet_library_bars(False)  # --no-progress
    assert not transformers_logging.is_progress_bar_enabled()
    transformers_logging.enable_progress_bar()
    check = ("import sys; from portraitcraft.progress import quiet_library_bars; quiet_library_bars(False); "
             "print(sorted(m for m in ('transformers', 'diffusers', 'huggingface_hub', 'datasets') "
             "if m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True).stdout == "[]\n"
