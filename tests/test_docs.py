"""docs/api.md's examples run as they are, in order, on the synthetic corpus they make."""

from __future__ import annotations

import re

import pytest

from tests.conftest import ROOT


def test_api_examples_run(tmp_path, monkeypatch):
    pytest.importorskip("torch", reason="the pretraining example needs PyTorch: pip install '.[torch]'")
    text = (ROOT / "docs" / "api.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) >= 10
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    for i, block in enumerate(blocks):
        try:
            exec(compile(block, f"docs/api.md, example {i + 1}", "exec"), scope)
        except Exception as e:  # name the example that broke
            raise AssertionError(f"docs/api.md example {i + 1} failed: {type(e).__name__}: {e}\n{block}") from e
    assert scope["results"].num_rows == 2 * 3 * 1  # conditions x folds x seeds
    assert scope["labelled"].column("label_source").null_count < scope["labelled"].num_rows
