"""Two partners' users pressing "apply" on the same upload at once: applied once."""

import threading

import pytest
from django.db import connection

from eligibility.models import DomainError
from fulfilment import services
from fulfilment.models import OrderResult
from messaging.models import Message
from tests.fulfilment.files import result_csv

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_same_upload_applied_twice_at_once_is_applied_once(programme, tmp_path):
    day = services.local_today().strftime("%d/%m/%Y")
    path = result_csv(
        tmp_path, [[code, "", "Đã giao", day, ""] for code in programme["alpha_codes"]]
    )
    upload = services.result_upload_check(
        partner=programme["alpha"],
        campaign=programme["campaign"],
        path=path,
        original_name=path.name,
        actor=programme["alpha_user"],
    )
    barrier = threading.Barrier(2)
    outcomes = []

    def press():
        try:
            barrier.wait()
            result = services.result_upload_apply(
                upload=upload, actor=programme["alpha_user"]
            )
            outcomes.append(("applied", result.changed))
        except DomainError:
            outcomes.append(("refused", 0))
        finally:
            connection.close()

    threads = [threading.Thread(target=press) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == [("applied", 3), ("refused", 0)]
    assert OrderResult.objects.count() == 3
    assert Message.objects.filter(purpose="delivery_success").count() == 3


def test_two_release_sweeps_at_once_order_each_choice_once():
    from fulfilment.models import Order
    from tests.fulfilment.factories import PartnerFactory, assign, chosen
    from tests.gifts.factories import OpenCampaignFactory, gift_with_stock

    campaign = OpenCampaignFactory()
    gift = gift_with_stock(campaign, units=20)
    assign(campaign, PartnerFactory())
    for _ in range(5):
        chosen(gift)
    barrier = threading.Barrier(2)
    created, errors = [], []

    def sweep():
        try:
            barrier.wait()
            created.append(services.orders_release(campaign=campaign)["created"])
        except Exception as exc:  # noqa: BLE001 - the assertion shows it
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(created) == [0, 5]
    assert Order.objects.filter(campaign=campaign).count() == 5
