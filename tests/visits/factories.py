from datetime import date

import factory

import tests.factories
from campaigns.models import FulfilmentChannel
from tests.factories import UserFactory
from tests.gifts.factories import (
    SelectionMemberFactory,
    SelectionRunFactory,
    StoreFactory,
)
from visits.models import StaffPost, Survey, SurveyQuestion, Trip

__all__ = [
    "SelectionMemberFactory",
    "SelectionRunFactory",
    "StoreFactory",
    "UserFactory",
]


class StaffPostFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StaffPost

    user = factory.SubFactory(UserFactory, is_staff=True)
    province = "TP Hồ Chí Minh"
    district = ""


def clerk_at(store, username: str):
    return StaffPostFactory(
        user=UserFactory(username=username, is_staff=True), store=store
    ).user


def posted(username: str, province: str, district: str = ""):
    return StaffPostFactory(
        user=UserFactory(username=username, is_staff=True),
        province=province,
        district=district,
    ).user


class SubscriberFactory(tests.factories.SubscriberFactory):
    """A subscriber with an address, as home visits need."""

    msisdn = factory.Sequence(lambda n: f"8491{n:07d}")
    full_name = "Trần Văn An"
    subscription_type = "postpaid"
    contract_date = date(2005, 3, 1)
    province = "TP Hồ Chí Minh"
    district = "Quận 1"
    address = "12 Lê Lợi"


def store_member(run, **fields):
    return SelectionMemberFactory(
        run=run, channel=FulfilmentChannel.STORE_PICKUP, **fields
    )


def home_member(run, **fields):
    return SelectionMemberFactory(
        run=run, channel=FulfilmentChannel.HOME_VISIT, **fields
    )


def survey_for(campaign) -> Survey:
    survey = Survey.objects.create(campaign=campaign, name="Phiếu khảo sát 001")
    SurveyQuestion.objects.create(
        survey=survey,
        position=1,
        text="Mức độ hài lòng",
        kind=SurveyQuestion.Kind.ONE,
        choices="Rất hài lòng\nHài lòng\nChưa hài lòng",
    )
    SurveyQuestion.objects.create(
        survey=survey,
        position=2,
        text="Dịch vụ đang dùng",
        kind=SurveyQuestion.Kind.MANY,
        choices="Thoại\nData\nMobiFone Pay",
        required=False,
    )
    SurveyQuestion.objects.create(
        survey=survey,
        position=3,
        text="Góp ý",
        kind=SurveyQuestion.Kind.TEXT,
        required=False,
    )
    return survey


class TripFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Trip

    campaign = factory.LazyAttribute(lambda trip: SelectionRunFactory().campaign)
    list_name = "Đoàn 1 (Hà Nội)"
    name = "Đoàn 1: Pháp – Hà Lan – Bỉ"
    departs_on = date(2019, 11, 16)
    returns_on = date(2019, 11, 22)
    passport_valid_through = date(2020, 6, 30)
    reply_days = 7
