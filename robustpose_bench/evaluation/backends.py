"""Where the conditions are predicted: in this process (``local``), or on dask workers (``dask``).

Both yield ``(condition, predictions)`` pairs; the driver (``runner.py``) formats, scores and saves
them, so the scorer and the predictions folder stay with the driver while workers do the costly part
(image decoding, warping or letterboxing, inference, output decoding).

dask: one task per condition, each asking for the worker resource ``eval=1``, so a worker started with
``--resources eval=1`` (one per GPU, ``--nthreads 1``) takes one condition at a time. A worker loads
the model once and keeps it for the following tasks. Workers read the model and the images at the
paths the driver gives (one machine, or a shared file system). A task that raises is retried once;
a condition whose worker died is rescheduled by dask (``distributed.scheduler.allowed-failures``; the
``local:N`` cluster started here sets it to 1) and then reported, naming the condition.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

from ..errors import UserError
from .conditions import Condition

BACKENDS = ("local", "dask")
CONNECT_TIMEOUT_S = 10
RESOURCE = "eval"


@dataclass(frozen=True)
class PredictJob:
    """Everything a worker needs to predict one condition (picklable, no open handles)."""

    model: str
    spec: str                  # the checked spec's JSON
    device: str
    post: str
    intra_op_threads: int | None
    family: str
    kp_set: tuple[int, ...]    # the model index of each dataset keypoint (``models.keypoint_map``)
    flip: bool
    batch: int
    workers: int | None
    instances: Any             # top-down Instances, or None
    files: tuple[str, ...]     # one-stage: the image files


    def model_key(self) -> tuple:
        return (self.model, self.spec, self.device, self.post, self.intra_op_threads)


#: Models loaded in this process, by ``PredictJob.model_key`` (a worker keeps the run's model).
_MODELS: dict[tuple, Any] = {}


def worker_model(job: PredictJob, loaded: Any = None) -> Any:
    """The job's model, loaded once per process; ``loaded`` hands over one the driver already has."""
    key = job.model_key()
    if key not in _MODELS:
        if loaded is None:
            from ..models.loader import load_model

            loaded = load_model(job.model, spec=json.loads(job.spec), device=job.device, post=job.post,
                                intra_op_threads=job.intra_op_threads)
        _MODELS.clear()  # one run's model at a time
        _MODELS[key] = loaded
    return _MODELS[key]


def predict_condition(job: PredictJob, cond: Condition, progress: bool | str = False) -> tuple[Any, str, str]:
    """One condition's raw predictions (top-down ``Predictions`` or one-stage persons per image), and
    the device and execution provider that made them."""
    from .onestage_predictor import predict_onestage
    from .topdown_predictor import predict_topdown

    model = worker_model(job)
    if job.family == "topdown":
        raw = predict_topdown(model, job.instances, cond.path, job.kp_set, flip=job.flip, batch=job.batch,
                              workers=job.workers, progress=progress, image_sha256=cond.expected_sha256)
    else:
        raw = predict_onestage(model, list(job.files), cond.path, job.kp_set, batch=job.batch, flip=job.flip,
                               workers=job.workers, progress=progress, image_sha256=cond.expected_sha256)
    return raw, model.device, model.provider


def run_local(job: PredictJob, conds: Sequence[Condition], progress: bool) -> Iterator[tuple[Condition, Any]]:
    for cond in conds:
        yield cond, predict_condition(job, cond, cond.key if progress else False)


def connect(scheduler: str | None):
    """A dask client for ``scheduler`` (an address, or ``local:N`` for N local worker processes);
    an unreachable scheduler is a one-line error within CONNECT_TIMEOUT_S seconds."""
    try:
        import dask
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise UserError("--backend dask needs dask.distributed: pip install 'robustpose-bench[dask]'") from None
    if not scheduler:
        raise UserError("--backend dask needs --scheduler ADDRESS (e.g. tcp://10.0.0.1:8786) or local:N")
    if scheduler.startswith("local:"):
        try:
            n = int(scheduler.split(":", 1)[1])
        except ValueError:
            raise UserError(f"--scheduler {scheduler}: local:N needs a number of workers") from None
        with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
            cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                                   resources={RESOURCE: 1}, dashboard_address=None)
        return Client(cluster, set_as_default=False)
    try:
        return Client(scheduler, timeout=f"{CONNECT_TIMEOUT_S}s", set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise UserError(f"cannot reach the dask scheduler at {scheduler} within {CONNECT_TIMEOUT_S} s "
                        f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None


def run_dask(job: PredictJob, conds: Sequence[Condition], client, run_id: str) -> Iterator[tuple[Condition, Any]]:
    """Predict each condition as one task on the workers; yield them as they finish."""
    from dask.distributed import as_completed

    workers = client.scheduler_info().get("workers", {})
    if not any(w.get("resources", {}).get(RESOURCE, 0) >= 1 for w in workers.values()):
        raise UserError(f"no dask worker offers the resource {RESOURCE}=1: start workers with "
                        f"`dask worker ADDRESS --nthreads 1 --resources {RESOURCE}=1` (one per GPU)")
    futures = {client.submit(predict_condition, job, cond, key=f"rpb-{run_id[:16]}-{cond.key.replace('/', '-')}",
                             resources={RESOURCE: 1}, retries=1, pure=False): cond for cond in conds}
    try:
        for fut in as_completed(futures, loop=client.loop):
            cond = futures[fut]
            try:
                yield cond, fut.result()
            except UserError:
                raise
            except Exception as exc:  # noqa: BLE001 - KilledWorker, or a task's own error after its retry
                raise UserError(f"condition {cond.key} failed on the dask workers after a retry "
                                f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); the "
                                "finished conditions are kept: run the same command again to resume") from None
    finally:
        for fut in futures:
            fut.cancel()
