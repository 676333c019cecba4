"""The LanceDB database under a store: open it, list, read, append to, delete from and drop its tables.

Everything above (spaces, recordings, vectors, rejects) goes through these few methods, so this is the only module
that knows how LanceDB is called. lancedb and pyarrow are imported inside the methods that need them.
"""

from __future__ import annotations

import datetime as _dt
import os
import shutil
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from embedstore.errors import StoreError
from embedstore.store.location import is_remote, remote_cache_dir, storage_options_for, store_uri
from embedstore.utils import crash_point

# Lance logs routine events at WARN level from Rust (e.g. "No existing dataset ..., it will be created" on every new
# table); keep its errors, not that noise, unless the user chose a level. Read when lance is first imported.
os.environ.setdefault("LANCE_LOG", "error")  # pylance
os.environ.setdefault("LANCEDB_LOG", "error")  # lancedb bundles its own lance

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

#: Folder (inside a local store) of the derived search indexes, one sub-folder per space id.
INDEX_FOLDER = "_indexes"
#: Rows deleted per SQL ``IN`` filter.
DELETE_BATCH = 500


def _has_manifest(versions: Path) -> bool:
    """Whether a table's ``_versions`` folder holds a committed manifest (stops at the first one)."""
    try:
        with os.scandir(versions) as it:
            return any(e.name.endswith(".manifest") for e in it)
    except OSError:
        return False


class LanceTables:
    """A LanceDB database on disk (or any URI LanceDB accepts, e.g. ``s3://``) and its tables.

    Parameters
    ----------
    uri : str or Path
        Directory of the database (created when ``create=True``), or an object-store URI.
    create : bool
        Create a missing local directory. With ``False`` a missing store is a :class:`StoreError`.
    storage_options : mapping, optional
        Object-store options (endpoint, region, credentials) for a remote URI, on top of those set with
        :func:`~embedstore.store.location.set_default_storage_options` and the environment.

    Attributes
    ----------
    uri : str
        The resolved URI (an absolute path for a local store).
    db : lancedb.DBConnection
        The open connection.
    """

    def __init__(
        self, uri: str | Path, *, create: bool = True, storage_options: Mapping[str, str] | None = None
    ):
        self.uri = store_uri(uri)
        self.storage_options = storage_options_for(self.uri, storage_options)
        self._db: Any = None
        self._tables: dict[str, Any] = {}
        if not self.is_remote:
            p = Path(self.uri)
            if not p.exists():
                if not create:
                    raise StoreError(
                        f"no store at {self.uri}",
                        hint="build one with `embedstore index <folder> --store " + self.uri + "`",
                    )
                p.mkdir(parents=True, exist_ok=True)
            elif not p.is_dir():
                raise StoreError(f"{self.uri} is not a store directory")
            self.uri = str(p.resolve())
        else:
            _ = self.db  # connect now: a bad URI or credentials fail here, with the store named
            if not create and not self.table_names():
                raise StoreError(
                    f"no store at {self.uri}",
                    hint="build one with `embedstore index <folder> --store " + self.uri + "` "
                    "(credentials: environment variables or --storage-option key=value)",
                )

    @property
    def db(self) -> Any:
        """The LanceDB connection (``lancedb`` is imported on first use: local reads go through ``lance``)."""
        if self._db is None:
            import lancedb

            try:
                if self.storage_options:
                    self._db = lancedb.connect(self.uri, storage_options=dict(self.storage_options))
                else:
                    self._db = lancedb.connect(self.uri)
            except Exception as e:  # noqa: BLE001
                raise StoreError(f"cannot open store {self.uri}: {e}") from e
        return self._db

    @property
    def is_remote(self) -> bool:
        """True for an object-store URI (``s3://...``), False for a local directory."""
        return is_remote(self.uri)

    def index_dir(self, space_id: str) -> Path:
        """Folder of the derived search indexes of a space: inside a local store, or for a remote store in a local
        cache folder keyed by its URI (:func:`~embedstore.store.location.remote_cache_dir`)."""
        if self.is_remote:
            return remote_cache_dir(self.uri) / INDEX_FOLDER / space_id
        return Path(self.uri) / INDEX_FOLDER / space_id

    def lance_dataset(self, name: str) -> Any:
        """The latest version of table ``name`` as a ``lance`` dataset (cheaper to import than LanceDB)."""
        import lance

        return lance.dataset(f"{self.uri.rstrip('/')}/{name}.lance", storage_options=self.storage_options)

    # ------------------------------------------------------------------ tables
    def table_names(self) -> list[str]:
        """Names of the readable tables in the database.

        A table folder without a committed version (a process killed while creating it) is not a table: it is
        left out here, listed by :meth:`broken_tables` and replaced when the table is created again.
        """
        broken = set(self.broken_tables())
        return [n for n in self.listed_tables() if n not in broken]

    def listed_tables(self) -> list[str]:
        """Every table folder, readable or not (a local store's ``*.lance`` folders; every page of LanceDB's
        listing for a remote one; see :meth:`table_names`)."""
        if not self.is_remote:
            root = Path(self.uri)
            return sorted(p.name[: -len(".lance")] for p in root.glob("*.lance") if p.is_dir())
        res = self.db.list_tables()
        names = list(getattr(res, "tables", res))
        page = getattr(res, "page_token", None)
        while page:
            res = self.db.list_tables(page_token=page)
            names += list(res.tables)
            page = res.page_token
        return names

    def broken_tables(self) -> list[str]:
        """Table folders of a local store that hold no committed version (creation interrupted), by name."""
        if self.is_remote:
            return []
        out = []
        with os.scandir(self.uri) as entries:
            for d in entries:
                if d.name.endswith(".lance") and d.is_dir() and not _has_manifest(Path(d.path) / "_versions"):
                    out.append(d.name[: -len(".lance")])
        return sorted(out)

    def remove_broken_table(self, name: str) -> None:
        """Delete the folder of a table whose creation never committed (nothing readable is lost)."""
        if name in self.broken_tables():
            shutil.rmtree(Path(self.uri) / f"{name}.lance", ignore_errors=True)
            self._tables.pop(name, None)

    def has_table(self, name: str) -> bool:
        """Whether the table exists."""
        return name in self.table_names()

    def table(self, name: str) -> Any:
        """The open LanceDB table ``name`` (opened once and cached); a missing table is a :class:`StoreError`."""
        if name not in self._tables:
            try:
                self._tables[name] = self.db.open_table(name)
            except Exception as e:  # noqa: BLE001
                raise StoreError(f"store {self.uri} has no table {name!r}") from e
        return self._tables[name]

    def table_version(self, name: str) -> int:
        """The latest version number of a table (it grows with every write)."""
        try:
            return int(self.lance_dataset(name).version)
        except (OSError, ValueError) as e:
            raise StoreError(f"store {self.uri} has no table {name!r}") from e

    def count_rows(self, name: str) -> int:
        """Rows in a table at its latest version (0 when it does not exist)."""
        if not self.has_table(name):
            return 0
        return int(self.lance_dataset(name).count_rows())

    def read_table(
        self, name: str, *, where: str | None = None, columns: Sequence[str] | None = None
    ) -> pa.Table | None:
        """Read a table, or a filtered subset of its rows and columns, at its latest version.

        Parameters
        ----------
        name : str
        where : str, optional
            LanceDB SQL filter.
        columns : sequence of str, optional
            Columns to read (default: all).

        Returns
        -------
        pyarrow.Table or None
            ``None`` when the table does not exist.
        """
        if not self.has_table(name):
            return None
        # read through lance (LanceDB's own reader): no LanceDB import for a read-only command
        return self.lance_dataset(name).to_table(columns=list(columns) if columns else None, filter=where)

    def add_rows(
        self, name: str, data: pa.Table | Iterable[dict], *, schema: pa.Schema | None = None
    ) -> None:
        """Append rows to a table, creating it when missing (nothing happens for zero rows).

        Parameters
        ----------
        name : str
        data : pyarrow.Table or iterable of dict
            Rows; dicts are converted with ``schema`` (or an inferred one).
        schema : pyarrow.Schema, optional
            Schema of a table created here.
        """
        import pyarrow as pa

        if not isinstance(data, pa.Table):
            data = pa.Table.from_pylist(list(data), schema=schema)
        if data.num_rows == 0:
            return
        if self.has_table(name):
            crash_point("before_append")
            self.table(name).add(data)
            crash_point("after_append")
        else:
            self.remove_broken_table(name)
            crash_point("before_create_table")
            self._tables[name] = self.db.create_table(name, data=data, schema=schema)
            crash_point("after_create_table")

    def replace_table(self, name: str, data: pa.Table) -> None:
        """Write ``data`` as the new content of table ``name`` (created or overwritten, schema included)."""
        self._tables.pop(name, None)
        self.remove_broken_table(name)
        crash_point("before_replace_table")
        self.db.create_table(name, data=data, mode="overwrite")
        crash_point("after_replace_table")

    def delete_rows(self, name: str, where: str) -> None:
        """Delete the rows matching a SQL filter (nothing happens when the table does not exist)."""
        if self.has_table(name):
            crash_point("before_delete")
            self.table(name).delete(where)
            crash_point("after_delete")

    def drop_table(self, name: str) -> None:
        """Remove a table (nothing happens when it does not exist)."""
        if self.has_table(name):
            self.db.drop_table(name)
        self._tables.pop(name, None)

    def drop_index_dir(self, space_id: str) -> None:
        """Remove the derived search indexes of a space (they are rebuilt when needed)."""
        shutil.rmtree(self.index_dir(space_id), ignore_errors=True)

    def optimize(self) -> list[str]:
        """Compact fragments and prune versions older than an hour (after large or many writes).

        Compaction never changes what a reader sees, so a failure does not stop a run: it is returned as a
        warning (and the tables stay as they were, only less compact).

        Returns
        -------
        list of str
            One warning per table that could not be compacted; empty when all went well.
        """
        warnings = []
        for name in self.table_names():
            crash_point("before_optimize")
            try:
                self.table(name).optimize(cleanup_older_than=_dt.timedelta(hours=1))
            except Exception as e:  # noqa: BLE001 - reported to the caller
                warnings.append(f"could not compact table {name!r}: {type(e).__name__}: {e}")
            crash_point("after_optimize")
        return warnings
