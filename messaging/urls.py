from django.urls import path

from messaging import views

app_name = "messaging"

urlpatterns = [
    path("gateway/kannel/dlr/", views.kannel_dlr, name="kannel_dlr"),
    path("gateway/kannel/mo/", views.kannel_mo, name="kannel_mo"),
]
