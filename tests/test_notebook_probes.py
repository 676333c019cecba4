"""The linear-probe benchmark notebook runs end to end on generated audio (executed with nbclient)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

NB = Path(__file__).resolve().parent.parent / "notebooks" / "linear_probe_benchmark.ipynb"


@pytest.mark.slow
def test_linear_probe_notebook_executes(synth_collection, tmp_path):
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(NB, as_version=4)
    env = {
        "EMBEDSTORE_NB_MANIFEST": str(synth_collection),
        "EMBEDSTORE_NB_WORKDIR": str(tmp_path),
        "HF_HUB_OFFLINE": "1",
    }
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        NotebookClient(
            nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
        ).execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs)  # the layer plot is shown
    text = "".join(o.get("text", "") for o in outputs)
    assert "refused:" in text  # the probe rejects embeddings of another encoder
    report = tmp_path / "report"
    assert (report / "report.md").is_file() and (report / "results.json").is_file()
    assert list((report / "plots").glob("*basic-pitch*.png"))
    assert (report / "ratings" / "model" / "model.safetensors").is_file()
