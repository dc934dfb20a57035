from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy as _
from django.views.generic import RedirectView

admin.site.site_header = _("Customer-care campaign portal")
admin.site.site_title = _("CSKH")

urlpatterns = [
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("qua/", include("gifts.urls")),
    path("messaging/", include("messaging.urls")),
    path("tong-dai/", include("callcenter.urls")),
    # These apps serve several audiences, so each names its own URL prefixes:
    # fulfilment doi-tac/ (partners) and bao-cao/ (dashboards); visits cua-hang/,
    # tham-nha/ and chuyen-di/; servicerequests yeu-cau/ and thuc-dia/.
    path("", include("fulfilment.urls")),
    path("", include("visits.urls")),
    path("", include("servicerequests.urls")),
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
]

if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
