from django.urls import path

from servicerequests import views

app_name = "servicerequests"

urlpatterns = [
    path("yeu-cau/", views.request_form, name="form"),
    path("yeu-cau/da-gui/", views.request_thanks, name="thanks"),
    path("yeu-cau/goi-xac-nhan/", views.agent_queue, name="agent_queue"),
    path("yeu-cau/goi-xac-nhan/nhan-them/", views.agent_claim, name="agent_claim"),
    path("yeu-cau/goi-xac-nhan/<int:pk>/", views.agent_call, name="agent_call"),
    path("yeu-cau/tinh/", views.province_home, name="province"),
    path("yeu-cau/tinh/xuat.xlsx", views.province_export, name="province_export"),
    path("yeu-cau/tinh/phan-bo/", views.province_allocate, name="province_allocate"),
    path("yeu-cau/tinh/<int:pk>/", views.province_request, name="province_request"),
    path(
        "yeu-cau/tinh/<int:pk>/thu-hoi/",
        views.province_unallocate,
        name="province_unallocate",
    ),
    path("yeu-cau/tinh/doi-soat/", views.reconciliation, name="reconciliation"),
    path("yeu-cau/ivr/", views.ivr_upload, name="ivr"),
    path("yeu-cau/ivr/nhap/<int:pk>/", views.ivr_import, name="ivr_import"),
    path(
        "yeu-cau/ivr/<int:campaign_id>/kich-ban.txt",
        views.ivr_script,
        name="ivr_script",
    ),
    path("thuc-dia/", views.field_list, name="field_list"),
    path("thuc-dia/<int:pk>/", views.field_visit, name="field_visit"),
]
