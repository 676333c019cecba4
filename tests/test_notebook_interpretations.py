"""The similar-interpretations notebook runs end to end on generated audio (executed with nbclient)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

NB = Path(__file__).resolve().parent.parent / "notebooks" / "similar_interpretations.ipynb"


@pytest.mark.slow
def test_similar_interpretations_notebook_executes(tmp_path):
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(NB, as_version=4)
    old = os.environ.get("EMBEDSTORE_NB_WORKDIR")
    os.environ["EMBEDSTORE_NB_WORKDIR"] = str(tmp_path)
    try:
        NotebookClient(
            nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
        ).execute()
    finally:
        if old is None:
            os.environ.pop("EMBEDSTORE_NB_WORKDIR", None)
        else:
            os.environ["EMBEDSTORE_NB_WORKDIR"] = old
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    # it plays audio (IPython Audio renders an <audio> element) and shows the before/after map
    html = "".join(o.get("data", {}).get("text/html", "") for o in outputs if "data" in o)
    assert html.count("<audio") >= 3
    assert any("image/png" in o.get("data", {}) for o in outputs if "data" in o)
    assert (tmp_path / "map_before_after.png").stat().st_size > 5000
    assert (tmp_path / "projections" / "dyn" / "model.safetensors").is_file()
