from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from campaigns.models import Campaign, SelectionRun
from eligibility.models import DomainError
from gifts import services
from gifts.models import (
    Choice,
    GiftKind,
    GiftSettings,
    GiftStock,
    Invitation,
    InvitationEvent,
    NoChoicePolicy,
)
from gifts.services import ChoiceDetails, LoginLocked, LoginRefused, OutOfStock
from tests.factories import UserFactory
from tests.gifts.factories import (
    PASSWORD,
    GiftFactory,
    GiftSettingsFactory,
    OpenCampaignFactory,
    SelectionMemberFactory,
    SelectionRunFactory,
    StoreFactory,
    gift_with_stock,
    invitation_in,
)

pytestmark = pytest.mark.django_db
Kind = InvitationEvent.Kind
ADDRESS = ChoiceDetails(
    recipient_name="Nguyễn Văn An", address="12 Lê Lợi, P. Bến Nghé, Quận 1"
)


def _choose(invitation, gift, details=ADDRESS, **kwargs):
    invitation.refresh_from_db()
    return services.choice_make(
        invitation=invitation,
        gift_id=gift.pk,
        revision=kwargs.pop("revision", invitation.revision),
        details=details,
        **kwargs,
    )


def _remaining(gift) -> int:
    return GiftStock.objects.get(gift=gift).remaining


# --- Issuing -----------------------------------------------------------------------------


def test_issue_invites_each_selected_member_once_with_a_hashed_password(sms):
    run = SelectionRunFactory()
    chosen = SelectionMemberFactory.create_batch(3, run=run, gift_tier="nhom-1")
    SelectionMemberFactory(run=run, selected=False)
    staff = UserFactory(username="cskh")

    result = services.invitations_issue(run=run, actor=staff)

    assert (result.created, result.already_invited) == (3, 0)
    invitations = Invitation.objects.filter(run=run)
    assert sorted(invitations.values_list("msisdn", flat=True)) == sorted(
        member.msisdn for member in chosen
    )
    assert set(invitations.values_list("tier", flat=True)) == {"nhom-1"}
    assert len(sms) == 3
    for message in sms:
        password = message["context"]["password"]
        invitation = invitations.get(msisdn=message["msisdn"])
        assert len(password) == 6
        assert set(password) <= set("ACEFHJKMNPRTWXY34679")
        # Never stored readable: not the password, not a plain digest of it.
        assert password not in invitation.password_hash
        assert services.password_matches(
            invitation_hash=invitation.password_hash,
            campaign_id=run.campaign_id,
            msisdn=invitation.msisdn,
            password=password,
        )
        assert message["sequence"] == 1
        assert message["context"]["deadline"].startswith("23:59 ")
    events = InvitationEvent.objects.filter(invitation__run=run)
    assert events.count() == 3
    assert {(e.kind, e.actor) for e in events} == {(Kind.ISSUED, staff)}


def test_issue_again_only_invites_members_not_yet_invited(sms):
    run = SelectionRunFactory()
    SelectionMemberFactory.create_batch(2, run=run)
    services.invitations_issue(run=run)
    SelectionMemberFactory(run=run)

    result = services.invitations_issue(run=run)

    assert (result.created, result.already_invited) == (1, 2)
    assert Invitation.objects.filter(run=run).count() == 3
    assert len(sms) == 3


def test_issue_in_chunks_gives_every_invitation_its_own_password(sms):
    run = SelectionRunFactory()
    SelectionMemberFactory.create_batch(7, run=run)

    services.invitations_issue(run=run, chunk_size=3)

    hashes = set(Invitation.objects.values_list("password_hash", flat=True))
    assert len(hashes) == 7 and "" not in hashes
    assert len({message["msisdn"] for message in sms}) == 7


def test_issue_refuses_a_run_that_is_not_approved(sms):
    run = SelectionRunFactory(status=SelectionRun.Status.COMMITTED)
    SelectionMemberFactory(run=run)
    with pytest.raises(DomainError, match="only an approved list"):
        services.invitations_issue(run=run)
    assert not Invitation.objects.exists()
    assert sms == []


@pytest.mark.parametrize(
    ("sent_utc", "deadline_local"),
    [
        # 20:00 UTC is 03:00 the next day in Vietnam: the days count from there.
        (datetime(2022, 11, 10, 20, 0, tzinfo=UTC), "23:59 14/11/2022"),
        # 16:59 UTC is still 23:59 of the same day in Vietnam.
        (datetime(2022, 11, 10, 16, 59, tzinfo=UTC), "23:59 13/11/2022"),
        # 17:00 UTC is midnight: the next local day.
        (datetime(2022, 11, 10, 17, 0, tzinfo=UTC), "23:59 14/11/2022"),
    ],
)
def test_deadline_is_2359_vietnam_time_n_days_after_the_local_day_of_sending(
    sms, sent_utc, deadline_local
):
    run = SelectionRunFactory()
    SelectionMemberFactory(run=run)
    services.invitations_issue(run=run, now=sent_utc)
    invitation = Invitation.objects.get()
    assert services.deadline_text(invitation.deadline) == deadline_local
    assert sms[0]["context"]["deadline"] == deadline_local


def test_resent_password_replaces_the_old_one_and_keeps_the_deadline(sms):
    invitation = invitation_in(OpenCampaignFactory())
    deadline = invitation.deadline

    services.invitation_password_resend(invitation=invitation)

    invitation.refresh_from_db()
    assert invitation.deadline == deadline
    assert sms[0]["sequence"] == 2
    with pytest.raises(LoginRefused):
        services.invitation_login(msisdn=invitation.msisdn, password=PASSWORD)
    services.invitation_login(
        msisdn=invitation.msisdn, password=sms[0]["context"]["password"]
    )


# --- Login -------------------------------------------------------------------------------


def test_login_with_the_sms_password_in_any_case_opens_the_invitation():
    invitation = invitation_in(OpenCampaignFactory())
    found = services.invitation_login(
        msisdn=invitation.msisdn, password=PASSWORD.lower()
    )
    assert found.pk == invitation.pk
    invitation.refresh_from_db()
    assert invitation.failed_attempts == 0
    assert invitation.last_login_at is not None


def test_unknown_number_and_wrong_password_get_the_same_message():
    invitation = invitation_in(OpenCampaignFactory())
    with pytest.raises(LoginRefused) as wrong:
        services.invitation_login(msisdn=invitation.msisdn, password="XXXXXX")
    with pytest.raises(LoginRefused) as unknown:
        services.invitation_login(msisdn="84999999999", password="XXXXXX")
    assert str(wrong.value) == str(unknown.value)


def test_five_wrong_passwords_lock_the_invitation_even_for_the_right_one():
    invitation = invitation_in(OpenCampaignFactory())
    now = timezone.now()
    for _ in range(5):
        with pytest.raises(LoginRefused):
            services.invitation_login(
                msisdn=invitation.msisdn, password="WRONG1", now=now
            )
    with pytest.raises(LoginLocked) as locked:
        services.invitation_login(msisdn=invitation.msisdn, password=PASSWORD, now=now)
    assert locked.value.until == now + timedelta(minutes=15)
    assert "call 9090" in str(locked.value)
    event = InvitationEvent.objects.get(invitation=invitation, kind=Kind.LOCKED)
    assert event.data["failures"] == 5

    # After the lock the right password works and clears the count.
    later = now + timedelta(minutes=16)
    services.invitation_login(msisdn=invitation.msisdn, password=PASSWORD, now=later)
    invitation.refresh_from_db()
    assert (invitation.failed_attempts, invitation.locked_until) == (0, None)


def test_each_wrong_password_after_a_lock_doubles_the_lock():
    invitation = invitation_in(OpenCampaignFactory())
    now = timezone.now()
    for _ in range(5):
        with pytest.raises(LoginRefused):
            services.invitation_login(
                msisdn=invitation.msisdn, password="WRONG1", now=now
            )
    now += timedelta(minutes=15, seconds=1)
    with pytest.raises(LoginRefused):
        services.invitation_login(msisdn=invitation.msisdn, password="WRONG1", now=now)
    invitation.refresh_from_db()
    assert invitation.locked_until == now + timedelta(minutes=30)


def test_password_opens_nothing_a_month_after_the_deadline():
    invitation = invitation_in(OpenCampaignFactory())
    services.invitation_login(
        msisdn=invitation.msisdn,
        password=PASSWORD,
        now=invitation.deadline + timedelta(days=29),
    )
    with pytest.raises(LoginRefused):
        services.invitation_login(
            msisdn=invitation.msisdn,
            password=PASSWORD,
            now=invitation.deadline + timedelta(days=31),
        )


def test_unknown_number_locks_like_an_invited_one():
    now = timezone.now()
    for _ in range(4):
        with pytest.raises(LoginRefused):
            services.invitation_login(msisdn="84999999998", password="WRONG1", now=now)
    with pytest.raises(LoginLocked):
        services.invitation_login(msisdn="84999999998", password="WRONG1", now=now)


# --- Choosing ----------------------------------------------------------------------------


def test_choosing_takes_one_unit_and_records_the_choice_with_a_code():
    invitation = invitation_in(OpenCampaignFactory())
    gift = gift_with_stock(invitation.campaign, units=3)

    choice = _choose(invitation, gift)

    assert _remaining(gift) == 2
    assert choice.gift == gift and len(choice.code) == 10
    assert choice.address == "12 Lê Lợi, P. Bến Nghé, Quận 1"
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.CHOSEN
    event = invitation.events.get(kind=Kind.CHOSEN)
    assert event.data["choice"]["gift"] == gift.pk and event.actor is None


def test_changing_gives_the_unit_back_and_keeps_the_history():
    invitation = invitation_in(OpenCampaignFactory())
    first = gift_with_stock(invitation.campaign, units=3)
    second = gift_with_stock(invitation.campaign, units=3)
    code = _choose(invitation, first).code

    choice = _choose(invitation, second)

    assert (_remaining(first), _remaining(second)) == (3, 2)
    assert choice.code == code and choice.changed_at is not None
    assert Choice.objects.filter(invitation=invitation).count() == 1
    change = invitation.events.get(kind=Kind.CHANGED)
    assert change.data["before"]["gift"] == first.pk
    assert change.data["choice"]["gift"] == second.pk


def test_changing_the_address_of_the_same_gift_takes_no_second_unit():
    invitation = invitation_in(OpenCampaignFactory())
    gift = gift_with_stock(invitation.campaign, units=1)
    _choose(invitation, gift)
    choice = _choose(
        invitation, gift, ChoiceDetails(address="99 Hai Bà Trưng, Quận 3, TP.HCM")
    )
    assert _remaining(gift) == 0
    assert choice.address == "99 Hai Bà Trưng, Quận 3, TP.HCM"


def _assert_refused(invitation, gift, match, *, error=DomainError, **kwargs):
    before = (
        list(GiftStock.objects.values_list("pk", "remaining")),
        list(Choice.objects.values_list("pk", "gift_id", "address")),
        InvitationEvent.objects.count(),
    )
    with pytest.raises(error, match=match):
        _choose(invitation, gift, **kwargs)
    after = (
        list(GiftStock.objects.values_list("pk", "remaining")),
        list(Choice.objects.values_list("pk", "gift_id", "address")),
        InvitationEvent.objects.count(),
    )
    assert after == before


def test_gift_of_another_tier_is_refused():
    invitation = invitation_in(OpenCampaignFactory(), gift_tier="nhom-2")
    gift = gift_with_stock(invitation.campaign, tiers=["nhom-1"])
    _assert_refused(invitation, gift, "not offered to you")


def test_gift_of_another_campaign_is_refused():
    invitation = invitation_in(OpenCampaignFactory())
    gift = gift_with_stock(OpenCampaignFactory())
    _assert_refused(invitation, gift, "not offered to you")


def test_choice_after_the_deadline_is_refused():
    invitation = invitation_in(OpenCampaignFactory())
    gift = gift_with_stock(invitation.campaign)
    _assert_refused(
        invitation,
        gift,
        "offer ended at",
        now=invitation.deadline + timedelta(seconds=1),
    )


def test_deadline_evening_in_vietnam_is_the_last_minute_to_choose(sms):
    campaign = OpenCampaignFactory()
    run = SelectionRunFactory(campaign=campaign)
    SelectionMemberFactory(run=run)
    gift = gift_with_stock(campaign)
    # Sent at 20:00 UTC on 10/11: 03:00 on 11/11 in Vietnam; deadline 23:59 14/11
    # Vietnam = 16:59:59 UTC on 14/11, when UTC's calendar still says the 14th.
    services.invitations_issue(run=run, now=datetime(2022, 11, 10, 20, tzinfo=UTC))
    invitation = Invitation.objects.get()
    last_second = datetime(2022, 11, 14, 16, 59, 59, tzinfo=UTC)
    _assert_refused(
        invitation, gift, "offer ended", now=last_second + timedelta(seconds=1)
    )
    _choose(invitation, gift, now=last_second)


def test_out_of_stock_is_refused_as_all_gone():
    invitation = invitation_in(OpenCampaignFactory())
    gift = gift_with_stock(invitation.campaign, units=1)
    _choose(invitation_in(invitation.campaign), gift)
    _assert_refused(invitation, gift, "all gone", error=OutOfStock)


def test_a_second_tab_with_the_form_drawn_before_the_choice_is_refused():
    invitation = invitation_in(OpenCampaignFactory())
    first = gift_with_stock(invitation.campaign)
    second = gift_with_stock(invitation.campaign)
    _choose(invitation, first, revision=0)
    _assert_refused(invitation, second, "another window", revision=0)


def test_forged_store_outside_the_district_is_refused():
    invitation = invitation_in(OpenCampaignFactory(), district="Quận 1")
    StoreFactory(district="Quận 1")
    far = StoreFactory(province="Cần Thơ", district="Quận Ninh Kiều")
    gift = gift_with_stock(invitation.campaign, kind=GiftKind.STORE_PICKUP)
    _assert_refused(
        invitation, gift, "stores listed", details=ChoiceDetails(store_id=far.pk)
    )


def test_store_pickup_uses_a_store_of_the_members_district():
    invitation = invitation_in(OpenCampaignFactory(), district="Quận 3")
    StoreFactory(district="Quận 1")
    near = StoreFactory(district="Quận 3")
    gift = gift_with_stock(invitation.campaign, kind=GiftKind.STORE_PICKUP)
    choice = _choose(invitation, gift, ChoiceDetails(store_id=near.pk))
    assert choice.store == near


def test_missing_address_or_insurance_details_are_refused():
    invitation = invitation_in(OpenCampaignFactory())
    delivered = gift_with_stock(invitation.campaign)
    insurance = gift_with_stock(
        invitation.campaign,
        kind=GiftKind.INSURANCE,
        extra_details=["vehicle_registration"],
    )
    _assert_refused(
        invitation, delivered, "full delivery address", details=ChoiceDetails()
    )
    _assert_refused(
        invitation, insurance, "Vehicle registration", details=ChoiceDetails()
    )
    choice = _choose(
        invitation,
        insurance,
        ChoiceDetails(extra={"vehicle_registration": "59-X1 123.45"}),
    )
    assert choice.details == {"vehicle_registration": "59-X1 123.45"}


def test_forged_detail_fields_are_refused():
    invitation = invitation_in(OpenCampaignFactory())
    gift = gift_with_stock(invitation.campaign, kind=GiftKind.E_VOUCHER)
    _assert_refused(
        invitation,
        gift,
        "not sent as the site made it",
        details=ChoiceDetails(extra={"is_admin": "1"}),
    )


def test_change_is_refused_when_the_campaign_does_not_allow_it():
    invitation = invitation_in(OpenCampaignFactory())
    GiftSettingsFactory(campaign=invitation.campaign, allow_change=False)
    first = gift_with_stock(invitation.campaign)
    second = gift_with_stock(invitation.campaign)
    _choose(invitation, first)
    _assert_refused(invitation, second, "cannot be changed")


def test_choice_is_refused_once_the_campaign_is_closed():
    invitation = invitation_in(OpenCampaignFactory())
    gift = gift_with_stock(invitation.campaign)
    Campaign.objects.filter(pk=invitation.campaign_id).update(status="closed")
    _assert_refused(invitation, gift, "offer has ended")


def test_campaign_until_gifts_run_out_closes_when_the_last_unit_goes():
    campaign = OpenCampaignFactory(until_gifts_run_out=True)
    gift = gift_with_stock(campaign, units=1)
    _choose(invitation_in(campaign), gift)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.CLOSED
    assert campaign.events.get().data == {"from": "open", "to": "closed"}


def test_campaign_without_the_flag_stays_open_when_gifts_run_out():
    campaign = OpenCampaignFactory(until_gifts_run_out=False)
    gift = gift_with_stock(campaign, units=1)
    _choose(invitation_in(campaign), gift)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.OPEN


def test_call_agent_choice_is_recorded_with_the_agent():
    invitation = invitation_in(OpenCampaignFactory())
    gift = gift_with_stock(invitation.campaign)
    agent = UserFactory(username="dtv")
    choice = _choose(invitation, gift, agent=agent)
    assert choice.chosen_by_agent == agent
    event = invitation.events.get(kind=Kind.CHOSEN)
    assert event.actor == agent and event.data["by_agent"] is True


def test_call_agent_may_choose_after_the_deadline_under_the_call_policy():
    invitation = invitation_in(OpenCampaignFactory())
    GiftSettingsFactory(
        campaign=invitation.campaign, no_choice_policy=NoChoicePolicy.CALL, call_days=2
    )
    gift = gift_with_stock(invitation.campaign)
    agent = UserFactory(username="dtv")
    after = invitation.deadline + timedelta(days=1)
    _assert_refused(invitation, gift, "offer ended", now=after)
    assert _choose(invitation, gift, agent=agent, now=after).chosen_by_agent == agent


# --- After the deadline ------------------------------------------------------------------


def test_auto_assign_gives_the_first_gift_left_to_members_who_did_not_choose():
    campaign = OpenCampaignFactory()
    GiftSettingsFactory(campaign=campaign, no_choice_policy=NoChoicePolicy.AUTO_ASSIGN)
    gone = gift_with_stock(campaign, units=0, position=0)
    needs_details = gift_with_stock(
        campaign,
        kind=GiftKind.INSURANCE,
        extra_details=["vehicle_registration"],
        position=1,
    )
    left = gift_with_stock(campaign, units=1, position=2)
    chose = invitation_in(campaign)
    _choose(chose, needs_details, ChoiceDetails(extra={"vehicle_registration": "1"}))
    waiting = [invitation_in(campaign) for _ in range(2)]
    now = waiting[0].deadline + timedelta(minutes=1)

    counts = services.invitations_close_due(campaign=campaign, now=now)

    assert counts == {"assigned": 1, "expired": 1}
    assigned, expired = (Invitation.objects.get(pk=inv.pk) for inv in waiting)
    assert assigned.status == Invitation.Status.ASSIGNED
    choice = Choice.objects.get(invitation=assigned)
    assert (choice.gift, choice.auto_assigned, choice.address_from_records) == (
        left,
        True,
        True,
    )
    assert expired.status == Invitation.Status.EXPIRED
    assert _remaining(gone) == 0 and _remaining(left) == 0
    # The member who chose keeps their choice.
    assert Invitation.objects.get(pk=chose.pk).status == Invitation.Status.CHOSEN
    # Running the sweep again changes nothing.
    assert services.invitations_close_due(campaign=campaign, now=now) == {
        "assigned": 0,
        "expired": 0,
    }


def test_without_auto_assign_members_who_did_not_choose_expire():
    campaign = OpenCampaignFactory()
    gift_with_stock(campaign)
    invitation = invitation_in(campaign)
    counts = services.invitations_close_due(
        campaign=campaign, now=invitation.deadline + timedelta(seconds=1)
    )
    assert counts == {"assigned": 0, "expired": 1}
    assert invitation.events.filter(kind=Kind.EXPIRED).exists()


def test_nothing_expires_before_the_deadline():
    campaign = OpenCampaignFactory()
    invitation = invitation_in(campaign)
    counts = services.invitations_close_due(campaign=campaign, now=invitation.deadline)
    assert counts == {"assigned": 0, "expired": 0}


# --- Stock ---------------------------------------------------------------------------


def test_stock_total_change_keeps_the_units_already_taken():
    invitation = invitation_in(OpenCampaignFactory())
    gift = gift_with_stock(invitation.campaign, units=5)
    _choose(invitation, gift)
    stock = GiftStock.objects.get(gift=gift)
    services.stock_set_total(stock=stock, total=8)
    stock.refresh_from_db()
    assert (stock.total, stock.remaining) == (8, 7)
    with pytest.raises(DomainError, match="already taken"):
        services.stock_set_total(stock=stock, total=0)


def test_the_database_refuses_negative_stock():
    from django.db import IntegrityError, transaction

    stock = GiftStock.objects.get(gift=gift_with_stock(OpenCampaignFactory(), units=0))
    with pytest.raises(IntegrityError), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE gifts_giftstock SET remaining = remaining - 1 WHERE id = %s",
                [stock.pk],
            )


def test_the_most_specific_stock_row_serves_the_member():
    campaign = OpenCampaignFactory()
    gift = GiftFactory(campaign=campaign)
    GiftStock.objects.create(gift=gift, total=5, remaining=5)
    GiftStock.objects.create(gift=gift, province="Cần Thơ", total=1, remaining=1)
    invitation = invitation_in(campaign, province="Cần Thơ", district="Quận Ninh Kiều")
    _choose(invitation, gift)
    assert GiftStock.objects.get(gift=gift, province="Cần Thơ").remaining == 0
    assert GiftStock.objects.get(gift=gift, province="").remaining == 5


def test_gift_settings_default_to_the_000_programme():
    settings_row = services.gift_settings_for(OpenCampaignFactory())
    assert isinstance(settings_row, GiftSettings)
    assert (settings_row.choice_window_days, settings_row.password_length) == (3, 6)


def test_issue_hands_the_sms_to_messaging_with_the_password_sealed():
    from messaging.models import Message, MessageTemplate

    run = SelectionRunFactory()
    SelectionMemberFactory.create_batch(2, run=run)
    MessageTemplate.objects.create(
        campaign=run.campaign,
        purpose="invitation",
        body="Mat khau {password}, chon qua truoc {deadline}. LH 9090",
        exempt_from_do_not_contact=True,
    )

    services.invitations_issue(run=run)

    messages = Message.objects.filter(campaign=run.campaign, purpose="invitation")
    assert messages.count() == 2
    for message in messages:
        assert "Mat khau ******" in message.body
        assert message.sensitive
        password = message.full_text().split("Mat khau ")[1][:6]
        assert services.password_matches(
            invitation_hash=Invitation.objects.get(msisdn=message.msisdn).password_hash,
            campaign_id=run.campaign_id,
            msisdn=message.msisdn,
            password=password,
        )
