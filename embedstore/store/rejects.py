"""Files that could not be indexed (the ``rejects`` table): ``path``, ``reason`` (a code such as ``corrupt``,
``silent``, ``too_long``, ``encoder_failed``), ``message``, ``setup_key``, ``content_hash`` and ``at``.

One row per (path, setup): a newer verdict replaces an older one, and a file indexed later is cleared.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from embedstore.store.schema import REJECT_COLUMNS, reject_schema, sql_in, sql_quote, utc_now
from embedstore.store.tables import DELETE_BATCH, LanceTables

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

REJECTS_TABLE = "rejects"


class RejectLog(LanceTables):
    """The rejects of a store."""

    def add_rejects(self, rows: Sequence[dict]) -> int:
        """Record files that could not be indexed.

        Parameters
        ----------
        rows : sequence of dict
            ``{"path", "reason", "message"?, "setup_key"?, "content_hash"?, "at"?}``; a row replaces an earlier one
            for the same path and setup. A verdict already recorded (same path, setup, reason and content) is not
            written again, so a re-run over the same bad files writes nothing.

        Returns
        -------
        int
            Rows written.
        """
        if not rows:
            return 0
        import pyarrow as pa

        schema = reject_schema()
        norm = [
            {
                "path": str(r["path"]),
                "file_name": Path(str(r["path"])).name,
                "reason": r["reason"],
                "message": r.get("message", ""),
                "setup_key": r.get("setup_key", ""),
                "content_hash": r.get("content_hash", ""),
                "at": r.get("at") or utc_now(),
            }
            for r in rows
        ]
        old = self.read_table(REJECTS_TABLE, columns=["path", "setup_key", "reason", "content_hash"])
        if old is not None:
            known = set(
                zip(*(old.column(c).to_pylist() for c in ("path", "setup_key", "reason", "content_hash")))
            )
            norm = [
                r for r in norm if (r["path"], r["setup_key"], r["reason"], r["content_hash"]) not in known
            ]
            if not norm:
                return 0
            for r in norm:
                self.delete_rows(
                    REJECTS_TABLE,
                    f"path = {sql_quote(r['path'])} AND setup_key = {sql_quote(r['setup_key'])}",
                )
        self.add_rows(REJECTS_TABLE, pa.Table.from_pylist(norm, schema=schema), schema=schema)
        return len(norm)

    def clear_rejects(self, paths: Sequence[str], setup: str) -> None:
        """Forget the rejects of these paths for a setup (they have been indexed since)."""
        old = self.read_table(REJECTS_TABLE, columns=["path", "setup_key"]) if paths else None
        if old is None:
            return
        have = {
            p
            for p, s in zip(old.column("path").to_pylist(), old.column("setup_key").to_pylist())
            if s == setup
        }
        paths = [str(p) for p in paths if str(p) in have]
        if paths:
            for i in range(0, len(paths), DELETE_BATCH):
                self.delete_rows(
                    REJECTS_TABLE,
                    sql_in("path", [str(p) for p in paths[i : i + DELETE_BATCH]])
                    + f" AND setup_key = {sql_quote(setup)}",
                )

    def rejects(self) -> pd.DataFrame:
        """Every reject, sorted by (reason, path); an empty frame with the columns when there are none."""
        import pandas as pd

        tab = self.read_table(REJECTS_TABLE)
        if tab is None:
            return pd.DataFrame(columns=list(REJECT_COLUMNS))
        return tab.to_pandas().sort_values(["reason", "path"]).reset_index(drop=True)
