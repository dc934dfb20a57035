from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class GiftsConfig(AppConfig):
    name = "gifts"
    verbose_name = _("Gifts and stock")

    def ready(self):
        from campaigns.services import selection_approved
        from gifts import receivers

        selection_approved.connect(
            receivers.invitations_send_on_approval, dispatch_uid="gifts-invite"
        )
