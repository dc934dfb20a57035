"""Care staff import a subscribers file through the admin, in a real browser."""

import csv

import openpyxl
import pytest
from playwright.sync_api import expect

from eligibility.models import ImportJob, Subscriber
from tests.factories import SnapshotFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

HEADERS = [
    "Số thuê bao",
    "Họ tên",
    "Kiểu thuê bao",
    "Trạng thái",
    "Ngày hòa mạng",
    "Loại KH",
    "Công ty",
    "Tỉnh",
    "Quận/Huyện",
]


def _rows():
    good = ["trả sau", "2C", "03/05/2001", "KHCN", "2", "Hồ Chí Minh", "Quận 1"]
    return [
        HEADERS,
        ["0901234567", "Nguyễn Văn An", *good],
        ["0901234568", "Lê Thị Bình", *good],
        ["09012", "Số sai", *good],
        [
            "0901234569",
            "Ngày sai",
            "trả trước",
            "2C",
            "31/02/2010",
            "KHCN",
            "2",
            "Hồ Chí Minh",
            "Quận 3",
        ],
    ]


def _file(tmp_path, file_format):
    if file_format == "xlsx":
        path = tmp_path / "thue-bao-t10.xlsx"
        workbook = openpyxl.Workbook()
        for row in _rows():
            workbook.active.append(row)
        workbook.save(path)
        return path
    path = tmp_path / "thue-bao-t10.csv"
    with open(path, "w", newline="", encoding="utf-8-sig") as stream:
        csv.writer(stream).writerows(_rows())
    return path


# The workbook is small, but cut in two as a large sheet is: its rows must reach the
# check and the rejects file with the numbers they have in the sheet.
@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
def test_staff_upload_map_check_and_import_good_rows(
    live_server,
    celery_worker_thread,
    care_staff,
    desktop_page,
    screenshot,
    tmp_path,
    settings,
    file_format,
):
    settings.IMPORT_XLSX_SPLIT_BYTES = 1
    snapshot = SnapshotFactory(name="Tháng 10/2022")
    page = desktop_page
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "cskh")
    page.fill("#id_password", "pass-1234")
    page.click("input[type=submit]")

    page.goto(f"{live_server.url}/admin/eligibility/importjob/")
    page.click(".object-tools a.addlink")
    page.select_option("#id_kind", "subscribers")
    page.select_option("#id_snapshot", str(snapshot.pk))
    page.set_input_files("#id_file", str(_file(tmp_path, file_format)))
    screenshot(page, "upload")
    page.click("input[type=submit]")

    # The mapping page guessed the Vietnamese headers but one: staff pick it.
    expect(page.locator("#id_col_msisdn")).to_have_value("0")
    page.select_option("#id_col_subscription_type", label="Kiểu thuê bao")
    screenshot(page, "mapping")
    page.click("#mapping-form input[type=submit]")

    expect(page.locator("#count-rejected")).to_have_text("2", timeout=30_000)
    expect(page.locator("#count-valid")).to_have_text("2")
    expect(page.locator("#rejected-rows")).to_contain_text("msisdn")
    expect(page.locator("#rejected-rows")).to_contain_text("contract_date")
    screenshot(page, "checked")

    with page.expect_download() as download_info:
        page.click("#rejects-download")
    rejects = download_info.value.path().read_text(encoding="utf-8-sig")
    assert "09012" in rejects and "31/02/2010" in rejects
    # Rows 4 and 5 of the file, header included, in the second half of the sheet.
    assert ["4", "5"] == [line.split(",")[0] for line in rejects.splitlines()[1:]]

    page.click("button[value=import]")
    expect(page.locator("#count-imported")).to_have_text("2", timeout=30_000)
    screenshot(page, "imported")

    assert sorted(Subscriber.objects.values_list("msisdn", flat=True)) == [
        "84901234567",
        "84901234568",
    ]
    assert ImportJob.objects.get().status == ImportJob.Status.IMPORTED


def test_partner_cannot_open_the_import_pages(live_server, partner_user, desktop_page):
    page = desktop_page
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "doitac")
    page.fill("#id_password", "pass-1234")
    page.click("input[type=submit]")
    response = page.goto(f"{live_server.url}/admin/eligibility/importjob/upload/")
    assert response.status == 403
