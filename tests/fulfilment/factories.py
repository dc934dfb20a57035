from datetime import timedelta

import factory
from django.utils import timezone

from fulfilment.models import Partner, PartnerAssignment, PartnerUser
from gifts.models import Choice, GiftKind, Invitation
from messaging.models import Purpose
from tests.gifts.factories import GiftStockFactory, invitation_in
from tests.messaging.factories import MessageTemplateFactory

SUCCESS_TEXT = "MobiFone da gui thanh cong san pham {gift}. Chi tiet lien he 9090."
FAILURE_TEXT = (
    "MobiFone da lien he giao san pham {gift} nhung khong thanh cong vi ly do "
    "{reason}. Vui long lien he 9090 truoc ngay {reply_by}."
)


class PartnerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Partner

    code = factory.Sequence(lambda n: f"partner-{n}")
    name = factory.Sequence(lambda n: f"Đối tác giao hàng {n}")


def partner_login(partner, username: str):
    """A login of `partner` in the partner role (password pass-1234)."""
    from campaigns import roles
    from tests.conftest import user_in_role

    user = user_in_role(username, roles.PARTNER)
    PartnerUser.objects.create(partner=partner, user=user)
    return user


def assign(campaign, partner, gifts=(), channel=GiftKind.HOME_DELIVERY):
    assignment = PartnerAssignment.objects.create(
        campaign=campaign, partner=partner, channel=channel
    )
    assignment.gifts.set(gifts)
    return assignment


def result_templates(campaign):
    for purpose, body in [
        (Purpose.DELIVERY_SUCCESS, SUCCESS_TEXT),
        (Purpose.DELIVERY_FAILURE, FAILURE_TEXT),
    ]:
        MessageTemplateFactory(campaign=campaign, purpose=purpose, body=body)


_codes = iter(range(10**6))


def chosen(gift, *, closed_days_ago: int = 2, address="1 Lê Lợi, Quận 1", **member):
    """An invitation of the gift's campaign that chose `gift`, its window closed."""
    invitation = invitation_in(gift.campaign, **member)
    invitation.status = Invitation.Status.CHOSEN
    invitation.deadline = timezone.now() - timedelta(days=closed_days_ago)
    invitation.save(update_fields=["status", "deadline"])
    stock = gift.stocks.first() or GiftStockFactory(gift=gift, total=1000)
    return Choice.objects.create(
        invitation=invitation,
        gift=gift,
        stock=stock,
        code=f"T{next(_codes):07d}",
        recipient_name=invitation.member.full_name,
        address=address,
    )
