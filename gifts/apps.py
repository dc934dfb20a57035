from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class GiftsConfig(AppConfig):
    name = "gifts"
    verbose_name = _("Gifts and stock")
