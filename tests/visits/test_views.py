"""The staff pages through their URLs: who may open what, and what each one does."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from campaigns import roles
from gifts.models import Choice
from tests.conftest import user_in_role
from tests.gifts.factories import (
    GiftFactory,
    GiftStockFactory,
    InvitationFactory,
    SelectionMemberFactory,
)
from tests.visits.factories import (
    StoreFactory,
    SubscriberFactory,
    TripFactory,
    clerk_at,
    home_member,
    posted,
    store_member,
    survey_for,
)
from visits.models import TripInvitation, Visit

pytestmark = pytest.mark.django_db
User = get_user_model()


def login(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def hcm_order(run, hcm_store):
    """A customer of HCMC who chose a gift to collect at the Quận 1 store."""
    invitation = InvitationFactory(
        member=store_member(run, msisdn="84901234567", full_name="Lê Thị Bình")
    )
    gift = GiftFactory(campaign=invitation.campaign, name="Ô 2 khúc")
    Choice.objects.create(
        invitation=invitation,
        gift=gift,
        stock=GiftStockFactory(gift=gift),
        code="KX7P4M",
        store=hcm_store,
    )
    SubscriberFactory(
        snapshot=run.snapshot, msisdn="84901234567", record_standardized=False
    )
    return invitation.member


@pytest.mark.parametrize(
    "spelling", ["0901234567", "090 123 4567", "+84 90 123 4567", "84901234567"]
)
def test_clerk_finds_the_order_by_any_spelling_of_the_phone(
    client, hcm_order, hcm_store, spelling
):
    login(client, clerk_at(hcm_store, "gdv1"))
    response = client.get(reverse("visits:counter"), {"q": spelling})
    assert response.status_code == 302
    assert response.url == reverse("visits:counter_order", args=[hcm_order.pk])


def test_clerk_finds_the_order_by_pickup_code_and_sees_the_record(
    client, hcm_order, hcm_store
):
    login(client, clerk_at(hcm_store, "gdv1"))
    response = client.get(reverse("visits:counter"), {"q": "kx7p4m"}, follow=True)
    page = response.content.decode()
    assert "Ô 2 khúc" in page and "KX7P4M" in page
    assert 'id="record-standard" class="warn"' in page


def test_member_without_a_choice_is_found_by_its_member_code(client, run, hcm_store):
    member = store_member(run)
    login(client, clerk_at(hcm_store, "gdv1"))
    response = client.get(reverse("visits:counter"), {"q": f"tv{member.pk}"})
    assert response.url == reverse("visits:counter_order", args=[member.pk])


def test_nonsense_search_says_what_to_type(client, hcm_store):
    login(client, clerk_at(hcm_store, "gdv1"))
    response = client.get(reverse("visits:counter"), {"q": "abc!"})
    assert "neither a phone number nor a pickup code" in response.content.decode()


def test_handover_through_the_page_then_a_second_one_is_refused(
    client, hcm_order, hcm_store
):
    survey = survey_for(hcm_order.run.campaign)
    first_q = survey.questions.first()
    login(client, clerk_at(hcm_store, "gdv1"))
    url = reverse("visits:counter_order", args=[hcm_order.pk])

    response = client.post(url, {"record_checked": "on"})
    assert "Mức độ hài lòng" in response.content.decode()
    assert not Visit.objects.exists()

    data = {
        "record_checked": "on",
        "packages_advised": "C90N",
        f"q_{first_q.pk}": "Hài lòng",
    }
    response = client.post(url, data, follow=True)
    assert "Gift handed over to 0901 234 567 and recorded." in response.content.decode()
    visit = Visit.objects.get()
    assert visit.store == hcm_store and visit.packages_advised == "C90N"

    response = client.post(url, data)
    assert "cannot be handed over twice" in response.content.decode()
    assert Visit.objects.count() == 1


def test_clerk_of_another_province_cannot_find_open_or_hand_over(
    client, hcm_order, ct_store
):
    login(client, clerk_at(ct_store, "gdv-ct"))
    response = client.get(reverse("visits:counter"), {"q": "0901234567"})
    assert response.status_code == 200
    assert 'id="not-found"' in response.content.decode()
    response = client.get(reverse("visits:counter"), {"q": "KX7P4M"})
    assert 'id="not-found"' in response.content.decode()
    url = reverse("visits:counter_order", args=[hcm_order.pk])
    assert client.get(url).status_code == 404
    assert client.post(url, {"record_checked": "on"}).status_code == 404
    assert not Visit.objects.exists()


def test_home_visit_member_is_not_a_store_order(client, run, hcm_store):
    member = home_member(run)
    login(client, clerk_at(hcm_store, "gdv1"))
    url = reverse("visits:counter_order", args=[member.pk])
    assert client.get(url).status_code == 404


def test_field_user_of_another_district_sees_nothing_of_this_one(client, run):
    member = home_member(run, district="Quận 1", full_name="Phạm Minh Tuấn")
    login(client, posted("truong-q3", "TP Hồ Chí Minh", "Quận 3"))
    page = client.get(reverse("visits:visit_list"), {"district": "Quận 1"})
    assert "Phạm Minh Tuấn" not in page.content.decode()
    url = reverse("visits:visit_member", args=[member.pk])
    assert client.get(url).status_code == 404
    assert client.post(url, {"outcome": "met"}).status_code == 404
    assert not Visit.objects.exists()


def test_district_head_records_a_visit_through_the_page(client, run):
    member = home_member(run, district="Quận 1", full_name="Phạm Minh Tuấn")
    login(client, posted("truong-q1", "TP Hồ Chí Minh", "Quận 1"))
    page = client.get(reverse("visits:visit_list"))
    assert "Phạm Minh Tuấn" in page.content.decode()
    url = reverse("visits:visit_member", args=[member.pk])
    client.post(url, {"outcome": "not_home"})
    client.post(
        url,
        {"outcome": "met", "gift_handed_over": "on", "record_corrected": "on"},
    )
    assert list(Visit.objects.order_by("id").values_list("outcome", flat=True)) == [
        "not_home",
        "met",
    ]
    assert 'id="handed-over"' in client.get(url).content.decode()


@pytest.mark.parametrize(
    "name,args",
    [
        ("visits:counter", []),
        ("visits:visit_list", []),
        ("visits:trip_list", []),
    ],
)
def test_anonymous_visitors_are_sent_to_log_in(client, name, args):
    response = client.get(reverse(name, args=args))
    assert response.status_code == 302 and "/admin/login/" in response.url


def test_staff_without_a_post_or_role_are_refused(client, run):
    member = home_member(run)
    survey = survey_for(run.campaign)
    login(client, user_in_role("dtv", roles.CALL_AGENT))
    for url in [
        reverse("visits:survey_report", args=[survey.pk]),
        reverse("visits:survey_export", args=[survey.pk]),
        reverse("visits:counter"),
        reverse("visits:counter_order", args=[member.pk]),
        reverse("visits:visit_list"),
        reverse("visits:visit_member", args=[member.pk]),
        reverse("visits:trip_list"),
    ]:
        assert client.get(url).status_code == 403, url


def test_clerks_and_district_heads_cannot_open_the_trip_pages(client, run, hcm_store):
    trip = TripFactory(campaign=run.campaign)
    seat = TripInvitation.objects.create(
        trip=trip, member=home_member(run), company=1, cell="1, individual"
    )
    for user in [clerk_at(hcm_store, "gdv1"), posted("truong", "TP Hồ Chí Minh")]:
        login(client, user)
        for url in [
            reverse("visits:trip_list"),
            reverse("visits:trip_detail", args=[trip.pk]),
            reverse("visits:trip_seat", args=[seat.pk]),
        ]:
            assert client.get(url).status_code == 403, url
        assert (
            client.post(reverse("visits:trip_open", args=[trip.pk])).status_code == 403
        )
        assert (
            client.post(
                reverse("visits:trip_seat", args=[seat.pk]),
                {"action": "decline", "decline-reason": "x"},
            ).status_code
            == 403
        )
    seat.refresh_from_db()
    assert seat.status == "to_call"


def test_survey_report_shows_counts_of_the_viewers_province_only(
    client, run, hcm_store, ct_store, hcm_order
):
    survey = survey_for(run.campaign)
    question = survey.questions.first()
    ct_member = store_member(run, province="Cần Thơ", district="Quận Ninh Kiều")
    login(client, clerk_at(ct_store, "gdv-ct"))
    client.post(
        reverse("visits:counter_order", args=[ct_member.pk]),
        {f"q_{question.pk}": "Rất hài lòng"},
    )
    assert Visit.objects.count() == 1
    page = client.get(reverse("visits:survey_report", args=[survey.pk]))
    assert page.status_code == 200
    text = page.content.decode()
    assert "1 answer" in text


def test_care_staff_run_a_trip_seat_through_the_pages(client, care_staff, run):
    trip = TripFactory(campaign=run.campaign)
    SelectionMemberFactory(
        run=run, list_name=trip.list_name, company=1, cell="1, individual", rank=1
    )
    login(client, care_staff)
    client.post(reverse("visits:trip_open", args=[trip.pk]))
    seat = TripInvitation.objects.get()
    url = reverse("visits:trip_seat", args=[seat.pk])
    response = client.post(url, {"action": "call", "call-result": "declined"})
    assert "Write the reason the customer gave." in response.content.decode()
    client.post(url, {"action": "call", "call-result": "agreed"})
    seat.refresh_from_db()
    assert seat.status == "agreed"


def test_a_call_campaign_member_with_a_store_choice_is_served_at_that_store(
    client, run, ct_store, hcm_store
):
    # 002: ARPU below 500.000 đ, the agent picks the store nearest the customer.
    member = SelectionMemberFactory(
        run=run, channel="call", province="TP Hồ Chí Minh", msisdn="84935550000"
    )
    invitation = InvitationFactory(member=member)
    gift = GiftFactory(campaign=invitation.campaign)
    Choice.objects.create(
        invitation=invitation,
        gift=gift,
        stock=GiftStockFactory(gift=gift),
        code="CT55AA",
        store=ct_store,
    )
    login(client, clerk_at(ct_store, "gdv-ct"))
    response = client.get(reverse("visits:counter"), {"q": "0935550000"})
    assert response.url == reverse("visits:counter_order", args=[member.pk])
    login(client, clerk_at(hcm_store, "gdv-hcm"))
    response = client.get(reverse("visits:counter"), {"q": "CT55AA"})
    assert 'id="not-found"' in response.content.decode()


def test_visit_list_filters_by_batch(client, run):
    home_member(run, full_name="Đợt một", batch=1)
    home_member(run, full_name="Đợt hai", batch=2)
    login(client, posted("truong-q1", "TP Hồ Chí Minh", "Quận 1"))
    page = client.get(reverse("visits:visit_list"), {"batch": "2"}).content.decode()
    assert "Đợt hai" in page and "Đợt một" not in page


def test_store_member_without_a_choice_picks_one_of_the_tiers_gifts(
    client, run, hcm_store
):
    # 001 group 2: a vacuum food box or a two-fold umbrella, picked at the counter.
    member = store_member(run, tier="nhom-2")
    GiftFactory(campaign=run.campaign, name="Vali kéo", tiers=["nhom-1"])
    box = GiftFactory(campaign=run.campaign, name="Hộp thực phẩm", tiers=["nhom-2"])
    GiftFactory(campaign=run.campaign, name="Ô 2 khúc", tiers=["nhom-2"])
    login(client, clerk_at(hcm_store, "gdv1"))
    url = reverse("visits:counter_order", args=[member.pk])
    page = client.get(url).content.decode()
    assert "Hộp thực phẩm / Ô 2 khúc" in page and "Vali kéo" not in page

    response = client.post(url, {"record_checked": "on"})
    assert 'id="gift-pick" class="has-error"' in response.content.decode()
    assert not Visit.objects.exists()
    client.post(url, {"gift": str(box.pk)})
    assert Visit.objects.get().gift == box


def test_survey_export_is_scoped_and_keeps_formulas_as_text(
    client, run, hcm_store, ct_store
):
    from io import BytesIO

    from openpyxl import load_workbook

    survey = survey_for(run.campaign)
    questions = list(survey.questions.all())
    for store, province, username, comment in [
        (hcm_store, "TP Hồ Chí Minh", "gdv1", '=HYPERLINK("http://x")'),
        (ct_store, "Cần Thơ", "gdv-ct", "Sóng yếu"),
    ]:
        member = store_member(run, province=province, district=store.district)
        login(client, clerk_at(store, username))
        client.post(
            reverse("visits:counter_order", args=[member.pk]),
            {f"q_{questions[0].pk}": "Hài lòng", f"q_{questions[2].pk}": comment},
        )
    assert Visit.objects.count() == 2

    login(client, User.objects.get(username="gdv1"))
    response = client.get(reverse("visits:survey_export", args=[survey.pk]))
    assert response.status_code == 200
    rows = list(
        load_workbook(BytesIO(b"".join(response.streaming_content))).active.iter_rows(
            values_only=True
        )
    )
    assert len(rows) == 2  # header + the HCMC visit; Cần Thơ's is not there
    assert rows[1][-1] == '\'=HYPERLINK("http://x")'
    assert rows[1][-3] == "Hài lòng"


def test_counter_lists_todays_handovers_of_the_clerks_own_store_only(
    client, run, hcm_store
):
    other_store = StoreFactory(code="hcm-q3", district="Quận 3")
    member = store_member(run, full_name="Khách hôm nay")
    login(client, clerk_at(hcm_store, "gdv1"))
    client.post(reverse("visits:counter_order", args=[member.pk]), {})
    assert "Khách hôm nay" in client.get(reverse("visits:counter")).content.decode()
    login(client, clerk_at(other_store, "gdv-q3"))
    assert "Khách hôm nay" not in client.get(reverse("visits:counter")).content.decode()
