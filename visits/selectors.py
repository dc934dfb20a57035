"""Reads for the store counter, the visit lists, the survey report and the trip pages.

Every read takes the viewer's `Scope` and filters by it in the query, so a page cannot
show a row of another province or district by forgetting a check.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import (
    Case,
    Count,
    Exists,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
)
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns import roles
from campaigns.models import FulfilmentChannel, SelectionMember, SelectionRun
from eligibility.models import Subscriber
from eligibility.selectors import msisdn_normalise
from gifts.models import Choice, Store
from visits.models import (
    StaffPost,
    Survey,
    SurveyAnswer,
    SurveyQuestion,
    Trip,
    TripInvitation,
    Visit,
)


@dataclass(frozen=True)
class Scope:
    """Where a staff login may look: everywhere, one province, or one district."""

    everywhere: bool = False
    province: str = ""
    district: str = ""
    store: Store | None = None

    @property
    def allowed(self) -> bool:
        return self.everywhere or bool(self.province)

    def area_q(self, prefix: str = "") -> Q:
        """Rows of this scope, by their `province` / `district` fields under prefix."""
        if self.everywhere:
            return Q()
        if not self.province:
            return Q(pk__in=[])
        query = Q(**{f"{prefix}province": self.province})
        if self.district:
            query &= Q(**{f"{prefix}district": self.district})
        return query

    def covers(self, province: str, district: str = "") -> bool:
        if self.everywhere:
            return True
        if not self.province or province != self.province:
            return False
        return not self.district or district == self.district


def scope_for(user, *, counter: bool = False) -> Scope:
    """The user's scope. Care staff and superusers see everywhere.

    At the store counter a clerk serves any customer of the store's province, since
    customers collect at whichever store is nearest, so `counter` widens a store
    post's district to its whole province.
    """
    if not user.is_authenticated or not user.is_active:
        return Scope()
    if user.is_superuser or user.groups.filter(name=roles.CARE_STAFF).exists():
        return Scope(everywhere=True)
    post = StaffPost.objects.select_related("store").filter(user=user).first()
    if post is None:
        return Scope()
    if counter:
        return Scope(province=post.province, store=post.store)
    if post.store_id:
        # Clerks work at the counter; home visits are the district's field work.
        return Scope()
    return Scope(province=post.province, district=post.district)


def approved_members() -> QuerySet[SelectionMember]:
    return SelectionMember.objects.filter(
        run__status=SelectionRun.Status.APPROVED, selected=True
    )


@dataclass
class CounterOrder:
    """A member who may collect a gift at a store, and what they collect."""

    member: SelectionMember
    choice: Choice | None
    province: str
    district: str
    handover: Visit | None = None
    store: Store | None = None
    visits: list[Visit] = field(default_factory=list)

    @property
    def code(self) -> str:
        return self.choice.code if self.choice else member_code(self.member)


def member_code(member: SelectionMember) -> str:
    """The pickup code of a member whose campaign has no gift choice."""
    return f"TV{member.pk}"


def _counter_members() -> QuerySet[SelectionMember]:
    """Members who collect at a store: the store channel, or a choice with a store."""
    with_store_choice = Choice.objects.filter(
        invitation__member=OuterRef("pk"), store__isnull=False
    )
    return (
        approved_members()
        .filter(Q(channel=FulfilmentChannel.STORE_PICKUP) | Exists(with_store_choice))
        .select_related("run__campaign")
    )


def counter_orders(
    *, scope: Scope, query: str, limit: int = 20
) -> tuple[list[CounterOrder], str]:
    """Orders found by phone number (any spelling) or pickup code, in the scope.

    Returns the orders and, when nothing can be searched, a message saying why.
    """
    text = query.strip()
    if not text:
        return [], ""
    members = _counter_members()
    msisdn = msisdn_normalise(text)
    code = text.upper().replace(" ", "")
    if msisdn:
        members = members.filter(msisdn=msisdn)
    elif code.startswith("TV") and code[2:].isdigit():
        members = members.filter(pk=int(code[2:]))
    elif code.isalnum() and 4 <= len(code) <= 12:
        members = members.filter(invitations__choices__code=code)
    else:
        return [], _(
            "“%(query)s” is neither a phone number nor a pickup code. Type the "
            "customer's number (e.g. 0901 234 567) or the code from their SMS."
        ) % {"query": text}
    orders = [_counter_order(member) for member in members.order_by("-id")[:limit]]
    return [o for o in orders if scope.covers(o.province, o.district)], ""


def _counter_order(member: SelectionMember) -> CounterOrder:
    choice = (
        Choice.objects.select_related("gift", "store")
        .filter(invitation__member=member)
        .first()
    )
    # The order belongs to the province of the store the customer chose; without a
    # choice, to the member's own province.
    if choice and choice.store_id:
        province, district = choice.store.province, choice.store.district
    else:
        province, district = member.province, member.district
    visits = list(member.visits.select_related("store", "staff").order_by("visited_at"))
    handover = next((v for v in visits if v.gift_handed_over), None)
    return CounterOrder(
        member=member,
        choice=choice,
        province=province,
        district=district,
        handover=handover,
        store=choice.store if choice else None,
        visits=visits,
    )


def counter_order(*, scope: Scope, member_id: int) -> CounterOrder | None:
    """One store order in the scope, or None (absent and out of scope look alike)."""
    member = _counter_members().filter(pk=member_id).first()
    if member is None:
        return None
    order = _counter_order(member)
    return order if scope.covers(order.province, order.district) else None


def subscriber_record(member: SelectionMember) -> Subscriber | None:
    """The member's line in the snapshot the campaign selected from."""
    return Subscriber.objects.filter(
        snapshot_id=member.run.snapshot_id, msisdn=member.msisdn
    ).first()


def home_visit_members(*, scope: Scope) -> QuerySet[SelectionMember]:
    """Members to visit at home, in the scope, with whether the gift went already."""
    handed = Visit.objects.filter(member=OuterRef("pk"), gift_handed_over=True)
    return (
        approved_members()
        .filter(channel=FulfilmentChannel.HOME_VISIT)
        .filter(scope.area_q())
        .annotate(handed_over=Exists(handed), visit_count=Count("visits"))
        .select_related("run__campaign")
        .order_by("district", "batch", "rank")
    )


def home_visit_member(*, scope: Scope, member_id: int) -> SelectionMember | None:
    return home_visit_members(scope=scope).filter(pk=member_id).first()


def districts_in(*, scope: Scope) -> list[str]:
    return list(
        approved_members()
        .filter(channel=FulfilmentChannel.HOME_VISIT)
        .filter(scope.area_q())
        .order_by("district")
        .values_list("district", flat=True)
        .distinct()
    )


def survey_for(campaign_id: int) -> Survey | None:
    return (
        Survey.objects.filter(campaign_id=campaign_id, active=True)
        .prefetch_related("questions")
        .first()
    )


def surveys_in(*, scope: Scope) -> QuerySet[Survey]:
    return Survey.objects.select_related("campaign").order_by("campaign__code", "id")


@dataclass
class QuestionCounts:
    question: SurveyQuestion
    counts: list[tuple[str, int]]
    answered: int
    texts: list[str]


def survey_report(*, survey: Survey, scope: Scope) -> list[QuestionCounts]:
    """Per question: how many chose each choice, counted in SQL over the scope's visits.

    A several-choices answer counts once for each choice ticked.
    """
    answers = SurveyAnswer.objects.filter(
        question__survey=survey, visit__in=Visit.objects.filter(scope.area_q())
    )
    answered = dict(
        answers.values("question").annotate(n=Count("id")).values_list("question", "n")
    )
    picked: dict[int, dict[str, int]] = {}
    # Each choice is one element of the JSON list; unnest them in the database.
    from django.db import connection

    table = SurveyAnswer._meta.db_table
    sql, params = answers.values("id").query.sql_with_params()
    if connection.vendor == "postgresql":
        element = f"SELECT a.question_id, c.value FROM {table} a, "
        element += "jsonb_array_elements_text(a.choices) AS c(value) "
    else:
        element = (
            f"SELECT a.question_id, c.value FROM {table} a, json_each(a.choices) c "
        )
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT question_id, value, COUNT(*) FROM ({element}"
            f"WHERE a.id IN ({sql})) t GROUP BY question_id, value",
            params,
        )
        for question_id, value, count in cursor.fetchall():
            picked.setdefault(question_id, {})[value] = count
    report = []
    for question in survey.questions.all():
        counts = picked.get(question.pk, {})
        choices = question.choice_list()
        ordered = [(choice, counts.get(choice, 0)) for choice in choices]
        ordered += [(value, n) for value, n in counts.items() if value not in choices]
        texts = []
        if question.kind == SurveyQuestion.Kind.TEXT:
            texts = list(
                answers.filter(question=question)
                .exclude(text="")
                .order_by("-id")
                .values_list("text", flat=True)[:50]
            )
        report.append(
            QuestionCounts(
                question=question,
                counts=ordered,
                answered=answered.get(question.pk, 0),
                texts=texts,
            )
        )
    return report


def trips() -> QuerySet[Trip]:
    return Trip.objects.select_related("campaign").annotate(seat_count=Count("seats"))


def trip_seats(trip: Trip) -> QuerySet[TripInvitation]:
    return (
        TripInvitation.objects.filter(trip=trip)
        .select_related("member", "replaces__member")
        .prefetch_related("replaced_by")
        .order_by("company", "cell", "member__rank")
    )


def trip_next_candidates(freed: TripInvitation) -> QuerySet[SelectionMember]:
    """Who is next in line for a freed seat, best first.

    Members ranked below the cut (not selected) of the same company and tour, never
    invited to this trip: first those of the seat's own group (cell), then the
    company's other group, highest revenue (rank) first, as 004 section 4d says.
    """
    invited = TripInvitation.objects.filter(trip=freed.trip, member=OuterRef("pk"))
    return (
        SelectionMember.objects.filter(
            run_id=freed.member.run_id,
            selected=False,
            company=freed.company,
            list_name=freed.trip.list_name,
        )
        .exclude(Exists(invited))
        .annotate(
            other_group=Case(
                When(cell=freed.cell, then=Value(0)),
                default=Value(1),
                output_field=IntegerField(),
            )
        )
        .order_by("other_group", "rank")
    )


def gifts_for(member: SelectionMember) -> list:
    """The gifts a member's tier is offered, for a hand-over without an online choice."""
    from gifts.models import Gift

    gifts = Gift.objects.filter(campaign_id=member.run.campaign_id, active=True)
    # A campaign has a handful of gifts: match the tier list here, which also works
    # on SQLite, where JSON containment lookups do not.
    return [
        gift
        for gift in gifts.order_by("id")
        if not gift.tiers or member.tier in gift.tiers
    ]


def trip_summary(trip: Trip) -> list[dict]:
    """Seats per company and group: held (not declined or expired) and confirmed."""
    return list(
        TripInvitation.objects.filter(trip=trip)
        .values("company", "cell")
        .annotate(
            held=Count("id", filter=~Q(status__in=TripInvitation.FREED)),
            confirmed=Count("id", filter=Q(status=TripInvitation.Status.CONFIRMED)),
        )
        .order_by("company", "cell")
    )


def survey_export_xlsx(*, survey: Survey, scope: Scope, stream) -> int:
    """Every visit of the survey's campaign in the scope, one row each with its answers,
    written as XLSX to `stream`; returns the row count.

    Answers and notes are typed by staff and customers, so text cells go through
    `spreadsheet_safe`: a cell starting with = + - @ stays text in Excel.
    """
    from openpyxl import Workbook

    from eligibility.selectors import spreadsheet_safe

    questions = list(survey.questions.all())
    visits = (
        Visit.objects.filter(campaign=survey.campaign_id)
        .filter(scope.area_q())
        .select_related("member", "store", "staff", "gift")
        .prefetch_related("answers")
        .order_by("visited_at", "id")
    )
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=survey.campaign.code[:31])
    sheet.append(
        [
            _("Date"),
            _("Phone"),
            _("Full name"),
            _("Where"),
            _("Store"),
            _("Province"),
            _("District"),
            _("Result"),
            _("Record checked"),
            _("Record corrected"),
            _("What was corrected"),
            _("Packages advised"),
            _("Gift handed over"),
            _("Staff"),
        ]
        + [question.text for question in questions]
    )
    count = 0
    for visit in visits.iterator(chunk_size=2000):
        answers = {answer.question_id: answer for answer in visit.answers.all()}
        cells = [
            timezone.localtime(visit.visited_at).strftime("%d/%m/%Y %H:%M"),
            "0" + visit.member.msisdn[2:],
            visit.member.full_name,
            visit.get_kind_display(),
            visit.store.name if visit.store else "",
            visit.province,
            visit.district,
            visit.get_outcome_display(),
            _("yes") if visit.record_checked else _("no"),
            _("yes") if visit.record_corrected else _("no"),
            visit.record_note,
            visit.packages_advised,
            (visit.gift.name if visit.gift else _("yes"))
            if visit.gift_handed_over
            else _("no"),
            visit.staff.get_username(),
        ]
        for question in questions:
            answer = answers.get(question.pk)
            cells.append(
                "" if answer is None else ", ".join(answer.choices) or answer.text
            )
        sheet.append([spreadsheet_safe(str(cell)) for cell in cells])
        count += 1
    workbook.save(stream)
    return count


def handovers_today(*, scope: Scope, limit: int = 50) -> list[Visit]:
    """Today's hand-overs at the clerk's store (or in the scope, for other staff)."""
    start = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    visits = Visit.objects.handed_over().filter(visited_at__gte=start)
    if scope.store is not None:
        visits = visits.filter(store=scope.store)
    else:
        visits = visits.filter(scope.area_q())
    return list(
        visits.select_related("member", "staff", "gift", "choice__gift").order_by(
            "-visited_at"
        )[:limit]
    )
