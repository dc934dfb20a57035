from datetime import date

import factory
from django.contrib.auth import get_user_model

from eligibility.models import Snapshot


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
