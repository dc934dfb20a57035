import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from eligibility.models import DomainError
from messaging.models import Message, MessageTemplate
from tests.messaging.factories import MessageTemplateFactory


def test_unknown_placeholder_is_refused_on_save_naming_it(campaign):
    template = MessageTemplate(
        campaign=campaign, purpose="invitation", body="Mat khau {pasword} cho {name}"
    )
    with pytest.raises(ValidationError) as error:
        template.save()
    assert "Unknown placeholder: {pasword}" in str(error.value)
    assert not MessageTemplate.objects.exists()


def test_unmatched_brace_is_refused(campaign):
    template = MessageTemplate(campaign=campaign, purpose="other", body="Gia {price")
    with pytest.raises(ValidationError) as error:
        template.full_clean()
    assert "unmatched brace" in str(error.value)


def test_template_too_long_for_its_limit_is_refused_by_clean(campaign):
    template = MessageTemplate(
        campaign=campaign, purpose="other", body="Quy khach " * 40, max_segments=2
    )
    with pytest.raises(ValidationError) as error:
        template.full_clean()
    assert "needs 3 SMS segments" in str(error.value)


def test_zalo_template_cannot_carry_a_password(campaign):
    template = MessageTemplate(
        campaign=campaign,
        purpose="zalo_record_update",
        channel="zalo",
        body="Mật khẩu của Quý khách: {password}",
        zalo_template_id="250002",
    )
    with pytest.raises(ValidationError) as error:
        template.save()
    assert "cannot carry {password}" in str(error.value.message_dict["body"])
    assert not MessageTemplate.objects.exists()


def test_only_zalo_templates_take_a_zns_template_id(campaign):
    template = MessageTemplate(
        campaign=campaign, purpose="points", body="{points}", zalo_template_id="1"
    )
    with pytest.raises(ValidationError) as error:
        template.full_clean()
    assert "Only Zalo templates" in str(error.value.message_dict["zalo_template_id"])


def test_zalo_values_are_the_placeholders_as_the_customer_reads_them(campaign):
    template = MessageTemplateFactory(
        campaign=campaign,
        channel="zalo",
        purpose="points",
        body="Chào {name}, {points} điểm",
        strip_diacritics=False,
    )
    values = template.render_values({"name": "Bình", "points": 1250, "gift": "x"})
    assert values == {"name": "Bình", "points": "1.250"}
    assert template.render_text(values) == "Chào Bình, 1.250 điểm"


def test_render_strips_marks_and_formats_values(invitation):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    deadline = datetime(2022, 11, 13, 23, 59, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))
    text = invitation.render({"password": "482913", "deadline": deadline})
    assert "mat khau 482913 truoc 23:59 13/11/2022" in text
    assert "500.000 dong" in text


def test_render_names_a_missing_value(invitation):
    with pytest.raises(DomainError, match=r"No value for \{deadline\}"):
        invitation.render({"password": "1"})


def test_template_with_password_is_sensitive(invitation, campaign):
    assert invitation.sensitive
    points = MessageTemplateFactory(
        campaign=campaign, purpose="points", body="Quy khach co {points} diem"
    )
    assert not points.sensitive


def test_message_moves_only_along_declared_transitions(invitation):
    message = Message(status=Message.Status.DELIVERED)
    with pytest.raises(DomainError, match="cannot become"):
        message.move_to(Message.Status.QUEUED)
    message = Message(status=Message.Status.UNKNOWN)
    message.move_to(Message.Status.DELIVERED)
    assert message.status == "delivered"


@pytest.mark.django_db(transaction=True)
def test_password_is_not_readable_in_a_database_dump(invitation):
    from messaging import services

    message = services.message_enqueue(
        campaign=invitation.campaign,
        msisdn="0901234567",
        purpose="invitation",
        context={"password": "739155", "deadline": "23:59 13/11/2022"},
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT messaging_message::text FROM messaging_message WHERE id = %s",
            [message.pk],
        )
        (row,) = cursor.fetchone()
    assert "739155" not in row
    assert "mat khau ******" in message.body
    assert "mat khau 739155" in Message.objects.get(pk=message.pk).full_text()
