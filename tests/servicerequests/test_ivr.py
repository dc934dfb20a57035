import pytest
from openpyxl import Workbook

from eligibility.models import DomainError
from servicerequests import services
from servicerequests.models import IvrImport, ServiceRequest, Source, Status

pytestmark = pytest.mark.django_db


def _csv(tmp_path, text, name="ivr.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_press_1_rows_become_requests_checked_against_the_list(
    tmp_path, campaign, flow
):
    flow.register("84901000002")  # already asked by SMS
    path = _csv(
        tmp_path,
        "Số thuê bao,Phím,Thời gian\n"
        "0901000001,1,20/11/2026 09:30\n"
        "0901000002,1,20/11/2026 09:31\n"
        "0901000004,1,20/11/2026 09:32\n"
        "0901000006,2,20/11/2026 09:33\n"
        "0901000007,3,\n"
        "0901000001,1,20/11/2026 10:00\n",
    )
    record = services.ivr_import(campaign=campaign, path=path, original_name="ivr.csv")
    assert record.outcome == IvrImport.Outcome.IMPORTED
    assert (record.total_rows, record.pressed_1, record.created) == (6, 3, 1)
    assert (record.repeated, record.ineligible) == (1, 1)
    statuses = dict(
        ServiceRequest.objects.filter(source=Source.IVR).values_list("msisdn", "status")
    )
    assert statuses == {"84901000001": Status.NEW, "84901000004": Status.INELIGIBLE}
    created = ServiceRequest.objects.get(msisdn="84901000001")
    assert created.events.get().kind == "registered"
    assert created.full_name == "Nguyễn Văn An"
    assert ServiceRequest.objects.get(msisdn="84901000002").events.count() == 2


def test_one_bad_row_refuses_the_whole_file_and_names_each_row(tmp_path, campaign):
    path = _csv(
        tmp_path,
        "msisdn,key,called_at\n"
        "0901000001,1,20/11/2026 09:30\n"
        "12345,1,20/11/2026 09:31\n"
        "0901000002,9,\n"
        "0901000006,1,hôm qua\n",
    )
    record = services.ivr_import(campaign=campaign, path=path, original_name="ivr.csv")
    assert record.outcome == IvrImport.Outcome.REFUSED
    assert [p["row"] for p in record.problems] == [3, 4, 5]
    assert "“12345” is not a mobile number" in record.problems[0]["problems"]
    assert "key “9” is not 1, 2 or 3" in record.problems[1]["problems"]
    assert "“hôm qua” is not a date" in record.problems[2]["problems"]
    assert not ServiceRequest.objects.exists()


def test_xlsx_result_file_is_read(tmp_path, campaign):
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["ISDN", "DTMF"])
    sheet.append(["84901000001", 1])
    sheet.append(["84901000002", 1])
    path = tmp_path / "ivr.xlsx"
    workbook.save(path)
    record = services.ivr_import(campaign=campaign, path=path, original_name="ivr.xlsx")
    assert record.outcome == IvrImport.Outcome.IMPORTED
    assert record.created == 2


def test_file_without_the_key_column_is_refused_with_its_name(tmp_path, campaign):
    path = _csv(tmp_path, "msisdn,ket_qua\n0901000001,1\n")
    record = services.ivr_import(campaign=campaign, path=path, original_name="kq.csv")
    assert record.outcome == IvrImport.Outcome.REFUSED
    assert "“kq.csv” has no column key" in record.error
    assert not ServiceRequest.objects.exists()


def test_unreadable_file_is_refused_by_the_shared_checks(tmp_path, campaign):
    path = tmp_path / "old.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600)
    record = services.ivr_import(campaign=campaign, path=path, original_name="old.xls")
    assert record.outcome == IvrImport.Outcome.REFUSED
    assert "Excel 97-2003" in record.error


def test_empty_file_is_refused(tmp_path, campaign):
    path = _csv(tmp_path, "msisdn,key\n")
    record = services.ivr_import(campaign=campaign, path=path, original_name="e.csv")
    assert record.outcome == IvrImport.Outcome.REFUSED
    assert "no data rows" in record.problems[0]["problems"]


def test_ivr_script_is_handed_out_as_text(campaign):
    from servicerequests.models import IvrScript

    with pytest.raises(DomainError):
        services.ivr_script_text(campaign)
    IvrScript.objects.create(
        campaign=campaign,
        intro="Bấm phím 1 để đăng ký.",
        key_1="Tổng đài 9090 sẽ liên hệ.",
        key_2="Nghe lại.",
        key_3="Gặp tổng đài viên.",
    )
    campaign.refresh_from_db()
    text = services.ivr_script_text(campaign)
    assert "Key 1: Tổng đài 9090 sẽ liên hệ." in text
    assert "Key 3: Gặp tổng đài viên." in text


def test_queued_upload_is_read_once_by_its_task(
    tmp_path, campaign, django_capture_on_commit_callbacks
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from servicerequests import tasks

    upload = SimpleUploadedFile("kq.csv", b"msisdn,key\n0901000001,1\n")
    with django_capture_on_commit_callbacks() as callbacks:
        record = services.ivr_import_queue(campaign=campaign, upload=upload)
    assert len(callbacks) == 1
    assert record.outcome == IvrImport.Outcome.QUEUED
    assert not ServiceRequest.objects.exists()
    tasks.ivr_import_run.run(record.pk)
    tasks.ivr_import_run.run(record.pk)  # redelivered: nothing more
    record.refresh_from_db()
    assert record.outcome == IvrImport.Outcome.IMPORTED
    assert record.rows_read == record.total_rows == 1
    assert ServiceRequest.objects.count() == 1
