from django.urls import path

from fulfilment import views

app_name = "fulfilment"

urlpatterns = [
    path("doi-tac/", views.partner_home, name="partner_home"),
    path("doi-tac/<slug:code>/", views.partner_orders, name="partner_orders"),
    path(
        "doi-tac/<slug:code>/don-hang.csv",
        views.partner_orders_csv,
        name="partner_orders_csv",
    ),
    path(
        "doi-tac/<slug:code>/don-hang.xlsx",
        views.partner_orders_xlsx,
        name="partner_orders_xlsx",
    ),
    path("doi-tac/<slug:code>/tai-len/", views.partner_upload, name="partner_upload"),
    path(
        "doi-tac/ket-qua/<int:upload_id>/",
        views.partner_upload_review,
        name="partner_upload_review",
    ),
    path(
        "doi-tac/ket-qua/<int:upload_id>/loi.csv",
        views.partner_upload_problems,
        name="partner_upload_problems",
    ),
    path(
        "doi-tac/ket-qua/<int:upload_id>/quyet-dinh/",
        views.partner_upload_decide,
        name="partner_upload_decide",
    ),
    path("bao-cao/", views.dashboard_index, name="dashboard_index"),
    path("bao-cao/<slug:code>/", views.dashboard, name="dashboard"),
    path(
        "bao-cao/<slug:code>/bao-cao.xlsx", views.dashboard_xlsx, name="dashboard_xlsx"
    ),
]
