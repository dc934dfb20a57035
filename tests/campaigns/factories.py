from datetime import date

import factory

from campaigns.models import Campaign, CampaignBatch, CampaignPhase


class CampaignFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Campaign

    code = factory.Sequence(lambda n: f"campaign-{n}")
    name = factory.Sequence(lambda n: f"Chương trình {n}")
    owning_unit = "P.CSKH"
    starts_on = date(2022, 11, 10)
    ends_on = date(2022, 12, 31)


class CampaignPhaseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CampaignPhase

    campaign = factory.SubFactory(CampaignFactory)
    number = factory.Sequence(lambda n: n + 1)
    name = factory.LazyAttribute(lambda phase: f"Đợt {phase.number}")
    starts_on = date(2021, 3, 26)
    ends_on = date(2021, 5, 31)
    districts = factory.LazyFunction(
        lambda: [{"province": "Cần Thơ", "district": "Quận Ninh Kiều"}]
    )


class CampaignBatchFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CampaignBatch

    campaign = factory.SubFactory(CampaignFactory)
    number = factory.Sequence(lambda n: n + 1)
    name = factory.LazyAttribute(lambda batch: f"Đợt {batch.number}")
