from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import Campaign
from eligibility.models import DomainError
from fulfilment import services
from fulfilment.models import Order, OrderResult, OrderStatus, ResultUpload
from gifts.models import Choice
from messaging.models import Message, Purpose
from tests.fulfilment.factories import chosen
from tests.fulfilment.files import result_csv, result_xlsx

pytestmark = pytest.mark.django_db


def today():
    return services.local_today().strftime("%d/%m/%Y")


def check(p, tmp_path, rows, partner="alpha", **kwargs):
    path = result_csv(tmp_path, rows, **kwargs)
    return services.result_upload_check(
        partner=p[partner],
        campaign=p["campaign"],
        path=path,
        original_name=path.name,
        actor=p[f"{partner}_user"],
    )


def reasons(upload):
    return {problem["row"]: " ".join(problem["reasons"]) for problem in upload.problems}


# --- Release ------------------------------------------------------------------------


def test_closed_choices_become_orders_of_the_partner_of_their_gift(programme):
    alpha_orders = Order.objects.filter(partner=programme["alpha"])
    assert sorted(alpha_orders.values_list("code", flat=True)) == sorted(
        programme["alpha_codes"]
    )
    assert Order.objects.filter(partner=programme["beta"]).count() == 3
    order = alpha_orders.first()
    assert order.code == order.choice.code
    assert order.status == OrderStatus.PENDING
    # Five days after the local day of the close, at 23:59:59 Vietnam time.
    local_close = timezone.localtime(order.window_closed_at).date()
    assert timezone.localtime(order.deliver_by).date() == local_close + timedelta(5)


def test_release_again_adds_only_new_choices(programme):
    assert services.orders_release(campaign=programme["campaign"])["created"] == 0
    chosen(programme["pot"])
    assert services.orders_release(campaign=programme["campaign"])["created"] == 1
    assert Order.objects.count() == 7


def test_choice_whose_window_is_still_open_is_not_released(programme):
    campaign = programme["campaign"]
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.OPEN)
    chosen(programme["pot"], closed_days_ago=-1)
    assert services.orders_release(campaign=campaign)["created"] == 0
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.OPEN


def test_campaign_closes_when_every_window_has_closed(programme):
    programme["campaign"].refresh_from_db()
    assert programme["campaign"].status == Campaign.Status.CLOSED


def test_gift_without_a_partner_is_not_released(programme):
    from tests.gifts.factories import gift_with_stock

    orphan = gift_with_stock(programme["campaign"], code="le", name="Ô gấp")
    chosen(orphan)
    assert services.orders_release(campaign=programme["campaign"])["created"] == 0


# --- Upload validation --------------------------------------------------------------------


def test_good_rows_in_vietnamese_and_english_words_are_accepted(programme, tmp_path):
    a, b, c = programme["alpha_codes"]
    upload = check(
        programme,
        tmp_path,
        [
            [a, "", "Đã giao", today(), ""],
            [b, "", "THẤT BẠI", today(), "Không liên lạc được"],
            [c, "", "delivered", today(), ""],
        ],
    )
    assert upload.problems == []
    assert [row["status"] for row in upload.good_rows] == [
        "delivered",
        "failed",
        "delivered",
    ]


def test_xlsx_file_with_real_dates_is_read(programme, tmp_path):
    a = programme["alpha_codes"][0]
    path = result_xlsx(tmp_path, [[a, "", "Đã giao", services.local_today(), ""]])
    upload = services.result_upload_check(
        partner=programme["alpha"],
        campaign=programme["campaign"],
        path=path,
        original_name=path.name,
        actor=programme["alpha_user"],
    )
    assert upload.problems == [] and len(upload.good_rows) == 1


def test_order_found_by_number_when_the_code_is_missing(programme, tmp_path):
    order = Order.objects.filter(partner=programme["alpha"]).first()
    local = "0" + order.msisdn[2:]
    upload = check(programme, tmp_path, [["", local, "Đã giao", today(), ""]])
    assert upload.good_rows[0]["order"] == order.pk


def test_unknown_order_is_a_problem(programme, tmp_path):
    upload = check(programme, tmp_path, [["KHONGCO123", "", "Đã giao", today(), ""]])
    assert "Unknown order code KHONGCO123" in reasons(upload)[2]
    assert upload.good_rows == []


def test_another_partners_order_is_a_problem(programme, tmp_path):
    theirs = programme["beta_codes"][0]
    upload = check(programme, tmp_path, [[theirs, "", "Đã giao", today(), ""]])
    assert "is not one of your orders" in reasons(upload)[2]


def test_future_date_is_a_problem(programme, tmp_path):
    tomorrow = (services.local_today() + timedelta(days=1)).strftime("%d/%m/%Y")
    a = programme["alpha_codes"][0]
    upload = check(programme, tmp_path, [[a, "", "Đã giao", tomorrow, ""]])
    assert "in the future" in reasons(upload)[2]


def test_date_before_the_window_closed_is_a_problem(programme, tmp_path):
    early = (services.local_today() - timedelta(days=10)).strftime("%d/%m/%Y")
    a = programme["alpha_codes"][0]
    upload = check(programme, tmp_path, [[a, "", "Đã giao", early, ""]])
    assert "before the choice window closed" in reasons(upload)[2]


def test_unknown_status_word_is_a_problem(programme, tmp_path):
    a = programme["alpha_codes"][0]
    upload = check(programme, tmp_path, [[a, "", "Đang giao", today(), ""]])
    assert "Unknown result “Đang giao”" in reasons(upload)[2]


def test_failure_without_reason_and_bad_date_are_problems(programme, tmp_path):
    a, b = programme["alpha_codes"][:2]
    upload = check(
        programme,
        tmp_path,
        [[a, "", "Thất bại", today(), ""], [b, "", "Đã giao", "31/02/2022", ""]],
    )
    assert "needs a reason" in reasons(upload)[2]
    assert "is not a date" in reasons(upload)[3]


def test_duplicate_rows_are_problems(programme, tmp_path):
    a = programme["alpha_codes"][0]
    upload = check(
        programme,
        tmp_path,
        [[a, "", "Đã giao", today(), ""], [a, "", "Đã giao", today(), ""]],
    )
    assert len(upload.good_rows) == 1
    assert "already on row 2" in reasons(upload)[3]


def test_file_without_needed_columns_is_refused_naming_them(programme, tmp_path):
    with pytest.raises(DomainError, match="no column for: result"):
        check(programme, tmp_path, [["x", "y"]], header=["Mã đơn", "Ngày"])


def test_file_that_is_not_a_spreadsheet_is_refused(programme, tmp_path):
    path = tmp_path / "anh.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)
    with pytest.raises(DomainError):
        services.result_upload_check(
            partner=programme["alpha"],
            campaign=programme["campaign"],
            path=path,
            original_name=path.name,
            actor=programme["alpha_user"],
        )
    assert ResultUpload.objects.count() == 0


# --- Apply, idempotence, corrections, SMS ------------------------------------------------


def apply_rows(programme, tmp_path, rows, name="ket-qua.csv"):
    upload = check(programme, tmp_path, rows, name=name)
    return upload, services.result_upload_apply(
        upload=upload, actor=programme["alpha_user"]
    )


def test_applying_writes_results_history_choice_state_and_one_sms_each(
    programme, tmp_path
):
    a, b, _c = programme["alpha_codes"]
    _upload, result = apply_rows(
        programme,
        tmp_path,
        [[a, "", "Đã giao", today(), ""], [b, "", "Thất bại", today(), "Sai địa chỉ"]],
    )
    assert (result.changed, result.unchanged) == (2, 0)
    delivered, failed = Order.objects.get(code=a), Order.objects.get(code=b)
    assert delivered.status == OrderStatus.DELIVERED
    assert failed.status == OrderStatus.FAILED and failed.reason == "Sai địa chỉ"
    assert Choice.objects.get(code=a).fulfilment == Choice.Fulfilment.DELIVERED
    assert Choice.objects.get(code=b).fulfilment == Choice.Fulfilment.FAILED
    success = Message.objects.get(purpose=Purpose.DELIVERY_SUCCESS)
    failure = Message.objects.get(purpose=Purpose.DELIVERY_FAILURE)
    assert delivered.result_message == success
    assert "Noi com dien" in success.body or "Nồi cơm điện" in success.body
    reply_by = failed.reply_by.strftime("%d/%m/%Y")
    assert reply_by in failure.body and "Sai" in failure.body
    assert failed.reply_by == services.local_today() + timedelta(days=7)


def test_uploading_the_same_file_again_changes_nothing(programme, tmp_path):
    a, b, _c = programme["alpha_codes"]
    rows = [[a, "", "Đã giao", today(), ""], [b, "", "Thất bại", today(), "Vắng nhà"]]
    apply_rows(programme, tmp_path, rows)
    _upload, again = apply_rows(programme, tmp_path, rows, name="lan-2.csv")
    assert (again.changed, again.unchanged) == (0, 2)
    assert OrderResult.objects.count() == 2
    assert Message.objects.count() == 2


def test_a_later_upload_corrects_a_result_and_keeps_the_history(programme, tmp_path):
    a = programme["alpha_codes"][0]
    apply_rows(programme, tmp_path, [[a, "", "Thất bại", today(), "Vắng nhà"]])
    apply_rows(programme, tmp_path, [[a, "", "Đã giao", today(), ""]], name="sua.csv")
    order = Order.objects.get(code=a)
    assert order.status == OrderStatus.DELIVERED and order.reason == ""
    history = list(order.results.values_list("version", "status", "reason"))
    assert history == [(1, "failed", "Vắng nhà"), (2, "delivered", "")]
    assert set(Message.objects.values_list("purpose", "sequence")) == {
        (Purpose.DELIVERY_FAILURE, 1),
        (Purpose.DELIVERY_SUCCESS, 2),
    }


def test_an_upload_is_applied_once_and_a_discarded_one_never(programme, tmp_path):
    a = programme["alpha_codes"][0]
    upload, _result = apply_rows(programme, tmp_path, [[a, "", "Đã giao", today(), ""]])
    with pytest.raises(DomainError, match="already"):
        services.result_upload_apply(upload=upload, actor=programme["alpha_user"])
    other = check(programme, tmp_path, [[a, "", "Thất bại", today(), "x"]])
    services.result_upload_discard(upload=other, actor=programme["alpha_user"])
    with pytest.raises(DomainError):
        services.result_upload_apply(upload=other, actor=programme["alpha_user"])
    assert Order.objects.get(code=a).status == OrderStatus.DELIVERED


def test_missing_sms_template_applies_nothing(programme, tmp_path):
    from messaging.models import MessageTemplate

    MessageTemplate.objects.filter(purpose=Purpose.DELIVERY_SUCCESS).delete()
    a = programme["alpha_codes"][0]
    upload = check(programme, tmp_path, [[a, "", "Đã giao", today(), ""]])
    with pytest.raises(DomainError):
        services.result_upload_apply(upload=upload, actor=programme["alpha_user"])
    assert Order.objects.get(code=a).status == OrderStatus.PENDING
    assert OrderResult.objects.count() == 0


# --- SLAs and the declined sweep ----------------------------------------------------------


def test_sla_flags_for_late_delivery_late_upload_and_late_notice(programme, tmp_path):
    now = timezone.now()
    a, b, c = programme["alpha_codes"]
    Order.objects.filter(code=a).update(deliver_by=now - timedelta(hours=1))
    assert list(Order.objects.delivery_overdue(now).values_list("code", flat=True)) == [
        a
    ]
    late_day = (services.local_today() - timedelta(days=1)).strftime("%d/%m/%Y")
    Order.objects.filter(code=b).update(window_closed_at=now - timedelta(days=5))
    apply_rows(programme, tmp_path, [[b, "", "Đã giao", late_day, ""]])
    Order.objects.filter(code=b).update(upload_by=now - timedelta(hours=1))
    assert set(Order.objects.upload_late().values_list("code", flat=True)) == {b}
    Order.objects.filter(code=b).update(notify_by=now - timedelta(hours=1))
    assert b in Order.objects.notify_overdue(now).values_list("code", flat=True)
    assert set(Order.objects.overdue(now).values_list("code", flat=True)) == {a, b}
    assert Order.objects.get(code=c).sla_flags(now) == []
    assert "delivery overdue" in Order.objects.get(code=a).sla_flags(now)


def test_failed_delivery_without_reply_by_the_date_is_declined_once(
    programme, tmp_path
):
    a, b = programme["alpha_codes"][:2]
    apply_rows(
        programme,
        tmp_path,
        [[a, "", "Thất bại", today(), "Vắng nhà"], [b, "", "Thất bại", today(), "x"]],
    )
    order_b = Order.objects.get(code=b)
    services.order_reply_record(order=order_b, actor=programme["alpha_user"])
    later = timezone.now() + timedelta(days=8)
    assert services.orders_decline_unanswered(now=later) == 1
    assert services.orders_decline_unanswered(now=later) == 0
    declined = Order.objects.get(code=a)
    assert declined.status == OrderStatus.DECLINED
    assert list(declined.results.values_list("version", "status")) == [
        (1, "failed"),
        (2, "declined"),
    ]
    assert Order.objects.get(code=b).status == OrderStatus.PENDING


def test_nothing_is_declined_before_the_reply_date(programme, tmp_path):
    a = programme["alpha_codes"][0]
    apply_rows(programme, tmp_path, [[a, "", "Thất bại", today(), "Vắng nhà"]])
    assert (
        services.orders_decline_unanswered(now=timezone.now() + timedelta(days=6)) == 0
    )


def test_order_lines_without_a_result_are_skipped_not_refused(programme, tmp_path):
    a, b, c = programme["alpha_codes"]
    upload = check(
        programme,
        tmp_path,
        [[a, "", "Đã giao", today(), ""], [b, "", "", "", ""], [c, "", "", "", ""]],
    )
    assert (len(upload.good_rows), upload.problems, upload.skipped_rows) == (1, [], 2)
