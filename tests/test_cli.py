"""Tests for the command-line entry points' bad-input errors (experiments._cli).

Each entry point runs as ``python -m experiments.X`` from the repository root with
``JAXREC_DATA_DIR`` set to an empty folder; every bad input fails before any
training.
"""

import os
import pathlib
import subprocess
import sys

import pytest

from experiments import _cli

ROOT = pathlib.Path(__file__).resolve().parents[1]
CONFIG = "experiments/configs/maml_synthetic.py"


def run_module(module, args, tmp_path, **env):
  """Runs ``python -m experiments.<module> *args``; returns the CompletedProcess."""
  data_dir = tmp_path / "data"
  data_dir.mkdir(exist_ok=True)
  environ = {k: v for k, v in os.environ.items() if k != _cli.TRACEBACK_ENV}
  environ.update(JAXREC_DATA_DIR=str(data_dir), **env)
  return subprocess.run([sys.executable, "-m", f"experiments.{module}", *args],
                        cwd=ROOT, env=environ, capture_output=True, text=True,
                        timeout=300, check=False)


def bad_ratings(tmp_path):
  path = tmp_path / "me.csv"
  path.write_text("item,rating\n1,4\n2,abc\n")
  return path


# (entry point, arguments from tmp_path, text the error line must hold)
BAD_INPUTS = {
  "meta_train-missing-config": (
      "meta_train", lambda t: ["--config=nope/missing.py", f"--workdir={t / 'run'}",
                               "--config.seed=1"],
      "--config: config file nope/missing.py not found"),
  "meta_train-unknown-dataset": (
      "meta_train", lambda t: [f"--config={CONFIG}", f"--workdir={t / 'run'}",
                               "--config.data.dataset=no-such-set"],
      "unknown dataset 'no-such-set'"),
  "meta_train-unknown-field": (
      "meta_train", lambda t: [f"--config={CONFIG}", f"--workdir={t / 'run'}",
                               "--config.no_such_field=1"],
      "unknown config field in a --<config>.<field> override: 'no_such_field'"),
  "evaluate-missing-workdir": (
      "evaluate", lambda t: [f"--workdir={t / 'nowhere'}"],
      f"config.json not found: is {{tmp}}{os.sep}nowhere a meta_train workdir?"),
  "recommend-bad-rating": (
      "recommend", lambda t: [f"--workdir={t / 'nowhere'}",
                              f"--ratings={bad_ratings(t)}"],
      "me.csv:3: rating 'abc' is not a number"),
  "run_all-missing-config": (
      "run_all", lambda t: ["--configs=nope/missing.py", f"--root={t / 'root'}"],
      "config file nope/missing.py not found"),
}
# One bad input per entry point for the traceback checks.
TRACEBACK_CASES = ["meta_train-missing-config", "evaluate-missing-workdir",
                   "recommend-bad-rating", "run_all-missing-config"]


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_prints_one_error_line(case, tmp_path):
  module, args, expected = BAD_INPUTS[case]
  result = run_module(module, args(tmp_path), tmp_path)
  assert result.returncode == _cli.USAGE_ERROR, result.stderr
  assert "Traceback" not in result.stderr
  errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
  assert len(errors) == 1, result.stderr
  assert expected.format(tmp=tmp_path) in errors[0]


@pytest.mark.parametrize("case", TRACEBACK_CASES)
def test_traceback_flag_shows_the_traceback(case, tmp_path):
  module, args, _ = BAD_INPUTS[case]
  result = run_module(module, [*args(tmp_path), "--traceback"], tmp_path)
  assert result.returncode != 0
  assert "Traceback (most recent call last):" in result.stderr
  assert not any(line.startswith("error: ") for line in result.stderr.splitlines())


def test_missing_required_flag_is_one_error_line(tmp_path):
  result = run_module("evaluate", [], tmp_path)
  assert result.returncode == _cli.USAGE_ERROR
  assert "Traceback" not in result.stderr
  assert result.stderr.strip().splitlines()[-1] == (
      "error: flag --workdir=None: Flag --workdir must have a value other than None.")


def test_wants_traceback(monkeypatch):
  monkeypatch.delenv(_cli.TRACEBACK_ENV, raising=False)
  assert not _cli.wants_traceback(["prog", "--workdir=x"])
  assert not _cli.wants_traceback(["prog", "--traceback=false"])
  assert _cli.wants_traceback(["prog", "--traceback"])
  assert _cli.wants_traceback(["prog", "--traceback=True"])
  monkeypatch.setenv(_cli.TRACEBACK_ENV, "0")
  assert not _cli.wants_traceback(["prog"])
  monkeypatch.setenv(_cli.TRACEBACK_ENV, "1")
  assert _cli.wants_traceback(["prog"])


def test_one_line():
  assert _cli.one_line(ValueError("a\n  b\n")) == "a; b"
  assert _cli.one_line(KeyError("'x'\nDid you mean 'y'?")) == "'x'; Did you mean 'y'?"
  quoted = ("flag --c=f.py: Error whilst parsing config file:\n\n"
            "Traceback (most recent call last):\n  File \"f.py\", line 1\n"
            "TypeError: get_config() takes 0 positional arguments\n")
  assert _cli.one_line(ValueError(quoted)) == (
      "flag --c=f.py: Error whilst parsing config file: "
      "TypeError: get_config() takes 0 positional arguments")
  assert _cli.one_line(FileNotFoundError()) == "FileNotFoundError"


def test_exit_on_bad_input(monkeypatch, capsys):
  monkeypatch.delenv(_cli.TRACEBACK_ENV, raising=False)
  with pytest.raises(SystemExit) as exit_info:
    with _cli.exit_on_bad_input(["prog"]):
      raise FileNotFoundError("ratings file me.csv not found")
  assert exit_info.value.code == _cli.USAGE_ERROR
  assert capsys.readouterr().err == "error: ratings file me.csv not found\n"
  with pytest.raises(ValueError, match="bad"):
    with _cli.exit_on_bad_input(["prog", "--traceback"]):
      raise ValueError("bad")
  with pytest.raises(RuntimeError):  # a bug, not bad input: always its traceback
    with _cli.exit_on_bad_input(["prog"]):
      raise RuntimeError("bug")


def test_check_config_files(tmp_path):
  config = tmp_path / "c.py"
  config.write_text("def get_config(arg=None):\n  return None\n")
  _cli.check_config_files(["prog", f"--config={config}:arg", "--other=x"], ["config"])
  _cli.check_config_files(["prog", "--config", str(config)], ["config"])
  with pytest.raises(FileNotFoundError, match="--config: config file .*nope.py not found"):
    _cli.check_config_files(["prog", "--config", str(tmp_path / "nope.py")], ["config"])
  _cli.check_config_files(["prog", "--config=nope.py"], [])  # not a config flag here


# Every entry point imported in one process, then flags parsed: entry points that
# read the same flag name share one flag, so each holder reads the parsed value.
_IMPORT_ALL = """
import importlib, pkgutil, sys
import experiments
from absl import flags
modules = {m.name: importlib.import_module(f"experiments.{m.name}")
           for m in pkgutil.iter_modules(experiments.__path__)}
flags.FLAGS(["prog", "--seeds=3,4", "--out=o.json", "--runs=r", "--workdir=w",
             "--config=experiments/configs/maml_synthetic.py", "--final_runs=f",
             "--baselines=b"])
print(modules["ranking_check"]._SEEDS.value, modules["zero_ratings_run"]._SEEDS.value,
      modules["zero_ratings_run"]._OUT.value, modules["profile_curves"]._RUNS.value,
      modules["evaluate"]._WORKDIR.value, modules["recommend"]._WORKDIR.value,
      modules["meta_train"]._WORKDIR.value, modules["ranking_check"]._CONFIG.name,
      modules["ranking_check"]._CONFIG.value.model.name,
      modules["meta_train"]._CONFIG.value.model.name)
try:
  modules["_cli"].define(flags.DEFINE_integer, "seeds", 0, "Another type.")
except ValueError as e:
  print(e)
"""


def test_every_entry_point_imports_in_one_process_and_shares_its_flags():
  """A test process imports several entry points; absl refuses a flag name defined
  twice unless the entry points define them through ``_cli.define``."""
  result = subprocess.run([sys.executable, "-c", _IMPORT_ALL], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, check=False)
  assert result.returncode == 0, result.stderr
  lines = result.stdout.splitlines()
  assert lines[0].split() == ["['3',", "'4']", "['3',", "'4']", "o.json", "r", "w", "w", "w",
                              "config", "melu", "melu"]
  assert lines[1] == "flag --seeds is defined twice with different types"
