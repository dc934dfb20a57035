from datetime import date

import factory
from django.contrib.auth import get_user_model

from eligibility.models import Snapshot, Subscriber


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("pass-1234")


class SnapshotFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Snapshot

    name = factory.Sequence(lambda n: f"Snapshot {n}")
    taken_on = date(2022, 10, 31)


class SubscriberFactory(factory.django.DjangoModelFactory):
    """A subscriber written through the ORM (it lands in the DEFAULT partition)."""

    class Meta:
        model = Subscriber

    snapshot = factory.SubFactory(SnapshotFactory)
    msisdn = factory.Sequence(lambda n: f"8490{n:07d}")
    full_name = "Nguyễn Văn An"
    subscription_type = "prepaid"
    status = "2C"
    contract_date = date(2001, 5, 3)
    customer_type = "individual"
    company = 2
    province = "Hồ Chí Minh"
