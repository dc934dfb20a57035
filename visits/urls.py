from django.urls import path

from visits import views

app_name = "visits"

urlpatterns = [
    path("cua-hang/", views.counter_search, name="counter"),
    path("cua-hang/<int:member_id>/", views.counter_order, name="counter_order"),
    path("tham-nha/", views.visit_list, name="visit_list"),
    path("tham-nha/<int:member_id>/", views.visit_member, name="visit_member"),
    path(
        "tham-nha/khao-sat/<int:survey_id>/",
        views.survey_report,
        name="survey_report",
    ),
    path(
        "tham-nha/khao-sat/<int:survey_id>/xlsx/",
        views.survey_export,
        name="survey_export",
    ),
    path("chuyen-di/", views.trip_list, name="trip_list"),
    path("chuyen-di/<int:trip_id>/", views.trip_detail, name="trip_detail"),
    path("chuyen-di/<int:trip_id>/mo/", views.trip_open, name="trip_open"),
    path("chuyen-di/ghe/<int:seat_id>/", views.trip_seat, name="trip_seat"),
]
