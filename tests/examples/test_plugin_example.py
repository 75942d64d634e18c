"""A complete test using mockserver's pytest plugin (this file is shown in the README)."""
import json
import urllib.request


def create_user(mockserver, body):
    """Stands in for the code under test: it syncs a user to Userflow."""
    request = urllib.request.Request(mockserver.url + "/users", data=json.dumps(body).encode(),
                                     headers=mockserver.headers, method="POST")
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read())


def test_signup_syncs_the_user_to_userflow(mockserver):
    mockserver.load_scenario({"name": "signup", "steps": [
        {"request": {"method": "POST", "path": "/users", "body": {"id": "user-42", "attributes": {"plan": "pro"}}}},
    ]})

    user = create_user(mockserver, {"id": "user-42", "attributes": {"plan": "pro", "name": "Ada"}})

    assert user["attributes"] == {"plan": "pro", "name": "Ada"}
    assert [(r["method"], r["path"], r["response"]["status"]) for r in mockserver.requests()] == [("POST", "/users", 200)]
    mockserver.verify()  # raises AssertionError with a readable diff if the client did something else
