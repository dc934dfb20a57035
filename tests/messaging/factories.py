import factory

from messaging.models import MessageTemplate, MessagingSettings, Purpose
from tests.campaigns.factories import CampaignFactory

INVITATION_TEXT = (
    "Quà tặng hấp dẫn trị giá 500.000 đồng thay lời cảm ơn từ MobiFone. Kính mời "
    "Quý khách truy cập http://cskh.mobifone.vn với mật khẩu {password} trước "
    "{deadline} để lựa chọn quà tặng. Chi tiết liên hệ 9090."
)


class MessageTemplateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MessageTemplate

    campaign = factory.SubFactory(CampaignFactory)
    purpose = Purpose.INVITATION
    sender = "MobiFone"
    body = INVITATION_TEXT
    strip_diacritics = True
    exempt_from_do_not_contact = False


class MessagingSettingsFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MessagingSettings

    campaign = factory.SubFactory(CampaignFactory)
