"""The API docs page works without internet: Swagger UI's files are served by the project."""
import re

from django.contrib.staticfiles import finders


def test_api_docs_load_swagger_ui_from_this_server(client, db):
    body = client.get("/api/docs/").content.decode()
    assets = re.findall(r'src="([^"]+\.js)"', body)
    assert assets, body[:500]
    for src in assets:
        assert src.startswith("/static/"), src  # not a CDN
        assert finders.find(src.removeprefix("/static/")), src
