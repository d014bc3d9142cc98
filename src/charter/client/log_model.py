"""log_model: register a fitted scikit-learn model with its data, run and lineage in one call."""

from __future__ import annotations

import contextlib
import math
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from pydantic import BaseModel, ValidationError

from charter.artifacts.tabular import DataSummary, summarize
from charter.client.client import Client, Progress
from charter.client.environment import capture_code_ref, capture_environment
from charter.client.serialise import Artifacts, check_model, serialise
from charter.domain.artifacts import Manifest, ManifestEntry
from charter.domain.common import CodeRef, DatasetVersionRef, Environment
from charter.domain.enums import RiskTier, RunStatus
from charter.domain.errors import CharterError, Conflict, IntegrityError, InvalidInput, NotFound
from charter.domain.registry import (
    DatasetCreate,
    DatasetVersion,
    DatasetVersionCreate,
    ModelCreate,
    ModelVersion,
    Run,
    RunCreate,
)

FORMATS = ("skops", "onnx")
MAX_TAG_VALUE, MAX_REPR = 512, 2_000
Step = Callable[[str], None]
T = TypeVar("T", bound=BaseModel)


@dataclass(frozen=True)
class LoggedModel:
    """What log_model registered."""

    model: str
    version: int
    run_id: int
    manifest_digest: str
    files: tuple[ManifestEntry, ...]
    training_data: DatasetVersion
    evaluation_data: DatasetVersion | None
    model_created: bool
    onnx_unavailable: str | None

    @property
    def node(self) -> str:
        """The version's lineage node, e.g. for `client.lineage(logged.node, "upstream")`."""
        return f"model:{self.model}@{self.version}"


def _json_safe(value: Any, depth: int = 0) -> Any:
    """Parameters as plain JSON: estimators by their repr, numpy scalars as numbers."""
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, np.generic):
        return _json_safe(value.item(), depth)
    if depth >= 8:
        return repr(value)[:MAX_REPR]
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        return [_json_safe(v, depth + 1) for v in items]
    if isinstance(value, np.ndarray) and value.size <= 1_000:
        return _json_safe(value.tolist(), depth)
    if isinstance(value, type) or (callable(value) and hasattr(value, "__qualname__")):
        return f"{getattr(value, '__module__', '?')}.{value.__qualname__}"
    return repr(value)[:MAX_REPR]


def _check_metrics(metrics: Mapping[str, Any] | None) -> dict[str, float]:
    checked: dict[str, float] = {}
    for key, value in (metrics or {}).items():
        if isinstance(value, bool):
            raise InvalidInput(f"metric {key!r} must be a number, not {value!r}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise InvalidInput(f"metric {key!r} must be a number, not {value!r}") from None
        if not math.isfinite(number):
            raise InvalidInput(f"metric {key!r} must be a finite number, not {value!r}")
        checked[str(key)] = number
    return checked


def _ensure_model(client: Client, wanted: ModelCreate, create: bool) -> bool:
    try:
        client.get_model(wanted.name)
        return False
    except NotFound:
        if not create:
            raise NotFound(
                f"no model named {wanted.name!r}; create it first or pass create_model=True"
            ) from None
    try:
        client.create_model(wanted.name, wanted.risk_tier, description=wanted.description)
    except Conflict:
        return False  # created by someone else in the meantime: use it
    return True


def _dataset_version(
    client: Client, dataset: str, data: DataSummary, uri: str, **governance: Any
) -> tuple[DatasetVersion, bool]:
    """The latest version when it has the same content and attributes, else a new one."""
    try:
        found = client.get_dataset(dataset)
    except NotFound:
        try:
            found = client.create_dataset(dataset)
        except Conflict:
            found = client.get_dataset(dataset)
    if found.latest_version:
        latest = client.get_dataset_version(dataset, found.latest_version)
        same = {k: getattr(latest, k) for k in governance} == governance
        if latest.digest == data.digest and latest.uri == uri and same:
            return latest, True
    created = client.create_dataset_version(
        dataset,
        uri=uri,
        digest=data.digest,
        columns=data.columns,
        row_count=data.row_count,
        **governance,
    )
    return created, False


@dataclass(frozen=True)
class _Facts:
    """Everything learnt locally, before the server is touched."""

    framework: str
    params: dict[str, Any]
    metrics: dict[str, float]
    training: DataSummary
    evaluation: DataSummary | None
    code: CodeRef | None
    environment: Environment


def _checked(kind: type[T], what: str, **fields: Any) -> T:
    """Validate a request locally, so bad input fails before anything is created."""
    try:
        return kind(**fields)
    except ValidationError as exc:
        reasons = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}" for e in exc.errors()
        )
        raise InvalidInput(f"{what}: {reasons}") from None


_Plan = tuple[str, DataSummary, str]  # dataset name, content, URI


def _plan_data(
    facts: _Facts, names: tuple[str, str], uris: tuple[str | None, str | None], **governance: Any
) -> list[_Plan]:
    plans: list[_Plan] = []
    for data, dataset, uri in zip((facts.training, facts.evaluation), names, uris, strict=True):
        if data is None:
            continue
        uri = uri or f"memory:{data.kind}"
        _checked(DatasetCreate, f"dataset {dataset!r}", name=dataset)
        _checked(
            DatasetVersionCreate,
            f"dataset {dataset!r}",
            uri=uri,
            digest=data.digest,
            columns=data.columns,
            row_count=data.row_count,
            **governance,
        )
        plans.append((dataset, data, uri))
    return plans


def _gather(
    model: Any,
    data: tuple[Any, Any, Any, Any],
    params: Mapping[str, Any] | None,
    metrics: Mapping[str, float] | None,
    caller: str | None,
    step: Step,
) -> _Facts:
    X_train, y_train, X_eval, y_eval = data  # noqa: N806 - scikit-learn's naming
    if X_eval is None and y_eval is not None:
        raise InvalidInput("y_eval was given without X_eval")
    framework = check_model(model)
    checked = _check_metrics(metrics)
    recorded = _json_safe(dict(params) if params is not None else model.get_params(deep=False))
    training = summarize(X_train, y_train)
    step(f"training data: {training.row_count} rows x {len(training.columns)} columns")
    step(f"  digest {training.digest}")
    evaluation = summarize(X_eval, y_eval) if X_eval is not None else None
    if evaluation is not None:
        step(f"evaluation data: {evaluation.row_count} rows, digest {evaluation.digest}")
    code = capture_code_ref(caller)
    if code is None:
        step("code: not inside a git repository, no commit recorded")
    else:
        dirty = " (uncommitted changes)" if code.dirty else ""
        step(f"code: {code.repository} @ {(code.commit or 'no commit yet')[:12]}{dirty}")
    environment = capture_environment()
    step(f"environment: Python {environment.python}, {len(environment.packages)} packages")
    return _Facts(framework, recorded, checked, training, evaluation, code, environment)


def _data_versions(
    sdk: Client, plans: list[_Plan], governance: dict[str, Any], step: Step
) -> tuple[DatasetVersion, DatasetVersion | None]:
    found: list[DatasetVersion] = []
    for dataset, data, uri in plans:
        version, reused = _dataset_version(sdk, dataset, data, uri, **governance)
        how = "reused: same content as the latest version" if reused else "registered"
        step(f"dataset {version.dataset}@{version.version}: {how}")
        found.append(version)
    return found[0], (found[1] if len(found) > 1 else None)


def _table(X: Any, y: Any) -> tuple[Any, list[str]]:  # noqa: N803 - scikit-learn's naming
    """X and y as one DataFrame with the columns the canonical digest names, and the label
    columns' names."""
    import pandas as pd

    features = X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X))
    if not isinstance(X, pd.DataFrame):
        width = features.shape[1] if features.ndim > 1 else 1
        features.columns = [f"x{i}" for i in range(width)]
    frame = features.reset_index(drop=True).copy()
    if y is None:
        return frame, []
    labels = y if isinstance(y, pd.Series | pd.DataFrame) else pd.Series(np.asarray(y))
    if isinstance(labels, pd.Series):
        labels = labels.to_frame(name=str(labels.name) if labels.name is not None else "target")
    labels = labels.reset_index(drop=True)
    clash = set(map(str, labels.columns)) & set(map(str, frame.columns))
    if clash:
        raise InvalidInput(f"label column(s) {sorted(clash)} have the names of feature columns")
    return pd.concat([frame, labels], axis=1), [str(c) for c in labels.columns]


def _upload_contents(
    sdk: Client,
    versions: tuple[DatasetVersion, DatasetVersion | None],
    data: tuple[tuple[Any, Any], tuple[Any, Any]],
    workdir: Path,
    step: Step,
) -> None:
    """Give the server the content of each dataset version that lacks it, so it can scan
    the data and evaluate the model on it. Skipped, and said so, when the table cannot be
    written as Parquet with the same digest (e.g. exotic column types)."""
    for version, (X, y) in zip(versions, data, strict=True):  # noqa: N806
        if version is None or X is None:
            continue
        try:
            sdk.get_content(version.dataset, version.version)
            continue
        except NotFound:
            pass
        try:
            frame, target = _table(X, y)
            path = workdir / f"{version.dataset}-{version.version}.parquet"
            frame.to_parquet(path, index=False)
            sdk.attach_content(version.dataset, version.version, path, target)
        except (ImportError, CharterError, ValueError, TypeError) as exc:
            step(f"dataset {version.dataset}@{version.version}: content not uploaded ({exc})")
            continue
        step(f"dataset {version.dataset}@{version.version}: content uploaded and verified")


def _ref(version: DatasetVersion) -> DatasetVersionRef:
    return DatasetVersionRef(dataset=version.dataset, version=version.version)


def _register(
    sdk: Client,
    name: str,
    facts: _Facts,
    artifacts: Artifacts,
    run: Run,
    data: tuple[DatasetVersion, DatasetVersion | None],
    extra: dict[str, Any],
    progress: Progress | None,
) -> ModelVersion:
    entries = sdk.upload_path(artifacts.directory, progress)
    tags = {**extra.pop("tags"), "formats": ",".join(e.path.rsplit(".", 1)[-1] for e in entries)}
    tags.update({key: note[:MAX_TAG_VALUE] for key, note in artifacts.notes.items()})
    registered = sdk.create_version(
        name,
        entries,
        "skops",
        framework=facts.framework,
        input_schema=facts.training.features,
        output_schema=artifacts.output_schema,
        params=facts.params,
        metrics=facts.metrics,
        code=facts.code,
        environment=facts.environment,
        training_datasets=[_ref(data[0])],
        evaluation_datasets=[_ref(data[1])] if data[1] else [],
        run_id=run.id,
        tags=tags,
        **extra,
    )
    # The server hashes what it was told; make sure that is what was uploaded.
    if registered.manifest_digest != Manifest(entries=entries).digest:
        raise IntegrityError(
            f"the server recorded manifest digest {registered.manifest_digest} for "
            f"{name}@{registered.version}, not the digest of the files uploaded"
        )
    return registered


def log_model(
    model: Any,
    *,
    name: str,
    X_train: Any,  # noqa: N803 - scikit-learn's naming
    y_train: Any = None,
    client: Client | None = None,
    dataset: str | None = None,
    dataset_uri: str | None = None,
    X_eval: Any = None,  # noqa: N803
    y_eval: Any = None,
    eval_dataset: str | None = None,
    eval_dataset_uri: str | None = None,
    risk_tier: RiskTier | str = RiskTier.MINIMAL,
    create_model: bool = True,
    params: Mapping[str, Any] | None = None,
    metrics: Mapping[str, float] | None = None,
    tags: Mapping[str, str] | None = None,
    run_name: str | None = None,
    started_at: datetime | None = None,
    formats: Sequence[str] = FORMATS,
    data_region: str | None = None,
    legal_basis: str | None = None,
    contains_pii: bool = False,
    description: str = "",
    progress: Progress | None = None,
    on_step: Step | None = None,
    upload_data: bool = True,
) -> LoggedModel:
    """Register a fitted scikit-learn `model` as the next version of model `name`.

    In one call: creates the model if missing (with `risk_tier` and `description`; refused
    when `create_model` is False), records the training data (and evaluation data, if given)
    as dataset versions with digest, schema and row count (the dataset's latest version is
    reused when its content and attributes are the same), records a run with `params`
    (default: the estimator's `get_params(deep=False)`), `metrics`, the git commit of the
    calling script and the environment, writes the model as skops (always) and ONNX (when
    conversion works and agrees with scikit-learn; otherwise the version is tagged
    `onnx: unavailable: <reason>`), checks that the skops file loads back and predicts the
    same, uploads the files and registers the version with its schemas, datasets and run, so
    its lineage reads dataset -> run -> model. Nothing is sent before the local work succeeds.

    `client` defaults to `Client()` (CHARTER_URL, CHARTER_TOKEN). `dataset` defaults to
    "<name>-training", `eval_dataset` to "<name>-evaluation"; their URIs to
    "memory:<kind of object>" (pass where the data lives). `data_region`, `legal_basis` and
    `contains_pii` describe both data sets. `started_at` is when training began (default:
    now). `progress` is called with bytes uploaded, `on_step` with one line per step.
    `upload_data` (default on) uploads each new dataset version's content as Parquet, which
    the server verifies against the digest, so Charter can scan and evaluate on it.
    """
    step = on_step or (lambda _message: None)
    started = started_at or datetime.now(UTC)
    if started.tzinfo is None:
        raise InvalidInput("started_at needs a timezone, e.g. datetime.now(UTC)")
    wanted = _checked(
        ModelCreate, f"model {name!r}", name=name, risk_tier=risk_tier, description=description
    )
    if isinstance(formats, str) or "skops" not in formats or set(formats) - set(FORMATS):
        raise InvalidInput(f"formats must include 'skops' and may add 'onnx'; got {formats!r}")
    caller = sys._getframe(1).f_code.co_filename  # the script that trained the model
    facts = _gather(model, (X_train, y_train, X_eval, y_eval), params, metrics, caller, step)
    governance = {
        "data_region": data_region,
        "legal_basis": legal_basis,
        "contains_pii": bool(contains_pii),
    }
    plans = _plan_data(
        facts,
        (dataset or f"{name}-training", eval_dataset or f"{name}-evaluation"),
        (dataset_uri, eval_dataset_uri),
        **governance,
    )
    run_name = run_name or f"train {name}"
    run_tags = dict(tags or {})
    _checked(
        RunCreate, "run", name=run_name, params=facts.params, metrics=facts.metrics, tags=run_tags
    )
    sdk = client or Client()
    try:
        with tempfile.TemporaryDirectory(prefix="charter-model-") as tmp:
            artifacts = serialise(model, facts.training, X_train, formats, Path(tmp))
            written = ", ".join(sorted(p.name for p in Path(tmp).iterdir()))
            check = artifacts.notes.get("skops", "loads back and predicts the same")
            step(f"serialised {written}; the skops file {check}")
            if artifacts.onnx_unavailable:
                step(f"ONNX skipped: {artifacts.onnx_unavailable}")
            created = _ensure_model(sdk, wanted, create_model)
            tier = wanted.risk_tier.value
            step(f"model {name}: " + (f"created, risk tier {tier}" if created else "exists"))
            data = _data_versions(sdk, plans, governance, step)
            if upload_data:
                pairs = ((X_train, y_train), (X_eval, y_eval))
                with tempfile.TemporaryDirectory(prefix="charter-data-") as tables:
                    _upload_contents(sdk, data, pairs, Path(tables), step)
            run = sdk.create_run(
                name=run_name,
                params=facts.params,
                metrics=facts.metrics,
                code=facts.code,
                environment=facts.environment,
                inputs=[_ref(v) for v in data if v is not None],
                status=RunStatus.RUNNING,
                started_at=started,
                tags=run_tags,
            )
            step(f"run {run.id}: started")
            try:
                extra = {"description": description, "tags": dict(run_tags)}
                registered = _register(sdk, name, facts, artifacts, run, data, extra, progress)
            except BaseException:
                # The original error matters more than failing to record the failure.
                with contextlib.suppress(CharterError, OSError):
                    sdk.update_run(run, status=RunStatus.FAILED)
                raise
            step(f"uploaded {', '.join(f'{e.path} ({e.size} bytes)' for e in registered.files)}")
            run = sdk.update_run(run, status=RunStatus.FINISHED)
            step(f"version {name}@{registered.version} registered; run {run.id} finished")
    finally:
        if client is None:
            sdk.close()
    return LoggedModel(
        model=name,
        version=registered.version,
        run_id=run.id,
        manifest_digest=registered.manifest_digest,
        files=tuple(registered.files),
        training_data=data[0],
        evaluation_data=data[1],
        model_created=created,
        onnx_unavailable=artifacts.onnx_unavailable,
    )
