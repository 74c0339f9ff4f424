"""Tests for jaxrec.provenance.code_identity on throw-away git repositories."""

import pathlib
import subprocess

import pytest

from jaxrec import provenance


def _git(root, *args):
  subprocess.run(["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t",
                  *args], check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path):
  """A committed checkout with a library file, a config, a README and an ignored file."""
  files = {"jaxrec/core.py": "x = 1\n", "experiments/configs/a.py": "c = 2\n",
           "README.md": "text\n", ".gitignore": "__pycache__/\n",
           "jaxrec/__pycache__/core.pyc": "compiled"}
  for path, text in files.items():
    (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / path).write_text(text)
  _git(tmp_path, "init", "-q")
  _git(tmp_path, "add", ".")
  _git(tmp_path, "commit", "-q", "-m", "first")
  return tmp_path


def test_clean_checkout(repo):
  identity = provenance.code_identity(repo)
  head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], check=True,
                        capture_output=True, text=True).stdout.strip()
  assert identity["git_commit"] == head
  assert identity["dirty"] is False and identity["num_files"] == 2
  assert len(identity["code_hash"]) == 64
  assert identity["paths"] == ["jaxrec", "experiments/configs"]
  assert set(identity["versions"]) == set(provenance.PACKAGES)
  # Files outside the code paths and ignored files do not enter the identity.
  (repo / "README.md").write_text("changed\n")
  (repo / "jaxrec/__pycache__/core.pyc").write_text("recompiled")
  assert provenance.code_identity(repo)["code_hash"] == identity["code_hash"]
  assert provenance.code_identity(repo)["dirty"] is False


@pytest.mark.parametrize("edit", ["modify", "modify_config", "add_untracked", "delete",
                                  "commit"])
def test_identity_changes_with_the_code(repo, edit):
  before = provenance.code_identity(repo)
  if edit == "modify":
    (repo / "jaxrec/core.py").write_text("x = 2\n")
  elif edit == "modify_config":
    (repo / "experiments/configs/a.py").write_text("c = 3\n")
  elif edit == "add_untracked":
    (repo / "jaxrec/new.py").write_text("y = 1\n")
  elif edit == "delete":
    (repo / "jaxrec/core.py").unlink()
  else:
    (repo / "jaxrec/core.py").write_text("x = 2\n")
    _git(repo, "commit", "-q", "-am", "second")
  after = provenance.code_identity(repo)
  assert after["code_hash"] != before["code_hash"]
  assert after["dirty"] is (edit != "commit")
  assert (after["git_commit"] != before["git_commit"]) is (edit == "commit")


def test_same_content_same_hash_whatever_the_commit(repo):
  before = provenance.code_identity(repo)
  (repo / "README.md").write_text("changed\n")
  _git(repo, "commit", "-q", "-am", "docs only")
  after = provenance.code_identity(repo)
  assert after["code_hash"] == before["code_hash"]
  assert after["git_commit"] != before["git_commit"]


def test_outside_a_checkout_fields_are_none(tmp_path_factory, repo):
  plain = tmp_path_factory.mktemp("plain")
  for root in (plain, repo / "jaxrec"):  # no git; inside a checkout but not its top
    identity = provenance.code_identity(root)
    assert [identity[k] for k in ("code_hash", "dirty", "git_commit", "num_files")] == [
        None] * 4
    assert identity["python"]


def test_default_root_is_the_package_checkout():
  root = pathlib.Path(provenance.__file__).parents[1]
  if not (root / ".git").exists():
    pytest.skip(f"{root} is not a git checkout")
  identity = provenance.code_identity()
  assert len(identity["code_hash"]) == 64 and identity["num_files"] > 10
