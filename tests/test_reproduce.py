"""experiments.reproduce: its studies are the committed ones, made by its commands."""

import json
import re
import types

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


def test_is_current_reads_every_code_hash_and_stale_runs(tmp_path):
  path = tmp_path / "study.json"
  assert not reproduce.is_current(path, "abc")  # missing
  path.write_text('{"code": {"code_hash": "abc"')
  assert not reproduce.is_current(path, "abc")  # cut short
  path.write_text(json.dumps({"code": {"code_hash": "abc"}, "stale_runs": []}))
  assert reproduce.is_current(path, "abc")
  assert not reproduce.is_current(path, "def")
  assert not reproduce.is_current(path, None)  # not a git checkout: nothing is current
  path.write_text(json.dumps({"code": {"code_hash": "abc"}, "stale_runs": [{"seed": 0}]}))
  assert not reproduce.is_current(path, "abc")
  # a study scored on runs of older code
  path.write_text(json.dumps({"code": {"code_hash": "abc"},
                              "seeds": {"0": {"run": {"code": {"code_hash": "old"}}}}}))
  assert not reproduce.is_current(path, "abc")


def test_the_committed_studies_are_current_on_their_own_code(monkeypatch, capsys):
  committed = json.loads((reproduce.ROOT / reproduce.STEPS[0].out).read_text())
  monkeypatch.setattr(reproduce.provenance, "code_identity",
                      lambda root: {"code_hash": committed["code"]["code_hash"]})
  assert reproduce.main(["--root=/runs", "--dry_run"]) == 0
  assert capsys.readouterr().out.splitlines() == [f"current: {step.out}"
                                                  for step in reproduce.STEPS]


def test_dry_run_prints_the_stale_streams_commands_with_runs_under_the_code(monkeypatch,
                                                                           capsys):
  monkeypatch.setattr(reproduce.provenance, "code_identity",
                      lambda root: {"code_hash": "new0123456789"})
  monkeypatch.setattr(reproduce.subprocess, "run", lambda *a, **k: pytest.fail("ran"))
  assert reproduce.main(["--root=/runs", "--streams=lastfm", "--dry_run"]) == 0
  lines = capsys.readouterr().out.splitlines()
  expected = [" ".join(c[1:]) for step in reproduce.STEPS if step.stream == "lastfm"
              for c in reproduce.commands(step, "/runs/new012345678")]
  assert lines == ["+ python " + line for line in expected]
  assert any("--root=/runs/new012345678/lastfm_final" in line for line in lines)
  assert not any("{root}" in line or "ml100k" in line for line in lines)


@pytest.mark.parametrize("returncode,writes,expected", [(1, False, 1), (0, False, 1),
                                                        (0, True, 0)])
def test_a_step_must_leave_its_study_current(monkeypatch, tmp_path, returncode, writes,
                                             expected):
  """A failing command, or one that leaves the study of older code, stops the
  reproduction with status 1; otherwise the tables are rewritten last."""
  monkeypatch.setattr(reproduce, "ROOT", tmp_path)
  monkeypatch.setattr(reproduce, "STEPS", (reproduce.Step("ml100k", "s.json", (("x",),)),))
  monkeypatch.setattr(reproduce.provenance, "code_identity", lambda root: {"code_hash": "new"})
  ran = []

  def run(command, **kwargs):
    ran.append(command[2])
    if writes:
      (tmp_path / "s.json").write_text(json.dumps({"code": {"code_hash": "new"}}))
    return types.SimpleNamespace(returncode=returncode)

  monkeypatch.setattr(reproduce.subprocess, "run", run)
  assert reproduce.main(["--root=/runs"]) == expected
  assert ran == (["x", "experiments.tables"] if expected == 0 else ["x"])
