"""experiments/configs: every config builds, and every recorded grid names its fields."""

import importlib
import pathlib

import pytest

FOLDER = pathlib.Path(__file__).parents[1] / "experiments" / "configs"
CONFIGS = sorted(p.stem for p in FOLDER.glob("*.py") if p.stem not in ("__init__", "default"))


@pytest.mark.parametrize("name", CONFIGS)
def test_the_config_builds_and_its_grid_overrides_fields_it_has(name):
  module = importlib.import_module(f"experiments.configs.{name}")
  config = module.get_config()
  assert module.__doc__.lstrip().splitlines()[0], "a config's docstring says what it runs"
  assert f"--config=experiments/configs/{name}.py" in module.__doc__, "and its command"
  for override in getattr(module, "GRID", ()):
    for key in override:
      node = config
      for part in key.split("."):
        assert part in node, f"{name}.GRID sets {key!r}, which the config lacks"
        node = node[part]
