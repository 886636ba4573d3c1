"""The Flask app for gunicorn's pre-fork test: settings from the environment (the one
loader), and the revoker started at import, in the master, as ``--preload`` runs it: every
worker must notice the fork and start its own."""

from __future__ import annotations

from wsgi_apps import flask_app

from revoker import load_settings
from revoker.integrations.flask import RevokerAuth

auth = RevokerAuth(settings=load_settings())
app = flask_app(auth)
auth.start(app)  # in the master: the workers inherit it, and must not use it
