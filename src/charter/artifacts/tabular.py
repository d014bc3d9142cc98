"""Content digest, column schema and row count of in-memory training data (pandas or numpy).

The digest is SHA-256 over a canonical serialisation, so the same table gives the same digest
whatever its memory layout (C or Fortran order, strided views, byte order, chunking) and
whichever way it was built. The serialisation, version 1, is:

1. A header: the canonical JSON (sorted keys, no whitespace, UTF-8) of
   ``{"format": "charter.dataset/1", "features": [[name, type], ...],
   "target": [[name, type], ...]}`` followed by one newline byte. Names are ``str()`` of the
   column labels (numpy columns are named ``x0, x1, ...``; an unnamed target is ``target``);
   types are the canonical type names described below. The index of a DataFrame is not part
   of the data and is ignored; the order of rows and columns is.
2. The cells, row after row (row-major), features then target within a row, each encoded by
   its column's kind:

   - *Fixed-width* columns (numpy bool, integer, float, complex, datetime64, timedelta64, and
     timezone-aware datetimes, which are converted to UTC): the value's bytes in its own
     dtype, little-endian. Every NaN is replaced by the one canonical quiet NaN first.
   - *Every other* column (object, string, category, pandas nullable types, ...): each value
     is tagged: missing (None, NaN, NA, NaT) is ``00``; a bool is ``b`` + one byte; an integer
     is ``i`` + its length-prefixed decimal digits; a float is ``f`` + 8 bytes float64 LE; a
     str is ``s`` + length-prefixed UTF-8; bytes are ``y`` + length-prefixed bytes; anything
     else is ``o`` + length-prefixed ``module.qualname`` of its type + length-prefixed
     ``str(value)``. Lengths are unsigned 64-bit little-endian.

Rows are read in chunks of a few MiB, so hashing a large frame never holds a second copy of
it. Type names: numpy dtypes by name (``float64``, ``datetime64[ns]``); object columns holding
only strings and pandas string dtypes are ``string``; other pandas dtypes by ``str(dtype)``.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from charter.domain.common import ColumnSchema
from charter.domain.errors import InvalidInput

FORMAT = "charter.dataset/1"
CHUNK_BYTES = 4 << 20
_FIXED_KINDS = frozenset("biufcmM")
_U64 = struct.Struct("<Q")
_F64 = struct.Struct("<d")
_CANONICAL_NAN = np.float64("nan")


@dataclass(frozen=True)
class DataSummary:
    """What the registry records about a table: digest, schema and row count."""

    digest: str
    columns: list[ColumnSchema]
    row_count: int
    kind: str
    feature_count: int

    @property
    def features(self) -> list[ColumnSchema]:
        """The columns of X alone: a model's input schema."""
        return self.columns[: self.feature_count]

    @property
    def target(self) -> list[ColumnSchema]:
        return self.columns[self.feature_count :]


class _Column:
    """One column of the input, read a slice of rows at a time."""

    def __init__(self, name: str, type_name: str, fixed: bool, reader: Any) -> None:
        self.name = name
        self.type_name = type_name
        self.fixed = fixed
        self._reader = reader
        self.has_missing = False

    def read(self, start: int, stop: int) -> np.ndarray[Any, Any]:
        values: np.ndarray[Any, Any] = self._reader(start, stop)
        return values


def _pandas() -> Any:
    try:
        import pandas
    except ImportError:
        return None
    return pandas


def _is_frame(value: Any, pd: Any) -> bool:
    return pd is not None and isinstance(value, pd.DataFrame)


def _is_series(value: Any, pd: Any) -> bool:
    return pd is not None and isinstance(value, pd.Series)


def _object_type(values: np.ndarray[Any, Any], pd: Any) -> str:
    if pd is not None and pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
        # An all-missing column is typed "string" too, so absence of values decides nothing.
        return "string"
    return "object"


def _numpy_columns(array: np.ndarray[Any, Any], prefix: str, pd: Any) -> list[_Column]:
    if array.dtype.names:
        if array.ndim != 1:
            raise InvalidInput("a structured numpy array must be one-dimensional")
        return [_array_column(name, array[name], pd) for name in array.dtype.names]
    if array.ndim == 1:
        return [_array_column(prefix if prefix == "target" else f"{prefix}0", array, pd)]
    if array.ndim != 2:
        raise InvalidInput(
            f"data must be one- or two-dimensional (rows x columns); got {array.ndim} dimensions"
        )
    return [_array_column(f"{prefix}{j}", array[:, j], pd) for j in range(array.shape[1])]


def _array_column(name: str, values: np.ndarray[Any, Any], pd: Any) -> _Column:
    if values.dtype.kind in _FIXED_KINDS:
        return _Column(name, values.dtype.name, True, lambda a, b: values[a:b])
    if values.dtype.kind == "O":
        return _Column(name, _object_type(values, pd), False, lambda a, b: values[a:b])
    if values.dtype.kind in "US":
        return _Column(
            name,
            "string" if values.dtype.kind == "U" else "bytes",
            False,
            lambda a, b: values[a:b].astype(object),
        )
    raise InvalidInput(f"column {name!r} has an unsupported numpy dtype {values.dtype}")


def _series_column(name: str, series: Any, pd: Any) -> _Column:
    dtype = series.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        # Per chunk, so a long column is never copied whole.
        def as_utc(a: int, b: int) -> np.ndarray[Any, Any]:
            values: np.ndarray[Any, Any] = (
                series.iloc[a:b].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
            )
            return values

        return _Column(name, str(dtype), True, as_utc)
    if isinstance(dtype, np.dtype) and dtype.kind in _FIXED_KINDS:
        return _Column(name, dtype.name, True, lambda a, b: series.iloc[a:b].to_numpy())

    def as_objects(a: int, b: int) -> np.ndarray[Any, Any]:
        values: np.ndarray[Any, Any] = series.iloc[a:b].to_numpy(dtype=object)
        return values

    if isinstance(dtype, pd.StringDtype):
        type_name = "string"
    elif isinstance(dtype, np.dtype) and dtype.kind == "O":
        type_name = _object_type(series.to_numpy(), pd)
    else:
        type_name = str(dtype)
    return _Column(name, type_name, False, as_objects)


def _columns(data: Any, prefix: str, pd: Any) -> tuple[list[_Column], int, str]:
    """The columns of `data`, its row count and a short name of its kind."""
    if _is_frame(data, pd):
        columns = [
            _series_column(str(label), data.iloc[:, j], pd) for j, label in enumerate(data.columns)
        ]
        return columns, len(data), "pandas.DataFrame"
    if _is_series(data, pd):
        label = "target" if prefix == "target" else f"{prefix}0"
        name = str(data.name) if data.name is not None else label
        return [_series_column(name, data, pd)], len(data), "pandas.Series"
    if isinstance(data, np.ndarray):
        return _numpy_columns(data, prefix, pd), len(data), "numpy.ndarray"
    if isinstance(data, list | tuple):
        array = np.asarray(data)
        return _numpy_columns(array, prefix, pd), len(array), "numpy.ndarray"
    raise InvalidInput(
        f"data must be a pandas DataFrame or Series or a numpy array, not {type(data).__name__}"
    )


def _length(data: bytes) -> bytes:
    return _U64.pack(len(data)) + data


def _is_missing(value: Any, pd: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float | np.floating):
        return bool(np.isnan(value))
    return pd is not None and (value is pd.NA or value is pd.NaT)


def _encode_value(value: Any, pd: Any) -> bytes:
    if _is_missing(value, pd):
        return b"\x00"
    if isinstance(value, bool | np.bool_):
        return b"b" + (b"\x01" if value else b"\x00")
    if isinstance(value, int | np.integer):
        return b"i" + _length(str(int(value)).encode("ascii"))
    if isinstance(value, float | np.floating):
        return b"f" + _F64.pack(float(value))
    if isinstance(value, str):
        return b"s" + _length(value.encode("utf-8", "surrogatepass"))
    if isinstance(value, bytes):
        return b"y" + _length(value)
    kind = type(value)
    qualified = f"{kind.__module__}.{kind.__qualname__}".encode()
    return b"o" + _length(qualified) + _length(str(value).encode("utf-8", "surrogatepass"))


def _fixed_cells(column: _Column, values: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    little = values.astype(values.dtype.newbyteorder("<"), copy=False)
    if values.dtype.kind in "fc":
        missing = np.isnan(little)
        if missing.any():
            column.has_missing = True
            little = little.copy()
            little[missing] = _CANONICAL_NAN
    elif values.dtype.kind in "mM" and np.isnat(little).any():
        column.has_missing = True
    return little


def _chunk_bytes(columns: list[_Column], start: int, stop: int, pd: Any) -> bytes:
    count = stop - start
    if all(c.fixed for c in columns):
        # A packed record array is exactly the row-major concatenation of the cells.
        parts = [_fixed_cells(c, c.read(start, stop)) for c in columns]
        packed = np.empty(
            count, dtype=np.dtype([(f"c{i}", p.dtype) for i, p in enumerate(parts)], align=False)
        )
        for i, part in enumerate(parts):
            packed[f"c{i}"] = part
        return packed.tobytes()
    cells: list[list[bytes]] = []
    for column in columns:
        values = column.read(start, stop)
        if column.fixed:
            raw = _fixed_cells(column, values).tobytes()
            width = len(raw) // count
            cells.append([raw[i * width : (i + 1) * width] for i in range(count)])
        else:
            encoded = [_encode_value(v, pd) for v in values]
            if not column.has_missing and b"\x00" in encoded:
                column.has_missing = True
            cells.append(encoded)
    return b"".join(b"".join(row) for row in zip(*cells, strict=True))


def _row_width(columns: list[_Column]) -> int:
    width = 0
    for column in columns:
        sample = column.read(0, 1)
        width += sample.dtype.itemsize if column.fixed else 64
    return max(width, 1)


def _header(features: list[_Column], target: list[_Column]) -> bytes:
    header = {
        "format": FORMAT,
        "features": [[c.name, c.type_name] for c in features],
        "target": [[c.name, c.type_name] for c in target],
    }
    text = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8") + b"\n"


def iter_canonical_bytes(
    features: list[_Column], target: list[_Column], rows: int, pd: Any
) -> Iterator[bytes]:
    """The canonical serialisation described in the module docstring, a chunk at a time."""
    yield _header(features, target)
    columns = features + target
    if rows == 0 or not columns:
        return
    step = max(1, CHUNK_BYTES // _row_width(columns))
    for start in range(0, rows, step):
        yield _chunk_bytes(columns, start, min(rows, start + step), pd)


def summarize(data: Any, labels: Any = None) -> DataSummary:
    """Digest, schema and row count of features `data` (X) and optional target `labels` (y).

    `data` is a pandas DataFrame, a numpy array (1-D is one column, 2-D is rows x columns) or a
    list of rows; `labels` a Series, DataFrame, array or list with as many rows. The schema
    lists the feature columns then the target's; `nullable` says whether the column holds a
    missing value.
    """
    pd = _pandas()
    features, rows, kind = _columns(data, "x", pd)
    target: list[_Column] = []
    if labels is not None:
        target, target_rows, _ = _columns(labels, "target", pd)
        if target_rows != rows:
            raise InvalidInput(f"X has {rows} rows but y has {target_rows}; they must match")
    digest = hashlib.sha256()
    for chunk in iter_canonical_bytes(features, target, rows, pd):
        digest.update(chunk)
    schema = [
        ColumnSchema(name=_schema_name(c.name), type=c.type_name[:64], nullable=c.has_missing)
        for c in features + target
    ]
    return DataSummary(
        digest="sha256:" + digest.hexdigest(),
        columns=schema,
        row_count=rows,
        kind=kind,
        feature_count=len(features),
    )


def _schema_name(name: str) -> str:
    if not name or "\x00" in name:
        raise InvalidInput(f"column name {name!r} cannot be recorded; rename the column")
    return name if len(name) <= 256 else name[:253] + "..."
