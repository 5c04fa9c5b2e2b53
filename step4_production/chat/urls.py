from django.urls import path

from . import views

app_name = "chat"

urlpatterns = [
    path("", views.lobby, name="lobby"),
    path("<room_name:room_name>/", views.room, name="room"),
    path("<room_name:room_name>/announce/", views.announce, name="announce"),
]
