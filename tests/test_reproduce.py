"""experiments.reproduce: its studies are the committed ones, made by its commands."""

import json
import re

import pytest

from experiments import reproduce


def _pattern(arg: str) -> str:
  """A regex of one command argument, ``{root}`` matching any root."""
  return re.escape(arg).replace(re.escape("{root}"), "(?P<root>.+)")


def test_every_committed_study_is_one_step_whose_command_wrote_it():
  """Each committed JSON under experiments/results/ is the ``out`` of exactly one
  step, and the command it records is that step's last command (some root for
  ``{root}``, the same in every argument)."""
  committed = sorted(p.relative_to(reproduce.ROOT).as_posix()
                     for p in (reproduce.ROOT / reproduce.R).glob("*/*.json"))
  assert sorted(step.out for step in reproduce.STEPS) == committed
  for step in reproduce.STEPS:
    recorded = json.loads((reproduce.ROOT / step.out).read_text())["command"].split()
    last = ("python", "-m", *step.commands[-1])
    assert len(recorded) == len(last), step.out
    roots = set()
    for theirs, ours in zip(recorded, last):
      match = re.fullmatch(_pattern(ours), theirs)
      assert match, (step.out, theirs, ours)
      roots.update(v for k, v in match.groupdict().items() if k == "root")
    assert len(roots) <= 1, (step.out, roots)
    out = [arg.split("=", 1)[1] for arg in step.commands[-1] if arg.startswith("--out=")]
    assert out in ([step.out], [step.out.rsplit("/", 1)[0]]), step.out  # run_all: a folder


def test_is_current_reads_the_code_hash_and_stale_runs(tmp_path):
  path = tmp_path / "study.json"
  assert not reproduce.is_current(path, "abc")  # missing
  path.write_text(json.dumps({"code": {"code_hash": "abc"}, "stale_runs": []}))
  assert reproduce.is_current(path, "abc")
  assert not reproduce.is_current(path, "def")
  assert not reproduce.is_current(path, None)  # not a git checkout: nothing is current
  path.write_text(json.dumps({"code": {"code_hash": "abc"}, "stale_runs": [{"seed": 0}]}))
  assert not reproduce.is_current(path, "abc")


def test_dry_run_prints_the_stale_streams_commands_and_runs_nothing(monkeypatch, capsys):
  monkeypatch.setattr(reproduce.provenance, "code_identity", lambda root: {"code_hash": "new"})
  monkeypatch.setattr(reproduce.subprocess, "run", lambda *a, **k: pytest.fail("ran"))
  assert reproduce.main(["--root=/runs", "--streams=lastfm", "--dry_run"]) == 0
  lines = capsys.readouterr().out.splitlines()
  expected = [" ".join(c[1:]) for step in reproduce.STEPS if step.stream == "lastfm"
              for c in reproduce.commands(step, "/runs")]
  assert lines == ["+ python " + line for line in expected]
  assert any("--root=/runs/lastfm_final" in line for line in lines)
  assert not any("{root}" in line or "ml100k" in line for line in lines)
