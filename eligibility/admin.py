from functools import partial
from pathlib import Path

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from eligibility import importers, selectors, services, tasks
from eligibility.forms import ColumnMappingForm, ImportUploadForm
from eligibility.models import (
    BillingRecord,
    DomainError,
    HeaderAlias,
    ImportJob,
    ImportKind,
    NamedList,
    Snapshot,
    Subscriber,
)
from eligibility.selectors import msisdn_normalise
from eligibility.spreadsheets import UnreadableFile, open_table

IMPORT_PERMISSION = "eligibility.import_subscriber_data"


@admin.register(Snapshot)
class SnapshotAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "taken_on",
        "subscriber_count",
        "billing_count",
        "created_at",
    ]
    search_fields = ["name"]
    readonly_fields = ["subscriber_count", "billing_count", "created_at"]
    date_hierarchy = "taken_on"

    def delete_model(self, request, obj):
        services.snapshot_delete(snapshot=obj)

    def delete_queryset(self, request, queryset):
        for snapshot in queryset:
            services.snapshot_delete(snapshot=snapshot)


class SearchByNumberMixin:
    """Staff type numbers as customers say them: 0901234567, +84 90 123 4567."""

    def get_search_results(self, request, queryset, search_term):
        normalised = msisdn_normalise(search_term)
        if normalised:
            return queryset.filter(msisdn=normalised), False
        return super().get_search_results(request, queryset, search_term)


@admin.register(Subscriber)
class SubscriberAdmin(SearchByNumberMixin, admin.ModelAdmin):
    list_display = [
        "msisdn",
        "full_name",
        "snapshot",
        "subscription_type",
        "status",
        "company",
        "province",
        "district",
    ]
    list_filter = ["snapshot", "subscription_type", "status", "company", "line_kind"]
    search_fields = ["=msisdn", "full_name"]
    list_select_related = ["snapshot"]
    show_full_result_count = False  # counting millions of rows on every page is slow


@admin.register(BillingRecord)
class BillingRecordAdmin(SearchByNumberMixin, admin.ModelAdmin):
    list_display = [
        "msisdn",
        "cycle",
        "revenue_total",
        "paid",
        "debt_blocked",
        "snapshot",
    ]
    list_filter = ["snapshot", "cycle"]
    search_fields = ["=msisdn"]
    show_full_result_count = False


@admin.register(NamedList)
class NamedListAdmin(admin.ModelAdmin):
    list_display = ["name", "entry_count", "updated_at"]
    search_fields = ["name"]
    readonly_fields = ["entry_count", "created_at", "updated_at"]


@admin.register(HeaderAlias)
class HeaderAliasAdmin(admin.ModelAdmin):
    list_display = ["kind", "header_key", "field", "updated_at"]
    list_filter = ["kind"]


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    """Imports are driven through their own pages: upload, map, check, decide."""

    list_display = [
        "original_name",
        "kind",
        "target",
        "status",
        "total_rows",
        "valid_rows",
        "rejected_rows",
        "created_by",
        "created_at",
    ]
    list_filter = ["status", "kind"]
    list_select_related = ["snapshot", "created_by"]

    @admin.display(description=gettext_lazy("target"))
    def target(self, job):
        return job.target_label

    def has_add_permission(self, request):
        return request.user.has_perm(IMPORT_PERMISSION)

    def has_change_permission(self, request, obj=None):
        return False

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("upload/", wrap(self.upload_view), name="eligibility_import_upload"),
            path(
                "<int:job_id>/mapping/",
                wrap(self.mapping_view),
                name="eligibility_import_mapping",
            ),  # noqa: E501
            path(
                "<int:job_id>/status/",
                wrap(self.status_view),
                name="eligibility_import_status",
            ),  # noqa: E501
            path(
                "<int:job_id>/decide/",
                wrap(self.decide_view),
                name="eligibility_import_decide",
            ),  # noqa: E501
            path(
                "<int:job_id>/rejects.csv",
                wrap(self.rejects_view),
                name="eligibility_import_rejects",
            ),  # noqa: E501
            path("<int:job_id>/", wrap(self.job_view), name="eligibility_import_job"),
        ] + super().get_urls()

    def add_view(self, request, form_url="", extra_context=None):
        return redirect("admin:eligibility_import_upload")

    def change_view(self, request, object_id, form_url="", extra_context=None):
        return redirect("admin:eligibility_import_job", job_id=object_id)

    # --- views -----------------------------------------------------------------------

    def _check(self, request):
        if not request.user.has_perm(IMPORT_PERMISSION):
            raise PermissionDenied

    def _context(self, request, **extra):
        return {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            **extra,
        }

    def upload_view(self, request):
        self._check(request)
        form = ImportUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            data = form.cleaned_data
            try:
                with transaction.atomic():
                    snapshot = data["snapshot"]
                    if data["kind"] != ImportKind.NAMED_LIST and not snapshot:
                        snapshot = services.snapshot_create(
                            name=data["new_snapshot_name"].strip(),
                            taken_on=data["new_snapshot_taken_on"],
                        )
                    job = services.import_job_create(
                        kind=data["kind"],
                        source=upload,
                        original_name=upload.name,
                        snapshot=snapshot,
                        list_name=data["list_name"],
                        created_by=request.user,
                    )
            except (UnreadableFile, DomainError) as exc:
                form.add_error("file", str(exc))
            else:
                return redirect("admin:eligibility_import_mapping", job_id=job.pk)
        return TemplateResponse(
            request,
            "admin/eligibility/import_upload.html",
            self._context(request, form=form, title=_("Import subscriber data")),
        )

    def mapping_view(self, request, job_id):
        self._check(request)
        job = get_object_or_404(ImportJob, pk=job_id)
        form = ColumnMappingForm(request.POST or None, job=job)
        if request.method == "POST" and form.is_valid():
            try:
                services.import_job_set_mapping(
                    job=job,
                    column_map=form.column_map(),
                    remember=form.cleaned_data["remember"],
                )
                transaction.on_commit(partial(tasks.validate_import.delay, job.pk))
            except DomainError as exc:
                form.add_error(None, str(exc))
            else:
                return redirect("admin:eligibility_import_job", job_id=job.pk)
        columns = importers.columns_for(job.kind)
        samples = _sample_rows(job)
        model = services.TARGET_MODELS[job.kind]
        rows = [
            {
                "column": column,
                "label": model._meta.get_field(column.name).verbose_name,
                "field": form[f"col_{column.name}"],
            }
            for column in columns
        ]
        return TemplateResponse(
            request,
            "admin/eligibility/import_mapping.html",
            self._context(
                request,
                job=job,
                form=form,
                rows=rows,
                samples=samples,
                title=_("Match the file's columns to ours"),
            ),
        )

    def job_view(self, request, job_id):
        self._check(request)
        job = get_object_or_404(ImportJob.objects.select_related("snapshot"), pk=job_id)
        return TemplateResponse(
            request,
            "admin/eligibility/import_job.html",
            self._context(
                request,
                job=job,
                status=selectors.import_job_status(job),
                rejected=selectors.rejected_rows_sample(job),
                title=str(job),
            ),
        )

    def status_view(self, request, job_id):
        self._check(request)
        job = get_object_or_404(ImportJob, pk=job_id)
        return JsonResponse(selectors.import_job_status(job))

    def decide_view(self, request, job_id):
        self._check(request)
        job = get_object_or_404(ImportJob, pk=job_id)
        if request.method != "POST":
            return redirect("admin:eligibility_import_job", job_id=job.pk)
        try:
            if request.POST.get("decision") == "import":
                services.import_job_accept(job=job, decided_by=request.user)
                transaction.on_commit(
                    partial(tasks.commit_import.delay, job.pk, request.user.pk)
                )
                messages.info(request, _("Importing the good rows…"))
            else:
                services.import_job_discard(job=job, decided_by=request.user)
                messages.info(request, _("Nothing was imported from this file."))
        except DomainError as exc:
            messages.error(request, str(exc))
        return redirect("admin:eligibility_import_job", job_id=job.pk)

    def rejects_view(self, request, job_id):
        self._check(request)
        job = get_object_or_404(ImportJob, pk=job_id)
        response = StreamingHttpResponse(
            selectors.rejected_rows_csv(job), content_type="text/csv; charset=utf-8"
        )
        stem = job.original_name.rsplit(".", 1)[0]
        response["Content-Disposition"] = f'attachment; filename="{stem}-loi.csv"'
        return response


def _sample_rows(job: ImportJob, count: int = 3) -> list[list[str]]:
    """The first rows of the file, so staff see what each column holds while mapping."""
    try:
        table = open_table(Path(job.source_file.path), original_name=job.original_name)
        rows = []
        for row in table.iter_rows():
            rows.append(row)
            if len(rows) == count:
                break
        return rows
    except (UnreadableFile, OSError):
        return []
