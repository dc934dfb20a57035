"""Writes of subscriber data: snapshots, and imports from upload to commit or discard."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from pathlib import Path

from django.core.files import File
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from eligibility import importers
from eligibility.importers import StagedFile, stage_table_name
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
from eligibility.spreadsheets import UnreadableFile, open_table

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
    job.file_sha256 = _sha256(path)
    job.headers = table.headers
    remembered = dict(
        HeaderAlias.objects.filter(kind=kind).values_list("header_key", "field")
    )
    job.column_map = importers.guess_column_map(kind, table.headers, remembered)
    job.save()
    return job


def import_job_set_mapping(
    *, job: ImportJob, column_map: dict[str, int], remember: bool = True
) -> ImportJob:
    """Record which file column feeds each of ours, and remember it for the next file."""
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
        job.save(update_fields=["column_map"])
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


def _drop_stage(job_id: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {stage_table_name(job_id)}")


_COPY_LINE = re.compile(r"line (\d+)")


def _stage_rows(job: ImportJob, progress: Progress) -> None:
    """Every cell of the file as text in an unlogged table, rows numbered in file order."""
    table = open_table(Path(job.source_file.path), original_name=job.original_name)
    if [h for h in table.headers] != job.headers:
        raise UnreadableFile(
            _("The file changed since it was uploaded; upload it again.")
        )
    name = stage_table_name(job.pk)
    width = len(job.headers)
    column_list = ", ".join(f"c{i}" for i in range(width))
    step = _("reading the file")
    _drop_stage(job.pk)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cells = ", ".join(f"c{i} text" for i in range(width))
            cursor.execute(
                f"CREATE UNLOGGED TABLE {name} "
                f"(row_no bigint GENERATED ALWAYS AS IDENTITY, {cells})"
            )
            raw = cursor.cursor
            if table.format == "csv":
                # PostgreSQL parses the CSV itself: the bytes only pass through Python
                # to be checked as UTF-8.
                delimiter = importers.sql_literal(table.delimiter)
                sent, size = 0, job.file_size
                statement = (
                    f"COPY {name} ({column_list}) FROM STDIN "
                    f"(FORMAT csv, HEADER true, DELIMITER {delimiter})"
                )
                try:
                    with raw.copy(statement) as copy:
                        for chunk in table.iter_csv_bytes():
                            copy.write(chunk)
                            sent += len(chunk)
                            progress(sent, size, step)
                except Exception as exc:  # psycopg reports the bad line in its context
                    if exc.__class__.__module__.startswith("psycopg"):
                        context = (
                            getattr(getattr(exc, "diag", None), "context", "") or ""
                        )
                        line = _COPY_LINE.search(context)
                        raise UnreadableFile(
                            _(
                                "Line %(line)s of “%(file)s” does not have the "
                                "%(count)s columns of the header. Check its commas "
                                "and quotes."
                            )
                            % {
                                "line": line.group(1) if line else "?",
                                "file": job.original_name,
                                "count": width,
                            }
                        ) from exc
                    raise
            else:
                done = 0
                with raw.copy(f"COPY {name} ({column_list}) FROM STDIN") as copy:
                    for row in table.iter_rows():
                        copy.write_row(row)
                        done += 1
                        if done % 5000 == 0:
                            progress(done, 0, step)
        else:
            cells = ", ".join(f"c{i} text" for i in range(width))
            cursor.execute(f"CREATE TABLE {name} (row_no INTEGER PRIMARY KEY, {cells})")
            marks = ", ".join(["%s"] * width)
            insert = f"INSERT INTO {name} ({column_list}) VALUES ({marks})"
            batch, done = [], 0
            for row in table.iter_rows():
                batch.append(row)
                if len(batch) == 2000:
                    cursor.executemany(insert, batch)
                    done += len(batch)
                    batch.clear()
                    progress(done, 0, step)
            if batch:
                cursor.executemany(insert, batch)


def _tune_session(cursor) -> None:
    if connection.vendor == "postgresql":
        # The duplicate check sorts every key once; give it memory rather than disk.
        cursor.execute("SET LOCAL work_mem = '256MB'")


def import_job_validate(*, job_id: int, progress: Progress | None = None) -> ImportJob:
    """Stage the file and record every row with a problem; the target is not touched."""
    writer = ProgressWriter(job_id)
    try:
        return _validate(job_id, progress or writer)
    finally:
        writer.close()


def _validate(job_id: int, progress: Progress) -> ImportJob:
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job_id)
        missing = importers.missing_required(job.kind, job.column_map)
        if missing:
            raise DomainError(
                _("The file has no column for: %(columns)s.")
                % {"columns": ", ".join(missing)}
            )
        job.move_to(ImportJob.Status.VALIDATING)
        job.error = ""
        job.progress_done = job.progress_total = 0
        job.save()
    try:
        ImportRejection.objects.filter(job_id=job_id).delete()
        _stage_rows(job, progress)
        staged = StagedFile.for_job(job)
        progress(0, 0, _("checking every row"))
        with transaction.atomic(), connection.cursor() as cursor:
            _tune_session(cursor)
            cursor.execute(staged.count_sql())
            total = cursor.fetchone()[0]
            cursor.execute(staged.rejections_insert(job_id))
            cursor.execute(staged.rejected_cells_update(job_id))
            cursor.execute(
                "SELECT count(*) FROM eligibility_importrejection WHERE job_id = %s",
                [job_id],
            )
            rejected = cursor.fetchone()[0]
    except (UnreadableFile, DomainError) as exc:
        _fail(job_id, str(exc))
        raise
    except Exception:
        _fail(job_id, _("The file could not be checked because of an internal error."))
        raise
    job.refresh_from_db()
    job.total_rows = total
    job.rejected_rows = rejected
    job.valid_rows = total - rejected
    job.progress_done = job.progress_total = total
    job.progress_step = ""
    job.move_to(ImportJob.Status.VALIDATED)
    job.save()
    return job


def _fail(job_id: int, message: str) -> None:
    _drop_stage(job_id)
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


def import_job_commit(*, job_id: int, decided_by=None) -> ImportJob:
    """Replace the target's rows with the good rows of a checked file, all or nothing."""
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job_id)
        if job.status == ImportJob.Status.VALIDATED and job.valid_rows == 0:
            raise DomainError(_("The file has no good rows to import."))
        job.move_to(ImportJob.Status.IMPORTING)
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
    _drop_stage(job_id)
    return job


def _replace_target_rows(job: ImportJob) -> int:
    staged = StagedFile.for_job(job)
    model = TARGET_MODELS[job.kind]
    with connection.cursor() as cursor:
        _tune_session(cursor)
        if job.kind == ImportKind.NAMED_LIST:
            named_list, _created = NamedList.objects.get_or_create(name=job.list_name)
            NamedListEntry.objects.filter(named_list=named_list).delete()
            columns = ["named_list_id", "msisdn", "attributes"]
            fixed = {"named_list_id": str(named_list.pk)}
            select = staged.good_rows_select(job.pk, columns, fixed)
            cursor.execute(
                f"INSERT INTO {model._meta.db_table} ({', '.join(columns)}) {select}"
            )
            inserted = cursor.rowcount
            NamedList.objects.filter(pk=named_list.pk).update(
                entry_count=inserted, updated_at=timezone.now()
            )
            job.named_list = named_list
            return inserted
        cursor.execute(
            f"DELETE FROM {model._meta.db_table} WHERE snapshot_id = %s",
            [job.snapshot_id],
        )
        columns = ["snapshot_id"] + [c.name for c in importers.columns_for(job.kind)]
        if job.kind == ImportKind.SUBSCRIBERS:
            columns.append("extra")
        fixed = {"snapshot_id": str(job.snapshot_id)}
        select = staged.good_rows_select(job.pk, columns, fixed)
        cursor.execute(
            f"INSERT INTO {model._meta.db_table} ({', '.join(columns)}) {select}"
        )
        inserted = cursor.rowcount
    counter = (
        "subscriber_count" if job.kind == ImportKind.SUBSCRIBERS else "billing_count"
    )
    Snapshot.objects.filter(pk=job.snapshot_id).update(**{counter: inserted})
    return inserted


def import_job_discard(*, job: ImportJob, decided_by=None) -> ImportJob:
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job.pk)
        job.move_to(ImportJob.Status.DISCARDED)
        job.decided_by = decided_by
        job.finished_at = timezone.now()
        job.save()
        ImportRejection.objects.filter(job=job).delete()
    _drop_stage(job.pk)
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
    """Upload, check and (with commit) import a file in one call, for commands and jobs."""
    job = import_job_create(
        kind=kind,
        source=path,
        original_name=path.name,
        snapshot=snapshot,
        list_name=list_name,
        created_by=user,
    )
    missing = importers.missing_required(kind, job.column_map)
    if missing:
        raise DomainError(
            _("The file has no column for: %(columns)s.")
            % {"columns": ", ".join(missing)}
        )
    job = import_job_validate(job_id=job.pk, progress=progress)
    if commit and job.valid_rows:
        job = import_job_commit(job_id=job.pk, decided_by=user)
    return job
