"""Campaigns: a programme of the care department run on one snapshot of subscriber data."""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from eligibility.models import Snapshot


class Campaign(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("draft")

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=200)
    owning_unit = models.CharField(_("owning unit"), max_length=120, blank=True)
    description = models.TextField(_("description"), blank=True)
    snapshot = models.ForeignKey(
        Snapshot,
        verbose_name=_("snapshot"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="campaigns",
        help_text=_("The subscriber data the campaign selects from."),
    )
    starts_on = models.DateField(_("starts on"), null=True, blank=True)
    ends_on = models.DateField(_("ends on"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.DRAFT
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_on__isnull=True)
                | models.Q(starts_on__isnull=True)
                | models.Q(ends_on__gte=models.F("starts_on")),
                name="campaign_ends_after_start",
            )
        ]

    def __str__(self):
        return f"{self.code} – {self.name}"
