"""Scoring on Ray Data: ``finrisk score MODEL_REF INPUT... --out scores.parquet --engine ray``.

    finrisk score runs/credit_text docs/ mail.zip --out scores.parquet --engine ray              # local Ray
    finrisk score hub:my-bank/credit-text s3://bank-archive/2024/ --out scores.parquet --engine ray \\
        --ray-address ray://head:10001 --ray-readers 16 --ray-actors 8                         # a cluster

Three stages. Read tasks (``--ray-readers``) each take one shard of the inputs and run the local scorer's own
reader on it (:func:`~finrisk_nlp.scoring.documents.iter_documents`: same limits, extraction, ids and errors).
Object-store inputs (``s3://``, ``gs://``, ``abfs://``, ``hdfs://``, ``file://`` ... anything :mod:`pyarrow.fs`
opens) are listed on the driver; a read task copies one object at a time to a temp file and reads it the same
way, naming documents by URI. An actor pool (``--ray-actors``, one CPU or one GPU each) loads the
:class:`~finrisk_nlp.inference.predictor.Predictor` once per actor and scores blocks of documents with
:func:`~finrisk_nlp.scoring.engine.score_group`. The driver streams the rows back and writes them to
``OUT.parts`` with the manifest, lock, part files and merge of the local scorer, so the output (ids, probabilities,
decisions, errors file, input order) is the one ``--engine local`` writes, and a rerun after a crash, with either
engine, skips documents already in a part.

Ray is started on this machine unless ``--ray-address`` or ``RAY_ADDRESS`` names a cluster. On a cluster every
node needs ``finrisk_nlp[ray]`` installed, and the inputs and the model reference must resolve there too (a shared
file system, an object store, ``hub:`` or a registry on shared storage).
"""

from __future__ import annotations

import glob
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from finrisk_nlp.errors import FinriskError
from finrisk_nlp.inference.loading import (
    load_for_inference,
    model_fingerprint,
    model_version,
    prepare_for_inference,
    text_char_budget,
)
from finrisk_nlp.provenance import write_json_atomic
from finrisk_nlp.scoring.documents import (
    TABLE_SUFFIXES,
    TAR_SUFFIXES,
    Document,
    ReadLimits,
    expand_inputs,
    iter_documents,
)
from finrisk_nlp.scoring.engine import (
    SORT_WINDOW_BATCHES,
    ScoreOptions,
    ScoreSummary,
    check_id_column,
    merge_parts,
    output_format,
    part_schema,
    parts_dir,
    remove_stale_files,
    run_fingerprint,
    score_group,
)
from finrisk_nlp.scoring.object_store import is_remote, list_objects, stage_object
from finrisk_nlp.scoring.parts import MANIFEST, OutputLock, PartWriter, ScoringError, check_manifest, done_ids
from finrisk_nlp.scoring.table_inputs import check_table_inputs

logger = logging.getLogger("finrisk_nlp")
RAY_HINT = "pip install 'finrisk_nlp[ray]'"
READ_BLOCK_DOCS = 256  # documents per block a read task hands on; bounds its memory, not its speed
READER_MEMORY = 512 * 2**20  # reserved per read task: a block of texts, a zip's directory, a table being listed
DOC_SCHEMA = pa.schema([("item", pa.int64()), ("index", pa.int64()), ("source", pa.string()),
                        ("doc_id", pa.string()), ("text", pa.string()), ("error", pa.string()),
                        ("truncated", pa.bool_()), ("skipped", pa.bool_()), ("key", pa.string())])

__all__ = ["RayOptions", "ReadUnit", "plan_read_units", "require_ray", "score_documents_ray"]


@dataclass
class RayOptions:
    """How ``--engine ray`` uses a Ray cluster; none of these changes the output."""

    address: str | None = None  # --ray-address; None: RAY_ADDRESS, else a Ray started on this machine
    readers: int | None = None  # --ray-readers: read tasks; None: a quarter of the cluster's CPUs (at least 1)
    actors: int | None = None  # --ray-actors: model replicas; None: one per GPU, else one per CPU left to readers
    num_cpus: int | None = None  # CPUs of a Ray started here (None: all of this machine's)


@dataclass(frozen=True)
class ReadUnit:
    """One read task's work: shard ``shard`` of ``num_shards`` of one input ``item`` (a local path, or one object
    of an object store; ``base`` is then the listed prefix the object was found under, or None for the URI given)."""

    item: int
    path: str
    shard: int = 0
    num_shards: int = 1
    base: str | None = None


def require_ray() -> Any:
    """Import Ray Data, or say how to install it.

    Raises:
        FinriskError: when the ``ray`` extra is not installed.
    """
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise FinriskError(f"--engine ray needs Ray Data, which is not installed ({exc}): {RAY_HINT}, "
                           "or score with --engine local") from None
    return ray


# ----------------------------------------------------------------------------------------------
# Planning and reading


def plan_read_units(inputs: list[str], readers: int) -> list[ReadUnit]:
    """Split the inputs into read tasks; their ``(item, index)`` order is the order of the local scorer.

    A local directory, archive or table is cut into ``readers`` shards (each enumerates it and reads one
    document in ``readers``); a plain file and each object-store object is one unit.

    Raises:
        DataError: naming an input that does not exist (see :func:`~finrisk_nlp.scoring.documents.expand_inputs`).
    """
    items: list[tuple[str, str | None]] = []
    for given in inputs:
        items.extend(list_objects(given) if is_remote(given) else [(p, None) for p in expand_inputs([given])])
    items = list(dict.fromkeys(items))
    units = []
    for number, (path, base) in enumerate(items):
        lower = path.lower()
        splittable = not is_remote(path) and (os.path.isdir(path) or lower.endswith((".zip", *TAR_SUFFIXES))
                                              or Path(path).suffix.lower() in TABLE_SUFFIXES)
        shards = max(1, readers) if splittable else 1
        units.extend(ReadUnit(number, path, shard, shards, base) for shard in range(shards))
    return units


def _unit_documents(unit: ReadUnit, limits: ReadLimits, text_column: str | None,
                    max_chars: int | None, id_column: str | None = None) -> Iterator[Document]:
    """The documents of one read unit, named as the local scorer names them (object-store ones by URI)."""
    if not is_remote(unit.path):
        yield from iter_documents([glob.escape(unit.path)], limits, text_column=text_column, rank=unit.shard,
                                  num_shards=unit.num_shards, max_chars=max_chars, id_column=id_column)
        return
    with tempfile.TemporaryDirectory(prefix="finrisk-ray-") as tmp:
        try:
            staged = stage_object(unit.path, tmp, limits)
        except (OSError, pa.ArrowException) as exc:
            yield Document(0, unit.path, unit.path, error=f"unreadable ({type(exc).__name__}: {exc})")
            return
        # An object under a prefix is read as a file inside a directory (a table there is not a table input).
        read_as, local_prefix = (tmp, tmp) if unit.base else (staged, staged)
        remote_prefix = unit.path.rsplit("/", 1)[0] if unit.base else unit.path
        for doc in iter_documents([glob.escape(read_as)], limits, text_column=text_column, max_chars=max_chars,
                                  id_column=id_column):
            yield Document(doc.index, remote_prefix + doc.source[len(local_prefix):],
                           remote_prefix + doc.doc_id[len(local_prefix):], doc.text, doc.error, doc.truncated,
                           key=doc.key)


def read_units(units: pa.Table, limits: ReadLimits, text_column: str | None, max_chars: int | None,
               skip: Any, id_column: str | None = None) -> Iterator[pa.Table]:
    """Ray Data read stage: the documents of each unit, in blocks; those already in a part carry no text."""
    import ray

    done = ray.get(skip) if isinstance(skip, ray.ObjectRef) else skip
    rows: list[dict[str, Any]] = []
    for record in units.to_pylist():
        unit = ReadUnit(**record)
        for doc in _unit_documents(unit, limits, text_column, max_chars, id_column):
            skipped = doc.doc_id in done
            rows.append({"item": unit.item, "index": doc.index, "source": doc.source, "doc_id": doc.doc_id,
                         "text": None if skipped else doc.text, "error": None if skipped else doc.error,
                         "truncated": doc.truncated, "skipped": skipped, "key": doc.key})
            if len(rows) >= READ_BLOCK_DOCS:
                yield pa.Table.from_pylist(rows, schema=DOC_SCHEMA)
                rows = []
    if rows:
        yield pa.Table.from_pylist(rows, schema=DOC_SCHEMA)


# ----------------------------------------------------------------------------------------------
# Scoring actors


class DocumentScorer:
    """Ray Data actor: loads the Predictor once, then scores blocks of documents into part rows."""

    def __init__(self, model_ref: str, task: str | None, precision: dict[str, Any], batch_size: int,
                 meta: dict[str, str], use_gpu: bool, id_column: str | None = None) -> None:
        import torch

        from finrisk_nlp.inference.predictor import Predictor
        from finrisk_nlp.inference.reduced_precision import replay_precision

        if not use_gpu:  # one CPU per actor: more torch threads would fight the other actors for it
            torch.set_num_threads(1)
        predictor = Predictor.load(model_ref, device="cuda" if use_gpu else "cpu", task=task)
        prepare_for_inference(predictor)
        self.predictor = replay_precision(predictor, precision)  # the driver's gate decided it
        self.batch_size, self.meta, self.id_column = batch_size, meta, id_column
        self.schema = part_schema(self.predictor.task.labels, id_column=id_column)
        self.out_schema = self.schema.append(pa.field("item", pa.int64())).append(pa.field("skipped", pa.bool_()))

    def __call__(self, batch: pa.Table) -> pa.Table:
        records = batch.to_pylist()
        docs = [Document(r["index"], r["source"], r["doc_id"], r["text"], r["error"], r["truncated"], key=r["key"])
                for r in records if not r["skipped"]]
        item_of = {(r["index"], r["doc_id"]): r["item"] for r in records}
        rows = score_group(self.predictor, docs, self.batch_size, self.meta, self.id_column)
        rows = [{**row, "item": item_of[(row["index"], row["doc_id"])], "skipped": False} for row in rows]
        rows += [{"index": r["index"], "doc_id": r["doc_id"], "source": r["source"], "item": r["item"],
                  "skipped": True} for r in records if r["skipped"]]
        return pa.Table.from_pylist(rows, schema=self.out_schema)


# ----------------------------------------------------------------------------------------------
# Driver


def _connect(ray: Any, options: RayOptions) -> bool:
    """Connect to (or start) Ray; True when this call started it and so must shut it down."""
    if ray.is_initialized():
        return False
    address = options.address or os.environ.get("RAY_ADDRESS") or None
    kwargs: dict[str, Any] = {"address": address, "log_to_driver": False, "include_dashboard": False}
    if address is None:
        kwargs["num_cpus"] = options.num_cpus
    logger.info(f"ray: {'connecting to ' + address if address else 'starting a local Ray on this machine'}")
    ray.init(**{k: v for k, v in kwargs.items() if v is not None or k == "address"})
    return True


def _finrisk_cause(exc: BaseException) -> FinriskError | None:
    """The project error behind a Ray task failure (a missing text column in a table read on a worker)."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, FinriskError):
            return current
        stack.extend([current.__cause__, current.__context__, getattr(current, "cause", None)])
    return None


def score_documents_ray(model_ref: str, options: ScoreOptions, ray_options: RayOptions | None = None
                        ) -> ScoreSummary:
    """Score every document of ``options.inputs`` into ``options.out`` on Ray Data (see the module docstring).

    Returns:
        The counts of the run.

    Raises:
        FinriskError: when Ray is not installed or the run is started by several processes.
        ScoringError / DataError / ModelLoadError: as :func:`~finrisk_nlp.scoring.engine.score_documents`.
    """
    ray = require_ray()
    ray_options = ray_options or RayOptions()
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise FinriskError("--engine ray runs from one driver process, but this is one of several (accelerate "
                           "launch); start it with `finrisk score ... --engine ray` instead")
    fmt = output_format(options.out, options.fmt)
    with OutputLock(parts_dir(options.out)):
        started = False
        try:
            started = _connect(ray, ray_options)
            return _score_on_ray(ray, model_ref, options, ray_options, fmt)
        except FinriskError:
            raise
        except Exception as exc:
            if (cause := _finrisk_cause(exc)) is not None:
                raise cause from None
            raise
        finally:
            if started:
                ray.shutdown()


def _score_on_ray(ray: Any, model_ref: str, options: ScoreOptions, ray_options: RayOptions,
                  fmt: str) -> ScoreSummary:
    from finrisk_nlp.inference.reduced_precision import precision_choice

    requested = precision_choice(options.precision, options.quantize)
    resources = ray.cluster_resources()
    gpus = 0 if options.cpu else int(resources.get("GPU", 0))
    if requested in ("int8", "bf16") and gpus:
        raise ScoringError(f"--precision {requested} is checked here on CPU, but the Ray cluster has GPUs; add --cpu "
                           "or leave out --precision")
    # The fingerprint, the schema and the precision's gate, once here; the actors replay the outcome.
    predictor = load_for_inference(model_ref, device="cpu", task=options.task, precision=requested,
                                   force=options.force, texts_file=options.texts_file)
    if predictor.fields is not None:
        raise ScoringError(f"{model_ref} reads the structured fields {predictor.field_names} beside the text, which "
                           "the Ray engine does not carry yet; score it with the local engine (leave out --engine "
                           "ray; several processes: accelerate launch recipes/batch_score.py)")
    check_id_column(options.id_column, predictor)
    check_table_inputs(predictor, [i for i in options.inputs if not is_remote(i)],
                       options.text_column or predictor.task.text_column, options.id_column)
    precision = predictor.precision_record
    cpus = max(1, int(resources.get("CPU", 1)))
    readers = ray_options.readers or max(1, cpus // 4)
    actors = ray_options.actors or (gpus or max(1, cpus - readers))
    sha = model_fingerprint(model_ref, predictor)
    directory = parts_dir(options.out)
    check_manifest(directory, run_fingerprint(model_ref, options, predictor, sha), is_main=True,
                   record={"precision": precision})
    remove_stale_files(directory)
    text_column = options.text_column or predictor.task.text_column
    max_chars = text_char_budget(predictor)
    meta = {"model_ref": model_ref, "model_version": model_version(predictor, sha)}
    labels = predictor.task.labels
    del predictor

    units = plan_read_units(list(options.inputs), readers)
    skip = ray.put(done_ids(directory))
    logger.info(f"ray: {len(units)} read unit(s) on {readers} reader(s), {actors} model actor(s) "
                f"({'1 GPU' if gpus else '1 CPU'} each)")
    records = [{"item": u.item, "path": u.path, "shard": u.shard, "num_shards": u.num_shards, "base": u.base}
               for u in units]
    dataset = ray.data.from_items(records, override_num_blocks=max(1, min(len(records), 4 * readers)))
    # Asking memory for readers only also keeps Ray Data from fusing reading into the actors (it fuses stages with
    # equal resource requests), so --ray-readers and --ray-actors scale the two stages apart.
    dataset = dataset.map_batches(
        read_units, batch_size=1, batch_format="pyarrow", num_cpus=1, memory=READER_MEMORY,
        compute=ray.data.TaskPoolStrategy(size=readers),
        fn_kwargs={"limits": options.limits, "text_column": text_column, "max_chars": max_chars, "skip": skip,
                   "id_column": options.id_column})
    dataset = dataset.map_batches(
        DocumentScorer, batch_size=options.batch_size * SORT_WINDOW_BATCHES, batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=actors), num_gpus=1 if gpus else 0, num_cpus=0 if gpus else 1,
        fn_constructor_kwargs={"model_ref": model_ref, "task": options.task, "precision": precision,
                               "batch_size": options.batch_size, "meta": meta, "use_gpu": bool(gpus),
                               "id_column": options.id_column})
    summary = _collect(dataset, directory, labels, options)
    summary.num_processes = 1  # one list of enumerated ids, written by this driver
    if summary.complete:
        merge_parts(directory, options.out, fmt, summary, options.id_column)
        manifest_path = directory / MANIFEST
        manifest = json.loads(manifest_path.read_text())
        write_json_atomic(manifest_path, {**manifest, "engine": "ray", "ray_readers": readers,
                                          "ray_actors": actors})
    summary.num_processes = actors
    return summary


def _collect(dataset: Any, directory: Path, labels: tuple[str, ...], options: ScoreOptions) -> ScoreSummary:
    """Stream the scored rows back, write them as parts and record every enumerated document."""
    from tqdm.auto import tqdm

    schema = part_schema(labels, id_column=options.id_column)
    writer = PartWriter(directory, 0, schema)
    columns = schema.names
    part_size = options.part_size or options.batch_size
    summary, pending = ScoreSummary(), []
    enumerated: dict[str, tuple[int, int]] = {}
    with tqdm(desc="scoring (ray)", unit="doc", dynamic_ncols=True) as bar:
        for block in dataset.iter_batches(batch_size=None, batch_format="pyarrow"):
            for row in block.to_pylist():
                if row["doc_id"] in enumerated:  # the same document twice in one run: scored once
                    continue
                enumerated[row["doc_id"]] = (row["item"], row["index"])
                if row["skipped"]:
                    summary.skipped += 1
                else:
                    pending.append({k: row[k] for k in columns})
            bar.update(block.num_rows)
            while len(pending) >= part_size:
                _write_part(writer, pending[:part_size], summary)
                pending = pending[part_size:]
    while pending:
        _write_part(writer, pending[:part_size], summary)
        pending = pending[part_size:]
    order = sorted(enumerated, key=enumerated.__getitem__)
    write_json_atomic(directory / "rank-000.ids.json", [[i, doc_id] for i, doc_id in enumerate(order)])
    summary.complete = True
    return summary


def _write_part(writer: PartWriter, rows: list[dict[str, Any]], summary: ScoreSummary) -> None:
    writer.write(rows)
    failed = sum(r["error"] is not None for r in rows)
    summary.scored += len(rows) - failed
    summary.failed += failed

