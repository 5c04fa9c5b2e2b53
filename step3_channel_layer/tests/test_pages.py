"""The pages: the lobby, the room that the socket fills in, and the admin."""

import pytest

pytestmark = pytest.mark.django_db

INVALID_ROOM_NAMES = ["café", "a" * 65, "a b", "<script>"]


def test_root_redirects_to_lobby(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/chat/"


def test_lobby_renders_the_form(client):
    response = client.get("/chat/")
    assert response.status_code == 200
    for element_id in ("username-input", "room-name-input", "room-name-submit"):
        assert f'id="{element_id}"' in response.text


def test_lobby_form_without_javascript_redirects_to_the_room(client):
    response = client.get("/chat/", {"room_name": "lobby-test_1"})
    assert response.status_code == 302
    assert response["Location"] == "/chat/lobby-test_1/"


def test_lobby_form_refuses_an_invalid_room_name(client):
    response = client.get("/chat/", {"room_name": "no spaces"})
    assert response.status_code == 200
    assert "1 to 64 letters" in response.text


def test_room_renders_empty_log_and_form(client):
    response = client.get("/chat/lobby/")
    assert response.status_code == 200
    for element_id in ("chat-log", "chat-message-input", "chat-message-submit"):
        assert f'id="{element_id}"' in response.text


def test_room_has_the_socket_state_and_the_data_room_js_needs(client):
    """The page the socket fills in: its state, the room name and who is signed in, as JSON."""
    response = client.get("/chat/lobby/")
    assert 'data-socket="connecting"' in response.text
    assert '<script id="room-name-data" type="application/json">"lobby"</script>' in response.text
    assert '<script id="signed-in-as-data" type="application/json">""</script>' in response.text


def test_room_accepts_the_longest_valid_name(client):
    assert client.get(f"/chat/{'a' * 64}/").status_code == 200


@pytest.mark.parametrize("room_name", INVALID_ROOM_NAMES)
def test_invalid_room_names_are_404(client, room_name):
    assert client.get(f"/chat/{room_name}/").status_code == 404


def test_admin_is_wired(client):
    assert client.get("/admin/login/").status_code == 200


def test_workshop_users_are_created_once_without_prompts():
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    call_command("create_workshop_users", password="s3cret-pass")
    call_command("create_workshop_users", password="another-pass")
    users = get_user_model().objects.order_by("username")
    assert [user.username for user in users] == ["admin", "alice", "bob"]
    assert all(user.is_superuser and user.check_password("s3cret-pass") for user in users)
