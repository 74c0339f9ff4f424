"""The README's code runs as written."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_readme_meta_learning_example_runs(capsys):
  readme = (ROOT / "README.md").read_text()
  code = re.search(r"```python\n(.*?)```", readme, re.S).group(1)
  exec(compile(code, "README.md", "exec"), {})  # pylint: disable=exec-used
  before, after = map(float, capsys.readouterr().out.split("->"))
  assert after < before  # three inner steps on the new task's support set help


def test_ci_runs_the_readme_test_line():
  lines = (ROOT / "README.md").read_text().splitlines()
  marker = lines.index("<!-- test-command -->")
  assert lines[marker + 1] == "```bash"
  assert "pytest" in lines[marker + 2]
  assert "<!-- test-command -->" in (ROOT / ".ci" / "run").read_text()
