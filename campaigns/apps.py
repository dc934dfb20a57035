from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = _("Campaigns")

    def ready(self):
        from campaigns import roles

        # Groups reference permissions of every app, so they are synced once all
        # apps have migrated, not in a data migration of one app.
        post_migrate.connect(roles.sync_roles_after_migrate, sender=self)
