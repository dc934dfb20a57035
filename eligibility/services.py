"""Writes of subscriber data: snapshots, and imports from upload to commit or discard."""

from __future__ import annotations

import hashlib
import re
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from django.conf import settings
from django.core.files import File
from django.db import (
    DEFAULT_DB_ALIAS,
    IntegrityError,
    connection,
    connections,
    transaction,
)
from django.utils import timezone
from django.utils.translation import gettext as _
from pyarrow import csv as pa_csv

from eligibility import checks, copybinary, importers, partitions
from eligibility.models import (
    BillingRecord,
    DomainError,
    HeaderAlias,
    ImportJob,
    ImportKind,
    ImportRejection,
    NamedList,
    NamedListEntry,
    Snapshot,
    Subscriber,
)
from eligibility.spreadsheets import TableFile, UnreadableFile, open_table

Progress = Callable[[int, int, str], None]

TARGET_MODELS = {
    ImportKind.SUBSCRIBERS: Subscriber,
    ImportKind.BILLING: BillingRecord,
    ImportKind.NAMED_LIST: NamedListEntry,
}


def snapshot_create(*, name: str, taken_on, description: str = "") -> Snapshot:
    if Snapshot.objects.filter(name=name).exists():
        raise DomainError(
            _("A snapshot named “%(name)s” already exists.") % {"name": name}
        )
    return Snapshot.objects.create(
        name=name, taken_on=taken_on, description=description
    )


def snapshot_delete(*, snapshot: Snapshot) -> None:
    """Delete a snapshot with its subscribers and billing rows, partition by partition."""
    if snapshot.campaigns.exists():
        raise DomainError(
            _("The snapshot “%(name)s” is used by a campaign and cannot be deleted.")
            % {"name": snapshot.name}
        )
    with transaction.atomic():
        for model in (Subscriber, BillingRecord):
            table = model._meta.db_table
            if partitions.is_partitioned(table):
                with connection.cursor() as cursor:
                    partitions.drop_partition(cursor, table, snapshot.pk)
            else:
                model.objects.filter(snapshot=snapshot).delete()
        snapshot.delete()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def import_job_create(
    *,
    kind: str,
    source: File | Path,
    original_name: str,
    snapshot: Snapshot | None = None,
    list_name: str = "",
    created_by=None,
) -> ImportJob:
    """Store an uploaded file and read its header; the whole file is refused if unreadable.

    The column mapping is guessed from our names, the aliases staff mapped before and
    the operator's usual Vietnamese headers; staff confirm it before rows are checked.
    """
    job, _table = _create_job(
        kind=kind,
        source=source,
        original_name=original_name,
        snapshot=snapshot,
        list_name=list_name,
        created_by=created_by,
        cache_sheet=True,
    )
    return job


def _create_job(
    *,
    kind: str,
    source: File | Path,
    original_name: str,
    snapshot: Snapshot | None,
    list_name: str,
    created_by,
    cache_sheet: bool,
) -> tuple[ImportJob, TableFile]:
    if kind == ImportKind.NAMED_LIST:
        if not list_name.strip():
            raise DomainError(_("Give the list a name."))
    elif snapshot is None:
        raise DomainError(_("Choose the snapshot the file belongs to."))

    job = ImportJob(
        kind=kind,
        snapshot=snapshot if kind != ImportKind.NAMED_LIST else None,
        list_name=list_name.strip(),
        original_name=original_name,
        created_by=created_by,
    )
    if isinstance(source, Path):
        with open(source, "rb") as stream:
            job.source_file.save(source.name, File(stream), save=False)
    else:
        job.source_file.save(original_name, source, save=False)
    path = Path(job.source_file.path)
    try:
        table = open_table(path, original_name=original_name)
    except UnreadableFile:
        job.source_file.delete(save=False)
        raise
    job.file_format = table.format
    job.file_size = path.stat().st_size
    job.headers = table.headers
    remembered = dict(
        HeaderAlias.objects.filter(kind=kind).values_list("header_key", "field")
    )
    job.column_map = importers.guess_column_map(kind, table.headers, remembered)
    job.save()
    if cache_sheet and table.format == "xlsx":
        _cache_sheet(job, table)
    return job, table


def _sheet_cache_path(job_id: int) -> Path:
    return Path(settings.MEDIA_ROOT) / "imports" / "sheets" / f"job-{int(job_id)}.arrow"


def _cache_sheet(job: ImportJob, table) -> None:
    """Keep an XLSX's rows as Arrow batches: reading the header already parsed the
    whole sheet, and parsing it again for the check would double the import's cost."""
    path = _sheet_cache_path(job.pk)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = None
    with pa.OSFile(str(path), "wb") as sink:
        for batch in checks.read_batches(table):
            if writer is None:
                writer = pa.ipc.new_file(sink, batch.schema)
            writer.write_batch(batch)
        if writer is not None:
            writer.close()
    if writer is None:
        path.unlink()


def _job_batches(job: ImportJob, progress=None, table: TableFile | None = None):
    """The rows of a job's file: from the table the caller opened, else from the
    sheet cache when there is one, else from the file."""
    cached = _sheet_cache_path(job.pk)
    if table is not None or not cached.exists():
        yield from checks.read_batches(table or _open_job_file(job), progress)
        return
    reader = pa.ipc.open_file(str(cached))
    done = 0
    for index in range(reader.num_record_batches):
        batch = reader.get_batch(index)
        done += batch.num_rows
        if progress:
            progress(done, 0)
        yield batch


def import_job_set_mapping(
    *, job: ImportJob, column_map: dict[str, int], remember: bool = True
) -> ImportJob:
    """Record which file column feeds each of ours, and remember it for the next file.

    The job moves to "validating" at once, before a worker picks the check up: the
    page staff land on next shows the progress bar and follows the check, instead of
    the upload state it would read if it came before the worker.
    """
    if job.status not in {
        ImportJob.Status.UPLOADED,
        ImportJob.Status.VALIDATED,
        ImportJob.Status.FAILED,
    }:
        raise DomainError(_("The columns of this import can no longer be changed."))
    known = {c.name for c in importers.columns_for(job.kind)}
    clean = {}
    for name, index in column_map.items():
        if name not in known:
            raise DomainError(
                _("“%(column)s” is not one of our columns.") % {"column": name}
            )
        if index is None or index == "":
            continue
        index = int(index)
        if not 0 <= index < len(job.headers):
            raise DomainError(
                _("Column %(index)s is not in the file.") % {"index": index}
            )
        clean[name] = index
    used = list(clean.values())
    doubled = {job.headers[i] for i in used if used.count(i) > 1}
    if doubled:
        raise DomainError(
            _("The file column “%(header)s” is mapped to more than one of our columns.")
            % {"header": ", ".join(sorted(doubled))}
        )
    missing = importers.missing_required(job.kind, clean)
    if missing:
        raise DomainError(
            _("The file has no column for: %(columns)s. Map a column to each of them.")
            % {"columns": ", ".join(missing)}
        )
    with transaction.atomic():
        job.column_map = clean
        job.move_to(ImportJob.Status.VALIDATING)
        job.error = ""
        job.progress_done = job.progress_total = 0
        job.progress_step = _("waiting for the check to start")
        job.save(
            update_fields=[
                "column_map",
                "status",
                "error",
                "progress_done",
                "progress_total",
                "progress_step",
            ]
        )
        if remember:
            for name, index in clean.items():
                key = importers.header_key(job.headers[index])
                if key != importers.header_key(name):
                    HeaderAlias.objects.update_or_create(
                        kind=job.kind, header_key=key, defaults={"field": name}
                    )
    return job


class ProgressWriter:
    """Saves an import's progress at most twice a second, for the page that polls it.

    On PostgreSQL it writes through a connection of its own: the import's connection
    is busy streaming a COPY, and its own transaction would hide the progress anyway.
    """

    def __init__(self, job_id: int):
        self.job_id = job_id
        self.last = 0.0
        self.connection = None

    def __call__(self, done: int, total: int, step: str) -> None:
        now = time.monotonic()
        if now - self.last < 0.5 and done < total:
            return
        self.last = now
        statement = (
            "UPDATE eligibility_importjob SET progress_done = %s, progress_total = %s, "
            "progress_step = %s WHERE id = %s"
        )
        if connection.vendor != "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(statement, [done, total, step, self.job_id])
            return
        if self.connection is None:
            self.connection = connections.create_connection(DEFAULT_DB_ALIAS)
        with self.connection.cursor() as cursor:
            cursor.execute(statement, [done, total, step, self.job_id])

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def _checked_path(job_id: int) -> Path:
    """Where the typed good rows of a checked file wait for the staff's decision."""
    return (
        Path(settings.MEDIA_ROOT) / "imports" / "checked" / f"job-{int(job_id)}.arrow"
    )


def _drop_checked(job_id: int) -> None:
    _checked_path(job_id).unlink(missing_ok=True)


def _drop_sheet_cache(job_id: int) -> None:
    _sheet_cache_path(job_id).unlink(missing_ok=True)


def _drop_loading(job_id: int) -> None:
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for table in partitions.PARTITIONED:
            partitions.drop_loading_table(cursor, table, job_id)


def _save_rejections(job_id: int, rejected: list[tuple[int, str, list]]) -> None:
    ImportRejection.objects.bulk_create(
        [
            ImportRejection(job_id=job_id, row_no=row, problems=problems, cells=cells)
            for row, problems, cells in rejected
        ],
        batch_size=2000,
    )


def _extra_column(kind: str) -> str | None:
    return {ImportKind.SUBSCRIBERS: "extra", ImportKind.NAMED_LIST: "attributes"}.get(
        kind
    )


def _open_job_file(job: ImportJob):
    table = open_table(Path(job.source_file.path), original_name=job.original_name)
    if table.headers != job.headers:
        raise UnreadableFile(
            _("The file changed since it was uploaded; upload it again.")
        )
    return table


def _reject_duplicates(job: ImportJob, duplicates: dict[int, int]) -> int:
    """Record rows repeating an earlier row's key; returns how many rows it newly rejects."""
    code = {row: f"msisdn:duplicate:{first + 1};" for row, first in duplicates.items()}
    already = {}
    rows = sorted(duplicates)
    for start in range(0, len(rows), 5000):
        chunk = rows[start : start + 5000]
        for rejection in ImportRejection.objects.filter(job=job, row_no__in=chunk):
            rejection.problems += code[rejection.row_no]
            already[rejection.row_no] = rejection
    ImportRejection.objects.bulk_update(already.values(), ["problems"], batch_size=2000)
    wanted = pa.array([row for row in rows if row not in already], pa.int64())
    if not len(wanted):
        return 0
    # A second read of the file fetches the cells of the repeated rows.
    new, row_no = [], 1
    for batch in _job_batches(job):
        numbers = pa.array(range(row_no, row_no + batch.num_rows), pa.int64())
        row_no += batch.num_rows
        hits = pc.is_in(numbers, wanted)
        if pc.any(hits).as_py():
            picked = pc.indices_nonzero(hits)
            for number, cells in zip(
                pc.take(numbers, picked).to_pylist(),
                batch.take(picked).to_pylist(),
                strict=True,
            ):
                new.append((number, code[number], list(cells.values())))
    _save_rejections(job.pk, new)
    return len(new)


class _ArrowFileSink:
    """Good rows kept in an Arrow file until the commit copies them in."""

    def __init__(self, job: ImportJob):
        self.path = _checked_path(job.pk)
        self.writer = None

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.file = pa.OSFile(str(self.path), "wb")
        return self

    def write(self, good: pa.Table) -> None:
        if self.writer is None:
            self.writer = pa.ipc.new_file(self.file, good.schema)
        self.writer.write_table(good)

    def __exit__(self, *exc):
        if self.writer is not None:
            self.writer.close()
        self.file.close()

    # Keys are grouped in memory: this sink serves SQLite and named lists, small data.
    finds_duplicates = False
    fills_empty_extra = False


class _LoadingTableSink:
    """Good rows COPYed straight into the table that will become the partition.

    It writes through a connection of its own, in autocommit, so the import's
    connection stays free to record rejected rows while the COPY streams; the table
    is invisible to every query until the commit attaches it.
    """

    def __init__(self, job: ImportJob, table: str):
        self.job_id = job.pk
        self.table = table
        self.snapshot_id = job.snapshot_id
        self.loading = partitions.loading_name(table, job.pk)
        self.extra = _extra_column(job.kind)
        self.columns = None

    def __enter__(self):
        self.connection = connections.create_connection(DEFAULT_DB_ALIAS)
        self.stack = ExitStack()
        self.cursor = self.stack.enter_context(self.connection.cursor())
        partitions.create_loading_table(
            self.cursor, self.table, self.job_id, self.snapshot_id
        )
        if self.extra:
            # Rows of a file with no column beyond ours come without their empty
            # extra object; parsing 1 M "{}" costs PostgreSQL 0,13 s.
            self.cursor.execute(
                f"ALTER TABLE {self.loading} ALTER COLUMN {self.extra} "
                "SET DEFAULT '{}'::jsonb"
            )
        self.copy = None
        return self

    def write(self, good: pa.Table) -> None:
        if not good.num_rows:
            return
        ids = partitions.row_id(self.job_id, pc.cast(good["row_no"], pa.int64()))
        good = good.drop_columns(["row_no"])
        columns = ["id", *good.schema.names]  # snapshot_id: the table's default
        good = pa.Table.from_arrays([ids, *good.columns], names=columns)
        if self.copy is None:
            catalogue = copybinary.table_columns(self.cursor, self.loading)
            self.plan = copybinary.CopyPlan([catalogue[name] for name in columns])
            # A thread sends the data, so checking the next batches goes on while
            # PostgreSQL stores this one on the other core. Binary rows spare
            # PostgreSQL parsing every number and date back from text.
            raw = self.cursor.cursor
            self.copy = self.stack.enter_context(
                raw.copy(
                    f"COPY {self.loading} ({', '.join(self.plan.column_names)}) "
                    "FROM STDIN (FORMAT binary)",
                    writer=copybinary.BatchQueueWriter(raw),
                )
            )
            self.copy.write(copybinary.HEADER)
        self.copy.write(memoryview(self.plan.encode(good)))

    def __exit__(self, *exc):
        try:
            if self.copy is not None and exc[0] is None:
                self.copy.write(copybinary.TRAILER)
            self.stack.__exit__(*exc)
        finally:
            self.connection.close()

    # PostgreSQL finds repeated keys while it builds the unique index, in bounded
    # memory; holding millions of keys in this process would not be.
    finds_duplicates = True
    fills_empty_extra = True

    def index(self) -> dict[int, int]:
        """Index the loaded rows; rows repeating a key are removed and returned."""
        with connection.cursor() as cursor:
            try:
                with transaction.atomic():
                    partitions.index_loaded_table(cursor, self.table, self.loading)
                return {}
            except IntegrityError:
                duplicates = partitions.duplicates_in_loaded_table(
                    cursor, self.table, self.loading
                )
            ids = [partitions.row_id(self.job_id, row) for row in duplicates]
            with transaction.atomic():
                cursor.execute(f"DELETE FROM {self.loading} WHERE id = ANY(%s)", [ids])
                partitions.index_loaded_table(cursor, self.table, self.loading)
        return duplicates


def _loads_partition(job: ImportJob) -> str | None:
    """The partitioned table a job's rows go to, or None when they take another way."""
    if job.kind == ImportKind.NAMED_LIST:
        return None
    table = TARGET_MODELS[job.kind]._meta.db_table
    return table if partitions.is_partitioned(table) else None


def _good_row_sink(job: ImportJob):
    table = _loads_partition(job)
    return _LoadingTableSink(job, table) if table else _ArrowFileSink(job)


# Batches checked at once. Arrow's kernels release the GIL, so two batches are
# checked side by side, on whatever core PostgreSQL leaves free while it stores the
# rows before them; a third waits its turn, which bounds the memory held.
_CHECKS_IN_FLIGHT = 2


def _checked_in_order(checker: checks.BatchChecker, batches) -> Iterator:
    """checker.check() of each batch, in file order, run on a small thread pool."""
    with ThreadPoolExecutor(
        max_workers=_CHECKS_IN_FLIGHT, thread_name_prefix="import-check"
    ) as pool:
        pending: deque = deque()
        row_no = 1
        for batch in batches:
            pending.append(pool.submit(checker.check, batch, row_no))
            row_no += batch.num_rows
            if len(pending) > _CHECKS_IN_FLIGHT:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def import_job_validate(
    *, job_id: int, progress: Progress | None = None, table: TableFile | None = None
) -> ImportJob:
    """Check every row of the file; the target is not touched.

    Rows with problems are recorded with their cells; the typed good rows wait in a
    file beside the upload until staff import them or nothing. `table` is the job's
    file as the caller already opened it, read instead of opening it again.
    """
    writer = ProgressWriter(job_id)
    try:
        return _validate(job_id, progress or writer, table)
    finally:
        writer.close()


def _validate(job_id: int, progress: Progress, table: TableFile | None) -> ImportJob:
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job_id)
        missing = importers.missing_required(job.kind, job.column_map)
        if missing:
            raise DomainError(
                _("The file has no column for: %(columns)s.")
                % {"columns": ", ".join(missing)}
            )
        if job.status != ImportJob.Status.VALIDATING:  # set_mapping moved it already
            job.move_to(ImportJob.Status.VALIDATING)
        job.error = ""
        job.progress_done = job.progress_total = 0
        job.save()
    step = _("checking every row")
    # The file's digest tells a repeated import at commit. It is computed beside the
    # check, which leaves a core idle at times; hashlib lets other threads run.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-hash") as hasher:
        digest = hasher.submit(_sha256, Path(job.source_file.path))
        total, rejected = _check_rows(job, progress, step, table)
    job.refresh_from_db()
    job.file_sha256 = digest.result()
    job.total_rows = total
    job.rejected_rows = rejected
    job.valid_rows = total - rejected
    job.progress_done = job.progress_total = total
    job.progress_step = ""
    job.move_to(ImportJob.Status.VALIDATED)
    job.save()
    return job


def _check_rows(
    job: ImportJob, progress: Progress, step: str, table: TableFile | None
) -> tuple[int, int]:
    """Check the file's rows into the job's sink: (rows read, rows rejected)."""
    job_id = job.pk
    try:
        ImportRejection.objects.filter(job_id=job_id).delete()
        total = rejected = 0
        key_tables = []
        with _good_row_sink(job) as sink:
            checker = checks.BatchChecker(
                kind=job.kind,
                headers=job.headers,
                column_map=job.column_map,
                extra_name=_extra_column(job.kind),
                collect_keys=not sink.finds_duplicates,
                omit_empty_extra=sink.fills_empty_extra,
            )
            batches = _job_batches(
                job, lambda done, size: progress(done, size, step), table
            )
            for checked in _checked_in_order(checker, batches):
                total += checked.rows
                if checked.rejected:
                    _save_rejections(job_id, checked.rejected)
                    rejected += len(checked.rejected)
                sink.write(checked.good)
                if not sink.finds_duplicates:
                    key_tables.append(checked.keys)
        if sink.finds_duplicates:
            duplicates = sink.index()
        else:
            duplicates = checks.find_duplicates(
                key_tables, importers.KEY_COLUMNS[job.kind]
            )
        del key_tables
        rejected += _reject_duplicates(job, duplicates)
    except (UnreadableFile, DomainError) as exc:
        _fail(job_id, str(exc))
        raise
    except pa.ArrowInvalid as exc:
        message = _arrow_error_message(job.original_name, str(exc))
        _fail(job_id, message)
        raise UnreadableFile(message) from exc
    except Exception:
        _fail(job_id, _("The file could not be checked because of an internal error."))
        raise
    return total, rejected


_RAGGED_ROW = re.compile(r"Expected (\d+) columns, got (\d+): (.*)")


def _arrow_error_message(file_name: str, error: str) -> str:
    """The reader's complaint about a file, said to the person who uploaded it."""
    ragged = _RAGGED_ROW.search(error)
    if ragged:
        expected, got, row = ragged.groups()
        return _(
            "A row of “%(file)s” has %(got)s cells where the header has %(expected)s: "
            "%(row)s. Check its commas and quotes, then upload the file again."
        ) % {"file": file_name, "got": got, "expected": expected, "row": row[:200]}
    return _("“%(file)s” could not be read: %(reason)s") % {
        "file": file_name,
        "reason": error.splitlines()[0],
    }


def _fail(job_id: int, message: str) -> None:
    _drop_checked(job_id)
    _drop_loading(job_id)
    ImportRejection.objects.filter(job_id=job_id).delete()
    ImportJob.objects.filter(pk=job_id).update(
        status=ImportJob.Status.FAILED, error=message, finished_at=timezone.now()
    )


def _same_file_already_imported(job: ImportJob) -> bool:
    """The target's latest import was this very file with this very mapping."""
    latest = (
        ImportJob.objects.filter(
            kind=job.kind,
            snapshot=job.snapshot,
            list_name=job.list_name,
            status=ImportJob.Status.IMPORTED,
        )
        .exclude(pk=job.pk)
        .order_by("-finished_at", "-pk")
        .first()
    )
    return bool(
        latest
        and latest.file_sha256 == job.file_sha256
        and latest.column_map == job.column_map
    )


def import_job_accept(*, job: ImportJob, decided_by=None) -> ImportJob:
    """Staff chose to import the good rows of a checked file; a worker does it next.

    The job moves to "importing" here, before a worker picks it up, so the page staff
    land on shows the progress bar and reloads when the import ends, instead of the
    decision buttons it would show if it came before the worker.
    """
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job.pk)
        if job.status != ImportJob.Status.VALIDATED:
            raise DomainError(_("Only a checked file can be imported."))
        if job.valid_rows == 0:
            raise DomainError(_("The file has no good rows to import."))
        job.move_to(ImportJob.Status.IMPORTING)
        job.decided_by = decided_by
        job.progress_step = _("waiting for the import to start")
        job.save()
    return job


def import_job_commit(*, job_id: int, decided_by=None) -> ImportJob:
    """Replace the target's rows with the good rows of a checked file, all or nothing."""
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job_id)
        if job.status == ImportJob.Status.VALIDATED and job.valid_rows == 0:
            raise DomainError(_("The file has no good rows to import."))
        if job.status != ImportJob.Status.IMPORTING:
            job.move_to(ImportJob.Status.IMPORTING)
        if decided_by is not None:
            job.decided_by = decided_by
        job.progress_step = _("importing the good rows")
        job.save()
    try:
        with transaction.atomic():
            job = ImportJob.objects.select_for_update().get(pk=job_id)
            if _same_file_already_imported(job):
                job.unchanged = True
                job.imported_rows = 0
            else:
                job.imported_rows = _replace_target_rows(job)
            job.move_to(ImportJob.Status.IMPORTED)
            job.finished_at = timezone.now()
            job.progress_step = ""
            job.save()
    except Exception:
        ImportJob.objects.filter(pk=job_id).update(
            status=ImportJob.Status.VALIDATED,
            error=_("The import failed and nothing was changed; try again."),
        )
        raise
    _drop_checked(job_id)
    _drop_loading(job_id)
    _drop_sheet_cache(job_id)
    return job


def _replace_target_rows(job: ImportJob) -> int:
    """Delete the target's rows and write the checked good rows in their place."""
    model = TARGET_MODELS[job.kind]
    if job.kind == ImportKind.NAMED_LIST:
        named_list, _created = NamedList.objects.get_or_create(name=job.list_name)
        NamedListEntry.objects.filter(named_list=named_list).delete()
        owner = ("named_list_id", named_list.pk)
        job.named_list = named_list
    else:
        owner = ("snapshot_id", job.snapshot_id)
    rejected = pa.array(
        ImportRejection.objects.filter(job=job).values_list("row_no", flat=True),
        pa.int64(),
    )
    table = model._meta.db_table
    if _loads_partition(job):
        with connection.cursor() as cursor:
            if not partitions.loading_table_exists(cursor, table, job.pk):
                raise DomainError(
                    _("The checked rows of this file are gone; check it again.")
                )
            loading = partitions.loading_name(table, job.pk)
            # The check left exactly its good rows, repeated keys removed, in the
            # table; counting them again would read it whole.
            inserted = job.valid_rows
            partitions.attach_loaded_table(cursor, table, job.snapshot_id, loading)
    else:
        if job.kind != ImportKind.NAMED_LIST:
            model.objects.filter(snapshot=job.snapshot).delete()
        inserted = _write_rows(table, _checked_path(job.pk), owner=owner, skip=rejected)
    if job.kind == ImportKind.NAMED_LIST:
        NamedList.objects.filter(pk=job.named_list.pk).update(
            entry_count=inserted, updated_at=timezone.now()
        )
    else:
        counter = (
            "subscriber_count"
            if job.kind == ImportKind.SUBSCRIBERS
            else "billing_count"
        )
        # The facts rules check against (cycles, places) are read again on next use.
        Snapshot.objects.filter(pk=job.snapshot_id).update(
            **{counter: inserted}, facts={}
        )
    return inserted


def _write_rows(
    table: str, path: Path, *, owner: tuple[str, int], skip: pa.Array
) -> int:
    """Stream the checked rows into `table`: COPY on PostgreSQL, batched inserts else."""
    if not path.exists():
        raise DomainError(_("The checked rows of this file are gone; check it again."))
    inserted = 0
    reader = pa.ipc.open_file(str(path))
    owner_name, owner_id = owner
    with connection.cursor() as cursor, ExitStack() as stack:
        copy = None
        for index in range(reader.num_record_batches):
            batch = reader.get_batch(index)
            if len(skip):
                batch = batch.filter(pc.invert(pc.is_in(batch["row_no"], skip)))
            batch = batch.drop_columns(["row_no"])
            if not batch.num_rows:
                continue
            columns = [owner_name, *batch.schema.names]
            batch = pa.RecordBatch.from_arrays(
                [pa.array([owner_id] * batch.num_rows, pa.int64()), *batch.columns],
                names=columns,
            )
            inserted += batch.num_rows
            if connection.vendor == "postgresql":
                if copy is None:
                    copy = stack.enter_context(
                        cursor.cursor.copy(
                            f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT csv)"
                        )
                    )
                sink = pa.BufferOutputStream()
                pa_csv.write_csv(
                    batch, sink, write_options=pa_csv.WriteOptions(include_header=False)
                )
                copy.write(sink.getvalue().to_pybytes())
            else:
                marks = ", ".join(["%s"] * len(columns))
                rows = _python_rows(batch)
                cursor.executemany(
                    f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows
                )
    return inserted


def _python_rows(batch: pa.RecordBatch) -> list[tuple]:
    """Rows as SQLite takes them: dates as ISO text, booleans as 0/1."""
    columns = []
    for column in batch.columns:
        if pa.types.is_date(column.type):
            column = pc.cast(column, pa.string())
        elif pa.types.is_boolean(column.type):
            column = pc.cast(column, pa.int8())
        columns.append(column.to_pylist())
    return list(zip(*columns, strict=True))


def import_job_discard(*, job: ImportJob, decided_by=None) -> ImportJob:
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job.pk)
        job.move_to(ImportJob.Status.DISCARDED)
        job.decided_by = decided_by
        job.finished_at = timezone.now()
        job.save()
        ImportRejection.objects.filter(job=job).delete()
    _drop_checked(job.pk)
    _drop_loading(job.pk)
    _drop_sheet_cache(job.pk)
    return job


def import_file(
    *,
    kind: str,
    path: Path,
    snapshot: Snapshot | None = None,
    list_name: str = "",
    commit: bool = False,
    progress: Progress | None = None,
    user=None,
) -> ImportJob:
    """Upload, check and (with commit) import a file in one call, for commands and jobs.

    The file is read once, as it is checked: an XLSX's rows go from the child that
    parses the sheet straight to the check, with no sheet cache between them.
    """
    job, table = _create_job(
        kind=kind,
        source=path,
        original_name=path.name,
        snapshot=snapshot,
        list_name=list_name,
        created_by=user,
        cache_sheet=False,
    )
    missing = importers.missing_required(kind, job.column_map)
    if missing:
        raise DomainError(
            _("The file has no column for: %(columns)s.")
            % {"columns": ", ".join(missing)}
        )
    job = import_job_validate(job_id=job.pk, progress=progress, table=table)
    if commit and job.valid_rows:
        job = import_job_commit(job_id=job.pk, decided_by=user)
    return job
