def test_login_redirects_to_time(admin, client):
    from tests.conftest import login
    login(client, admin)
    assert client.get("/").status_code == 200
