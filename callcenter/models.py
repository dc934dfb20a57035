"""The call centre: outbound scripts, the agents' queues, calls and what they produce.

A campaign's script (`Script`) is a graph of steps with branches the agent clicks; some
steps are topics the customer may qualify for, and the script's rule says how many of
them a call must cover, in priority order. Each selected member of the campaign's
approved list becomes a `CallTask` in a queue; every call ends with a `Call` and its
disposition, what the call produced is a `CallRequest`, and each change is a
`CallEvent`, written by the service that made it (the console's timeline).
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from campaigns.models import Campaign, SelectionMember

LOCAL_ZONE = ZoneInfo("Asia/Ho_Chi_Minh")

# The words in square brackets an agent's text may use, and what they show. The
# customer's values come from the snapshot and the selection (selectors.customer_facts).
PLACEHOLDERS = {
    "Tên KH": _("customer's name"),
    "Số TB": _("the customer's number"),
    "Điểm": _("loyalty points"),
    "Hạng": _("loyalty tier"),
    "ARPU": _("average monthly spend"),
    "Tỷ lệ thoại": _("share of voice in the spend"),
    "Tỷ lệ data": _("share of data in the spend"),
    "Gói cước": _("current package"),
    "Gói đề xuất": _("package offered"),
    "Giá gói": _("price of the package offered"),
    "Ưu đãi gói": _("what the package offered gives"),
    "Quà": _("the gifts offered, in order"),
    "Cửa hàng": _("stores near the customer"),
    "Quận/Huyện": _("customer's district"),
    "Hạn cập nhật": _("deadline to update the subscriber record"),
}
PLACEHOLDER_RE = re.compile(r"\[([^\[\]]+)\]")


def unknown_placeholders(text: str) -> list[str]:
    return [
        name
        for name in dict.fromkeys(PLACEHOLDER_RE.findall(text or ""))
        if name.strip() not in PLACEHOLDERS
    ]


def check_placeholders(text: str) -> None:
    unknown = unknown_placeholders(text)
    if unknown:
        raise ValidationError(
            _("Unknown placeholder: %(names)s. Known: %(known)s."),
            params={
                "names": ", ".join(f"[{name}]" for name in unknown),
                "known": ", ".join(f"[{name}]" for name in PLACEHOLDERS),
            },
            code="unknown_placeholder",
        )


def fill_placeholders(text: str, values: dict[str, str]) -> str:
    return PLACEHOLDER_RE.sub(
        lambda match: str(values.get(match.group(1).strip(), match.group(0))), text
    )


class Disposition(models.TextChoices):
    REACHED = "reached", _("reached, to continue at an agreed time")
    WRONG_PERSON = "wrong_person", _("wrong person")
    BUSY = "busy", _("busy: call back")
    NO_ANSWER = "no_answer", _("no answer")
    NOT_INTERESTED = "not_interested", _("not interested")
    DO_NOT_CALL = "do_not_call", _("asks not to be called")
    DONE = "done", _("done")


class Qualifier(models.TextChoices):
    """Which customers a topic is for, read from the snapshot."""

    ALWAYS = "always", _("every customer")
    HAS_POINTS = "has_points", _("has loyalty points")
    NO_PACKAGE = "no_package", _("has no tariff package")
    RECORD_NOT_STANDARD = "record", _("subscriber record not standardised")
    NO_APP = "no_app", _("has not installed the app")
    MVAS_IDLE = "mvas_idle", _("mVAS unused for 2 months")


class Script(models.Model):
    """A campaign's outbound call script, with the calling rules of its queue."""

    campaign = models.OneToOneField(
        Campaign,
        verbose_name=_("campaign"),
        on_delete=models.CASCADE,
        related_name="call_script",
    )
    name = models.CharField(_("name"), max_length=200)
    min_topics = models.PositiveSmallIntegerField(
        _("topics per call"),
        default=2,
        help_text=_("Each call covers at least this many topics, in priority order."),
    )
    offer_package = models.CharField(_("package offered"), max_length=50, blank=True)
    offer_price = models.CharField(_("its price"), max_length=50, blank=True)
    offer_bonus = models.CharField(_("what it gives"), max_length=200, blank=True)
    calling_from = models.TimeField(_("calls from"), default=time(8, 0))
    calling_to = models.TimeField(_("calls until"), default=time(21, 0))
    retry_minutes = models.PositiveIntegerField(
        _("call again after (minutes)"),
        default=120,
        help_text=_("Busy or no answer: the customer comes back after this delay."),
    )
    max_attempts = models.PositiveSmallIntegerField(_("attempts at most"), default=3)
    escalate_minutes = models.PositiveIntegerField(
        _("escalate callbacks late by (minutes)"),
        default=30,
        help_text=_(
            "A callback not made this long after its time goes to the supervisor "
            "and to every agent."
        ),
    )
    record_update_days = models.PositiveSmallIntegerField(
        _("days to update the record"), default=15
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("call script")
        verbose_name_plural = _("call scripts")
        permissions = [
            ("work_calls", _("Can work the call queue")),
            ("supervise_calls", _("Can supervise the call centre")),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(calling_to__gt=models.F("calling_from")),
                name="callcenter_script_hours_order",
            ),
            models.CheckConstraint(
                condition=models.Q(max_attempts__gte=1),
                name="callcenter_script_attempts_positive",
            ),
        ]

    def __str__(self):
        return self.name

    def in_hours(self, moment: datetime) -> bool:
        local = timezone.localtime(moment, LOCAL_ZONE).time()
        return self.calling_from <= local < self.calling_to

    def next_in_hours(self, moment: datetime) -> datetime:
        """`moment` if agents may call then, else the start of the next calling hours."""
        if self.in_hours(moment):
            return moment
        local = timezone.localtime(moment, LOCAL_ZONE)
        day = local.date()
        if local.time() >= self.calling_to:
            day += timedelta(days=1)
        return datetime.combine(day, self.calling_from, tzinfo=LOCAL_ZONE)

    def topics(self) -> list[ScriptStep]:
        return sorted(
            (step for step in self.steps.all() if step.topic_priority),
            key=lambda step: step.topic_priority,
        )


class ScriptStep(models.Model):
    """One step of a script (B1 … B6): what the agent says, and whether it is a topic."""

    script = models.ForeignKey(
        Script, verbose_name=_("script"), on_delete=models.CASCADE, related_name="steps"
    )
    code = models.CharField(_("code"), max_length=10, help_text=_("e.g. B2"))
    title = models.CharField(_("title"), max_length=200)
    text = models.TextField(
        _("what the agent says"),
        help_text=_("Placeholders in square brackets, e.g. [Tên KH], [Điểm]."),
    )
    position = models.PositiveSmallIntegerField(_("order"), default=0)
    topic_priority = models.PositiveSmallIntegerField(
        _("topic priority"),
        null=True,
        blank=True,
        help_text=_("Empty: not a topic. 1 is advised first."),
    )
    qualifier = models.CharField(
        _("for customers who"),
        max_length=20,
        choices=Qualifier.choices,
        default=Qualifier.ALWAYS,
    )

    class Meta:
        verbose_name = _("script step")
        verbose_name_plural = _("script steps")
        ordering = ["script", "position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["script", "code"], name="callcenter_step_code_unique"
            )
        ]

    def __str__(self):
        return f"{self.code} {self.title}"

    def clean(self):
        super().clean()
        try:
            check_placeholders(self.text)
        except ValidationError as error:
            raise ValidationError({"text": error.messages}) from error


class ScriptBranch(models.Model):
    """A button the agent clicks on a step: go to another step, or end the call."""

    step = models.ForeignKey(
        ScriptStep,
        verbose_name=_("step"),
        on_delete=models.CASCADE,
        related_name="branches",
    )
    label = models.CharField(_("label"), max_length=100)
    text = models.TextField(
        _("what the agent says"),
        blank=True,
        help_text=_("Placeholders in square brackets, e.g. [Tên KH]."),
    )
    next_step = models.ForeignKey(
        ScriptStep,
        verbose_name=_("goes to"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    disposition = models.CharField(
        _("ends the call as"),
        max_length=20,
        choices=Disposition.choices,
        blank=True,
    )
    position = models.PositiveSmallIntegerField(_("order"), default=0)

    class Meta:
        verbose_name = _("branch")
        verbose_name_plural = _("branches")
        ordering = ["step", "position", "id"]

    def __str__(self):
        return self.label

    def clean(self):
        super().clean()
        try:
            check_placeholders(self.text)
        except ValidationError as error:
            raise ValidationError({"text": error.messages}) from error
        if self.next_step_id and self.next_step.script_id != self.step.script_id:
            raise ValidationError(
                {"next_step": _("The next step must be in the same script.")}
            )


class TaskStatus(models.TextChoices):
    OPEN = "open", _("to call")
    CALLBACK = "callback", _("callback agreed")
    DONE = "done", _("done")
    CLOSED = "closed", _("closed without success")
    DO_NOT_CALL = "dnc", _("do not call")


class CallTaskQuerySet(models.QuerySet):
    def workable(self, now: datetime):
        """Tasks that may be called now: open or callback, their time has come."""
        return self.filter(
            status__in=[TaskStatus.OPEN, TaskStatus.CALLBACK], available_at__lte=now
        )


class CallTask(models.Model):
    """One customer of a campaign's call list: who calls, when, and how it went.

    `available_at` is when the customer may be called next (the callback time, or
    the end of the retry delay); the queue orders due callbacks first, then by the
    member's rank in the approved list (the campaign's priority: ARPU, churn risk).
    `revision` is bumped by every change, so two agents' forms drawn from the same
    state cannot silently overwrite each other.
    """

    Status = TaskStatus

    TRANSITIONS = {
        Status.OPEN: {
            Status.OPEN,
            Status.CALLBACK,
            Status.DONE,
            Status.CLOSED,
            Status.DO_NOT_CALL,
        },
        Status.CALLBACK: {
            Status.OPEN,
            Status.CALLBACK,
            Status.DONE,
            Status.CLOSED,
            Status.DO_NOT_CALL,
        },
        Status.DONE: set(),
        Status.CLOSED: set(),
        Status.DO_NOT_CALL: set(),
    }

    campaign = models.ForeignKey(
        Campaign,
        verbose_name=_("campaign"),
        on_delete=models.CASCADE,
        related_name="call_tasks",
    )
    member = models.ForeignKey(
        SelectionMember,
        verbose_name=_("member"),
        on_delete=models.PROTECT,
        related_name="call_tasks",
    )
    msisdn = models.CharField(_("MSISDN"), max_length=11)
    full_name = models.CharField(_("full name"), max_length=200, blank=True)
    rank = models.PositiveIntegerField(_("priority"))
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("agent"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="call_tasks",
        help_text=_("Empty: in the shared pool, any agent may take it."),
    )
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.OPEN
    )
    available_at = models.DateTimeField(_("call from"), default=timezone.now)
    callback_at = models.DateTimeField(_("callback at"), null=True, blank=True)
    callback_reminded_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(_("escalated at"), null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_disposition = models.CharField(
        _("last outcome"), max_length=20, choices=Disposition.choices, blank=True
    )
    revision = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    objects = CallTaskQuerySet.as_manager()

    class Meta:
        verbose_name = _("customer to call")
        verbose_name_plural = _("customers to call")
        ordering = ["campaign", "rank"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "msisdn"], name="callcenter_task_one_per_line"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=TaskStatus.values),
                name="callcenter_task_status_known",
            ),
            models.CheckConstraint(
                condition=~models.Q(status=TaskStatus.CALLBACK)
                | models.Q(callback_at__isnull=False),
                name="callcenter_callback_has_time",
            ),
        ]
        indexes = [
            # The queue: an agent's (or the pool's) workable tasks by priority.
            models.Index(
                fields=["campaign", "agent", "status", "rank"],
                name="callcenter_task_queue",
            ),
            models.Index(
                fields=["status", "callback_at"], name="callcenter_task_callback"
            ),
        ]

    def __str__(self):
        return f"{self.msisdn} {self.full_name}"

    def move_to(self, status: str) -> None:
        from eligibility.models import DomainError

        if status not in self.TRANSITIONS[self.Status(self.status)]:
            raise DomainError(
                _("This customer is %(current)s and cannot become %(target)s.")
                % {
                    "current": self.get_status_display(),
                    "target": self.Status(status).label,
                }
            )
        self.status = status

    @property
    def is_finished(self) -> bool:
        return not self.TRANSITIONS[self.Status(self.status)]


class Call(models.Model):
    """One call to a customer, as the agent ended it."""

    task = models.ForeignKey(
        CallTask,
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="calls",
    )
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("agent"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    started_at = models.DateTimeField(_("started at"))
    ended_at = models.DateTimeField(_("ended at"), default=timezone.now)
    disposition = models.CharField(
        _("outcome"), max_length=20, choices=Disposition.choices
    )
    reason = models.CharField(_("reason"), max_length=300, blank=True)
    callback_at = models.DateTimeField(_("callback at"), null=True, blank=True)
    qualified_topics = models.JSONField(_("topics for the customer"), default=list)
    topics = models.JSONField(_("topics covered"), default=list)
    rule_met = models.BooleanField(_("met the script's rule"), default=False)
    note = models.TextField(_("note"), blank=True)

    class Meta:
        verbose_name = _("call")
        verbose_name_plural = _("calls")
        ordering = ["-ended_at", "-id"]
        indexes = [
            models.Index(fields=["agent", "ended_at"], name="callcenter_call_agent")
        ]

    def __str__(self):
        return f"{self.task.msisdn} {self.get_disposition_display()}"


class RequestKind(models.TextChoices):
    PACKAGE = "package", _("package registration")
    LOYALTY = "loyalty", _("loyalty (KNDL) sign-up")
    RECORD_UPDATE = "record_update", _("subscriber record update")
    MVAS_CANCEL = "mvas_cancel", _("mVAS cancellation")
    APP = "app", _("app download link")
    COMPLAINT = "complaint", _("complaint")


class CallRequest(models.Model):
    """Something a call produced that someone must carry out (or answer, for complaints).

    Requests are only ever added, never edited by the console, so two agents working
    the same customer cannot overwrite each other's.
    """

    class Status(models.TextChoices):
        OPEN = "open", _("open")
        DONE = "done", _("done")

    task = models.ForeignKey(
        CallTask,
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="requests",
    )
    kind = models.CharField(_("kind"), max_length=20, choices=RequestKind.choices)
    details = models.JSONField(_("details"), default=dict, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.OPEN
    )
    due_at = models.DateTimeField(_("answer by"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        verbose_name = _("call request")
        verbose_name_plural = _("call requests")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["kind", "status", "due_at"], name="callcenter_req_due")
        ]

    def __str__(self):
        return f"{self.task.msisdn} {self.get_kind_display()}"


class CallEvent(models.Model):
    """One change to a customer's call task: the console's timeline and the audit."""

    task = models.ForeignKey(
        CallTask, on_delete=models.CASCADE, related_name="events", null=True
    )
    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="call_events"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    kind = models.CharField(_("kind"), max_length=30)
    data = models.JSONField(_("details"), default=dict, blank=True)
    created_at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        verbose_name = _("call event")
        verbose_name_plural = _("call events")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["task", "created_at"], name="callcenter_event_task")
        ]

    def __str__(self):
        return f"{self.kind} {self.created_at:%d/%m/%Y %H:%M}"
