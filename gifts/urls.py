from django.conf import settings
from django.urls import path

from gifts import views

app_name = "gifts"

urlpatterns = [
    path("", views.login, name="login"),
    path("qua-tang/", views.catalogue, name="catalogue"),
    path("chon/<int:gift_id>/", views.choose, name="choose"),
    path("xac-nhan/", views.confirmation, name="confirmation"),
    path("ket-thuc/", views.ended, name="ended"),
    path("dang-xuat/", views.logout, name="logout"),
]

if settings.GIFTS_BENCH_VIEW:
    urlpatterns.append(path("bench-bare/", views.bench_bare, name="bench_bare"))
