import pytest
from django.urls import reverse

from campaigns.models import Campaign
from eligibility import services as eligibility_services
from eligibility.models import ImportKind, Subscriber
from eligibility.synthetic import generate_snapshot
from messaging import services
from messaging.models import DoNotContact, Message, MessageTemplate, MessagingSettings
from tests.factories import SnapshotFactory


@pytest.fixture
def staff_client(client, care_staff):
    client.force_login(care_staff)
    return client


@pytest.fixture
def snapshot_with_subscribers(db, tmp_path):
    snapshot = SnapshotFactory()
    generated = generate_snapshot(out_dir=tmp_path, size=5, cycles=1, seed=3)
    eligibility_services.import_file(
        kind=ImportKind.SUBSCRIBERS,
        path=generated.subscribers_path,
        snapshot=snapshot,
        commit=True,
    )
    return snapshot


def test_template_page_has_the_live_counter(staff_client, invitation):
    response = staff_client.get(
        reverse("admin:messaging_messagetemplate_change", args=[invitation.pk])
    )
    assert response.status_code == 200
    assert b"messaging/sms_counter.js" in response.content
    assert b"data-sms-counter" in response.content


def test_saving_a_template_with_an_unknown_placeholder_shows_the_error(
    staff_client, campaign
):
    response = staff_client.post(
        reverse("admin:messaging_messagetemplate_add"),
        {
            "campaign": campaign.pk,
            "purpose": "reminder",
            "variant": "",
            "channel": "sms",
            "name": "",
            "sender": "",
            "body": "Con {hours} gio de chon qua",
            "strip_diacritics": "on",
            "max_segments": 2,
            "schedules-TOTAL_FORMS": 0,
            "schedules-INITIAL_FORMS": 0,
        },
    )
    assert response.status_code == 200
    assert "Biến thay thế không hợp lệ: {hours}" in response.content.decode()


def test_preview_renders_for_a_real_subscriber_of_the_snapshot(
    staff_client, invitation, snapshot_with_subscribers
):
    campaign = invitation.campaign
    Campaign.objects.filter(pk=campaign.pk).update(snapshot=snapshot_with_subscribers)
    invitation.body = "Kinh gui {name} ({msisdn}), diem: {points}"
    invitation.save()
    subscriber = Subscriber.objects.filter(snapshot=snapshot_with_subscribers).order_by(
        "msisdn"
    )[1]
    response = staff_client.get(
        reverse("admin:messaging_messagetemplate_preview", args=[invitation.pk]),
        {"msisdn": "0" + subscriber.msisdn[2:]},
    )
    content = response.content.decode()
    assert response.status_code == 200
    assert f"({'0' + subscriber.msisdn[2:]})" in content
    assert "GSM7" in content


def test_do_not_contact_list_is_imported_from_a_file(staff_client):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("dnc.csv", b"msisdn\n0901000001\n84901000002\nabc\n")
    response = staff_client.post(
        reverse("admin:messaging_donotcontact_import"), {"file": upload}, follow=True
    )
    assert response.status_code == 200
    assert set(DoNotContact.objects.values_list("msisdn", flat=True)) == {
        "84901000001",
        "84901000002",
    }
    assert "Dòng 4: abc không phải số di động." in response.content.decode()


def test_kill_switch_action_pauses_the_campaign(staff_client, campaign):
    config = MessagingSettings.objects.get(campaign=campaign)
    staff_client.post(
        reverse("admin:messaging_messagingsettings_changelist"),
        {"action": "pause", "_selected_action": [config.pk]},
    )
    config.refresh_from_db()
    assert config.paused


def test_unknown_message_is_settled_by_staff_in_the_outbox(staff_client, invitation):
    message = services.message_enqueue(
        campaign=invitation.campaign,
        msisdn="0901234567",
        purpose="invitation",
        context={"password": "1", "deadline": "1/1"},
    )
    Message.objects.filter(pk=message.pk).update(status="unknown")
    staff_client.post(
        reverse("admin:messaging_message_changelist"),
        {"action": "settle_delivered", "_selected_action": [message.pk]},
    )
    message.refresh_from_db()
    assert message.status == "delivered"
    assert message.events.get().actor.username == "cskh"


def zalo_template_form(campaign, body, zalo_template_id):
    return {
        "campaign": campaign.pk,
        "purpose": "zalo_record_update",
        "variant": "",
        "channel": "zalo",
        "name": "",
        "sender": "MobiFone Miền Tây",
        "body": body,
        "max_segments": 10,
        "zalo_template_id": zalo_template_id,
        "schedules-TOTAL_FORMS": 0,
        "schedules-INITIAL_FORMS": 0,
    }


def test_staff_give_a_zalo_template_its_zns_template_id(staff_client, campaign):
    response = staff_client.post(
        reverse("admin:messaging_messagetemplate_add"),
        zalo_template_form(campaign, "Chào {name}", "250001"),
    )
    assert response.status_code == 302
    template = MessageTemplate.objects.get(channel="zalo")
    assert template.zalo_template_id == "250001"

    page = staff_client.get(
        reverse("admin:messaging_messagetemplate_change", args=[template.pk])
    ).content.decode()
    assert 'name="zalo_template_id"' in page
    assert 'value="250001"' in page
    assert "Mã mẫu ZNS của Zalo" in page


def test_zalo_template_with_a_password_is_refused_in_the_admin(staff_client, campaign):
    response = staff_client.post(
        reverse("admin:messaging_messagetemplate_add"),
        zalo_template_form(campaign, "Mật khẩu: {password}", "250001"),
    )
    assert response.status_code == 200
    assert "Mẫu Zalo không được chứa {password}" in response.content.decode()
    assert not MessageTemplate.objects.exists()


def test_message_page_shows_the_zns_values_read_only(staff_client, campaign):
    MessageTemplate.objects.create(
        campaign=campaign,
        purpose="zalo_record_update",
        channel="zalo",
        body="Chào {name}",
        strip_diacritics=False,
        max_segments=10,
        zalo_template_id="250001",
    )
    message = services.message_enqueue(
        campaign=campaign,
        msisdn="0901234567",
        purpose="zalo_record_update",
        channel="zalo",
        context={"name": "Nguyễn Văn An"},
    )
    page = staff_client.get(
        reverse("admin:messaging_message_change", args=[message.pk])
    ).content.decode()
    assert "<code>name</code>: Nguyễn Văn An" in page
    assert "250001" in page
    assert 'name="template_data"' not in page
