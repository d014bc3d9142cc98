"""Safe serialisation of a scikit-learn model: skops always, ONNX when it agrees.

Never a pickle: skops files are loaded back trusting only the scikit-learn, numpy and
scipy types they list themselves, and ONNX copies must reproduce scikit-learn's outputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from charter.artifacts.tabular import DataSummary, summarize
from charter.domain.common import ColumnSchema
from charter.domain.errors import IntegrityError, InvalidInput

SKOPS_FILE, ONNX_FILE = "model.skops", "model.onnx"
# Types the round-trip check may trust, and only when the file itself names them.
TRUSTED_MODULES = ("sklearn", "numpy", "scipy")
SAMPLE_ROWS = 5


@dataclass(frozen=True)
class Artifacts:
    directory: Path
    output_schema: list[ColumnSchema]
    notes: dict[str, str]  # tag -> why a format or a check is missing
    onnx_unavailable: str | None


def check_model(model: Any) -> str:
    try:
        import sklearn
        from sklearn.base import BaseEstimator
        from sklearn.exceptions import NotFittedError
        from sklearn.utils.validation import check_is_fitted
    except ImportError as exc:
        raise ImportError("log_model needs the ML extras: pip install 'charter[ml]'") from exc
    if not isinstance(model, BaseEstimator):
        raise InvalidInput(
            f"log_model records scikit-learn estimators; got {type(model).__qualname__}"
        )
    try:
        check_is_fitted(model)
    except NotFittedError:
        raise InvalidInput(f"{type(model).__name__} is not fitted; call fit() first") from None
    return f"scikit-learn {sklearn.__version__}"


def _head(data: Any, rows: int) -> Any:
    return data.iloc[:rows] if hasattr(data, "iloc") else data[:rows]


def _same_output(expected: np.ndarray[Any, Any], got: np.ndarray[Any, Any]) -> bool:
    expected, got = np.asarray(expected), np.asarray(got)
    if expected.size != got.size:
        return False
    expected, got = expected.reshape(-1), got.reshape(-1)
    if expected.dtype.kind in "fc":
        close = np.allclose(
            expected, got.astype(expected.dtype), rtol=1e-4, atol=1e-5, equal_nan=True
        )
        return bool(close)
    return bool(np.array_equal(expected, got.astype(expected.dtype)))


def _output_schema(output: np.ndarray[Any, Any], names: list[str]) -> list[ColumnSchema]:
    columns = summarize(np.asarray(output)).columns
    if len(names) != len(columns):
        names = ["prediction"] if len(columns) == 1 else [f"output{i}" for i in range(len(columns))]
    return [c.model_copy(update={"name": n}) for c, n in zip(columns, names, strict=True)]


def _onnx(model: Any, sample: Any, expected: np.ndarray[Any, Any], target: Path) -> str | None:
    """Write an ONNX copy if conversion works and agrees with scikit-learn; else say why not."""
    try:
        import onnxruntime
        from skl2onnx import to_onnx
    except ImportError as exc:
        return f"{exc.name} is not installed"
    try:
        inputs = np.asarray(sample, dtype=np.float32)
    except (TypeError, ValueError):
        return "the features are not all numeric"
    try:
        converted = to_onnx(model, inputs, options={"zipmap": False})
        session = onnxruntime.InferenceSession(
            converted.SerializeToString(), providers=["CPUExecutionProvider"]
        )
        got = session.run(None, {session.get_inputs()[0].name: inputs})[0]
    except Exception as exc:  # any converter failure means "no ONNX", not a crash
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"{type(exc).__name__}: {reason}"
    if not _same_output(expected, got):
        return "the ONNX model's outputs differ from scikit-learn's on sample rows"
    target.write_bytes(converted.SerializeToString())
    return None


def _skops_check(
    path: Path, sample: Any, expected: np.ndarray[Any, Any], method: str
) -> str | None:
    """Load the file back, trusting only the scikit-learn/numpy/scipy types it lists itself."""
    import skops.io as sio

    listed = sio.get_untrusted_types(file=path)
    foreign = [t for t in listed if t.split(".")[0] not in TRUSTED_MODULES]
    if foreign:
        return "not loaded back: it needs types outside scikit-learn/numpy/scipy: " + ", ".join(
            foreign
        )
    loaded = sio.load(path, trusted=listed)
    if not _same_output(expected, getattr(loaded, method)(sample)):
        raise IntegrityError(
            f"{path.name} loads back but predicts differently from the model; not registering it"
        )
    return None


def serialise(
    model: Any, training: DataSummary, features: Any, formats: Sequence[str], directory: Path
) -> Artifacts:
    import skops.io as sio

    method = "predict" if hasattr(model, "predict") else "transform"
    if not hasattr(model, method):
        raise InvalidInput(f"{type(model).__name__} has neither predict() nor transform()")
    sample = _head(features, SAMPLE_ROWS)
    try:
        expected = np.asarray(getattr(model, method)(sample))
    except Exception as exc:
        raise InvalidInput(f"the model cannot {method} on rows of X_train: {exc}") from exc
    if method == "predict":
        names = [c.name for c in training.target]
    else:
        try:
            names = [str(n) for n in model.get_feature_names_out()]
        except (AttributeError, ValueError, TypeError):
            names = []  # output columns are then numbered
    notes: dict[str, str] = {}
    sio.dump(model, directory / SKOPS_FILE)
    if problem := _skops_check(directory / SKOPS_FILE, sample, expected, method):
        notes["skops"] = problem
    onnx_reason = None
    if "onnx" in formats:
        onnx_reason = _onnx(model, sample, expected, directory / ONNX_FILE)
        if onnx_reason:
            notes["onnx"] = "unavailable: " + onnx_reason
    return Artifacts(directory, _output_schema(expected, names), notes, onnx_reason)
