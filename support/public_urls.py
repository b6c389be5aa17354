"""/contact/: how to reach support, and its form; /contact/sent/ after sending."""

from django.urls import path

from support import views

urlpatterns = [
    path("", views.contact, name="contact"),
    path("sent/", views.contact_sent, name="contact_sent"),
]
