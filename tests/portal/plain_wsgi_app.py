"""The smallest WSGI application, for running gunicorn with the portal's settings
(portal/gunicorn_conf.py) without a database behind it."""


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
