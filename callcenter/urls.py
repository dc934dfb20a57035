from django.urls import path

from callcenter import views

app_name = "callcenter"

urlpatterns = [
    path("", views.queue, name="queue"),
    path("tiep-theo/", views.claim_next, name="next"),
    path("kh/<int:pk>/", views.customer, name="customer"),
    path("kh/<int:pk>/yeu-cau/", views.add_request, name="request"),
    path("kh/<int:pk>/qua/", views.choose_gift, name="gift"),
    path("kh/<int:pk>/ket-thuc/", views.end_call, name="end"),
    path("giam-sat/", views.supervise, name="supervise"),
]
