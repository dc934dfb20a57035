"""Visits and hand-overs through the services, on the real database."""

import pytest
from django.utils import timezone

from eligibility.models import DomainError
from gifts.models import Choice, GiftStock
from tests.gifts.factories import GiftFactory, GiftStockFactory, InvitationFactory
from tests.visits.factories import (
    clerk_at,
    home_member,
    posted,
    store_member,
    survey_for,
)
from visits import selectors, services
from visits.models import SurveyAnswer, Visit, VisitEvent

pytestmark = pytest.mark.django_db


def _answers(survey, one="Hài lòng", many=None, text=""):
    questions = list(survey.questions.all())
    return {
        questions[0].pk: one,
        questions[1].pk: many or [],
        questions[2].pk: text,
    }


def _handover(member, clerk, store, **kwargs):
    scope = selectors.scope_for(clerk, counter=True)
    kwargs.setdefault("gift_handed_over", True)
    return services.visit_record(
        actor=clerk,
        scope=scope,
        member=member,
        kind=Visit.Kind.STORE,
        province=member.province,
        district=member.district,
        store=store,
        **kwargs,
    )


def test_store_handover_records_who_when_where_and_marks_the_order_delivered(
    run, hcm_store
):
    clerk = clerk_at(hcm_store, "gdv1")
    invitation = InvitationFactory(member=store_member(run))
    gift = GiftFactory(campaign=invitation.campaign)
    stock = GiftStockFactory(gift=gift)
    choice = Choice.objects.create(
        invitation=invitation, gift=gift, stock=stock, code="AB12CD", store=hcm_store
    )

    visit = _handover(
        invitation.member,
        clerk,
        hcm_store,
        choice=choice,
        record_checked=True,
        record_corrected=True,
        record_note="Cập nhật CCCD",
        packages_advised="C90N, MAX200",
    )

    assert visit.staff == clerk and visit.store == hcm_store
    assert visit.gift_handed_over and visit.record_corrected
    assert abs((timezone.now() - visit.visited_at).total_seconds()) < 60
    choice.refresh_from_db()
    assert choice.fulfilment == Choice.Fulfilment.DELIVERED
    event = VisitEvent.objects.get(visit=visit)
    assert event.kind == VisitEvent.Kind.HANDOVER
    assert event.data["store"] == "hcm-q1" and event.actor == clerk
    assert GiftStock.objects.get(pk=stock.pk).remaining == stock.remaining


def test_second_handover_of_the_same_gift_is_refused_and_changes_nothing(
    run, hcm_store
):
    clerk = clerk_at(hcm_store, "gdv1")
    other = clerk_at(hcm_store, "gdv2")
    member = store_member(run)
    _handover(member, clerk, hcm_store)

    with pytest.raises(DomainError, match="already handed over on .*gdv1"):
        _handover(member, other, hcm_store)

    assert Visit.objects.filter(member=member).count() == 1
    assert VisitEvent.objects.count() == 1


def test_handover_outside_the_clerks_province_is_refused(run, ct_store):
    clerk = clerk_at(ct_store, "gdv-ct")
    member = store_member(run, province="TP Hồ Chí Minh")
    with pytest.raises(DomainError, match="not in your area"):
        _handover(member, clerk, ct_store)
    assert not Visit.objects.exists()


def test_required_survey_question_left_empty_is_refused_with_its_name(run, hcm_store):
    clerk = clerk_at(hcm_store, "gdv1")
    survey = survey_for(run.campaign)
    member = store_member(run)

    with pytest.raises(services.SurveyProblems) as caught:
        _handover(member, clerk, hcm_store, answers=_answers(survey, one=""))

    assert "Mức độ hài lòng" in str(caught.value)
    assert not Visit.objects.exists() and not SurveyAnswer.objects.exists()


def test_survey_choice_that_is_not_offered_is_refused(run, hcm_store):
    clerk = clerk_at(hcm_store, "gdv1")
    survey = survey_for(run.campaign)
    with pytest.raises(services.SurveyProblems, match="Tuyệt vời"):
        _handover(
            store_member(run),
            clerk,
            hcm_store,
            answers=_answers(survey, one="Tuyệt vời"),
        )
    with pytest.raises(services.SurveyProblems, match="one choice only"):
        _handover(
            store_member(run),
            clerk,
            hcm_store,
            answers=_answers(survey, one=["Hài lòng", "Rất hài lòng"]),
        )


def test_survey_answers_are_stored_with_the_visit_and_counted_per_question(
    run, hcm_store
):
    clerk = clerk_at(hcm_store, "gdv1")
    survey = survey_for(run.campaign)
    for one, many, text in [
        ("Hài lòng", ["Thoại", "Data"], "Tốt"),
        ("Hài lòng", ["Data"], ""),
        ("Chưa hài lòng", [], "Sóng yếu"),
    ]:
        _handover(
            store_member(run),
            clerk,
            hcm_store,
            answers=_answers(survey, one=one, many=many, text=text),
        )

    report = selectors.survey_report(
        survey=survey, scope=selectors.scope_for(clerk, counter=True)
    )
    satisfaction, services_used, comments = report
    assert dict(satisfaction.counts) == {
        "Rất hài lòng": 0,
        "Hài lòng": 2,
        "Chưa hài lòng": 1,
    }
    assert satisfaction.answered == 3
    assert dict(services_used.counts) == {"Thoại": 1, "Data": 2, "MobiFone Pay": 0}
    assert sorted(comments.texts) == ["Sóng yếu", "Tốt"]


def test_survey_report_counts_only_the_viewers_province(run, hcm_store, ct_store):
    survey = survey_for(run.campaign)
    _handover(
        store_member(run),
        clerk_at(hcm_store, "gdv1"),
        hcm_store,
        answers=_answers(survey),
    )
    ct_clerk = clerk_at(ct_store, "gdv-ct")
    _handover(
        store_member(run, province="Cần Thơ", district="Quận Ninh Kiều"),
        ct_clerk,
        ct_store,
        answers=_answers(survey, one="Rất hài lòng"),
    )
    report = selectors.survey_report(
        survey=survey, scope=selectors.scope_for(ct_clerk, counter=True)
    )
    assert dict(report[0].counts) == {
        "Rất hài lòng": 1,
        "Hài lòng": 0,
        "Chưa hài lòng": 0,
    }


def test_home_visit_not_at_home_then_met_and_handed_over(run):
    head = posted("truong-q1", "TP Hồ Chí Minh", "Quận 1")
    scope = selectors.scope_for(head)
    member = home_member(run)
    common = dict(
        actor=head,
        scope=scope,
        member=member,
        kind=Visit.Kind.HOME,
        province=member.province,
        district=member.district,
    )

    with pytest.raises(DomainError, match="customer you met"):
        services.visit_record(
            **common, outcome=Visit.Outcome.NOT_HOME, gift_handed_over=True
        )
    services.visit_record(**common, outcome=Visit.Outcome.NOT_HOME)
    services.visit_record(
        **common,
        outcome=Visit.Outcome.MET,
        record_corrected=True,
        gift_handed_over=True,
    )

    visits = list(Visit.objects.filter(member=member).order_by("id"))
    assert [v.outcome for v in visits] == ["not_home", "met"]
    # Correcting the record implies it was checked.
    assert visits[1].record_checked and visits[1].gift_handed_over
    row = selectors.home_visit_members(scope=scope).get(pk=member.pk)
    assert row.handed_over and row.visit_count == 2


def test_district_head_sees_only_the_district_and_clerks_see_no_visit_list(
    run, hcm_store
):
    mine = home_member(run, district="Quận 1")
    home_member(run, district="Quận 3")
    home_member(run, province="Cần Thơ", district="Quận Ninh Kiều")
    store_member(run, district="Quận 1")
    head = posted("truong-q1", "TP Hồ Chí Minh", "Quận 1")
    province = posted("tinh-hcm", "TP Hồ Chí Minh")

    assert list(selectors.home_visit_members(scope=selectors.scope_for(head))) == [mine]
    assert (
        selectors.home_visit_members(scope=selectors.scope_for(province)).count() == 2
    )
    assert not selectors.scope_for(clerk_at(hcm_store, "gdv")).allowed


def test_a_choice_question_needs_two_choices_in_the_admin(run):
    from django.core.exceptions import ValidationError

    from visits.models import Survey, SurveyQuestion

    survey = Survey.objects.create(campaign=run.campaign, name="Khảo sát")
    question = SurveyQuestion(survey=survey, text="Hài lòng?", choices="Có\n \n")
    with pytest.raises(ValidationError, match="at least two choices"):
        question.full_clean()
    SurveyQuestion(
        survey=survey, text="Góp ý", kind=SurveyQuestion.Kind.TEXT
    ).full_clean()
