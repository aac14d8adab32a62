"""gunicorn's settings for TimeHub: `gunicorn -c python:app.gunicorn_conf 'app.wsgi:app'`.

With TIMEHUB_LOG_FORMAT=json, gunicorn's own log (starts, worker exits) is written in
the app's JSON lines; its access log stays off (the app logs each request itself,
with a request id and without query strings). Everything else (bind, workers,
timeouts) is given on the command line (docs/deploy.md)."""
from app.config import log_format
from app.logging_setup import gunicorn_logconfig

logconfig_dict = gunicorn_logconfig(log_format())
