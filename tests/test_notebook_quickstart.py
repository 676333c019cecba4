"""The quickstart notebook runs end to end on generated audio (executed with nbclient)."""

from __future__ import annotations

from pathlib import Path

import pytest

NB = Path(__file__).resolve().parent.parent / "notebooks" / "quickstart.ipynb"


def run_notebook(path: Path, tmp_path: Path, env: dict | None = None, timeout: int = 600):
    import os

    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    old = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})
    try:
        NotebookClient(
            nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
        ).execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return nb


@pytest.mark.slow
def test_quickstart_notebook_executes(tmp_path):
    nb = run_notebook(NB, tmp_path, env={"EMBEDSTORE_NB_WORKDIR": str(tmp_path)})
    errors = [
        o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"
    ]
    assert not errors
    assert (tmp_path / "similarity.png").stat().st_size > 5000
