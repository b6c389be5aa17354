import pytest


@pytest.mark.django_db
def test_home_page_says_what_the_platform_is_and_links_the_policy(client):
    response = client.get("/")
    assert response.status_code == 200
    assert b"One API key, many model providers" in response.content
    assert b'href="/legal/privacy/"' in response.content
