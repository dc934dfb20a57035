"""The admin's upload page: what staff see when a file or a form field is wrong."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from eligibility.models import ImportJob, Snapshot

pytestmark = pytest.mark.django_db

CSV = (
    "msisdn,subscription_type,status,contract_date,customer_type,company,province,"
    "district\n0901234567,postpaid,2C,2001-05-03,individual,2,Hồ Chí Minh,Quận 1\n"
).encode()


def _post(client, **fields):
    data = {"kind": "subscribers", "snapshot": "", "list_name": ""}
    data.update(fields)
    return client.post("/admin/eligibility/importjob/upload/", data)


def test_upload_can_create_the_snapshot_it_names(client, care_staff):
    client.force_login(care_staff)
    response = _post(
        client,
        new_snapshot_name="Tháng 11/2022",
        new_snapshot_taken_on="30/11/2022",
        file=SimpleUploadedFile("tb.csv", CSV),
    )

    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"].endswith(f"/{job.pk}/mapping/")
    assert job.snapshot == Snapshot.objects.get(name="Tháng 11/2022")
    assert job.snapshot.taken_on.isoformat() == "2022-11-30"


def test_unreadable_upload_shows_the_reason_and_creates_nothing(client, care_staff):
    client.force_login(care_staff)
    response = _post(
        client,
        new_snapshot_name="Tháng 11/2022",
        new_snapshot_taken_on="30/11/2022",
        file=SimpleUploadedFile("tb.xlsx", b"msisdn\n0901234567\n"),
    )

    assert response.status_code == 200
    assert "tb.xlsx" in response.content.decode()
    assert not ImportJob.objects.exists()
    assert not Snapshot.objects.exists()


def test_upload_without_snapshot_is_refused_naming_the_field(client, care_staff):
    client.force_login(care_staff)
    response = _post(client, file=SimpleUploadedFile("tb.csv", CSV))

    assert response.status_code == 200
    assert response.context["form"].errors["snapshot"]
    assert not ImportJob.objects.exists()


def test_partner_is_refused_every_import_page(client, partner_user):
    client.force_login(partner_user)
    for url in [
        "/admin/eligibility/importjob/upload/",
        "/admin/eligibility/importjob/1/",
        "/admin/eligibility/importjob/1/mapping/",
        "/admin/eligibility/importjob/1/status/",
        "/admin/eligibility/importjob/1/rejects.csv",
    ]:
        assert client.get(url).status_code == 403, url
    assert client.post("/admin/eligibility/importjob/1/decide/").status_code == 403
