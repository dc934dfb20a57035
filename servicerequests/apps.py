from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ServicerequestsConfig(AppConfig):
    name = "servicerequests"
    verbose_name = _("Service requests")

    def ready(self):
        from messaging import keywords
        from messaging.keywords import HOME_VISIT_SHORT_CODE
        from servicerequests.services import sms_request_receive

        # TSTN to 9231 registers a home SIM-swap request (programme 003); this
        # replaces messaging's placeholder handler, which only signals and waits.
        keywords.register("TSTN", short_codes={HOME_VISIT_SHORT_CODE}, replace=True)(
            sms_request_receive
        )
