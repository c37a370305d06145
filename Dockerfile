# Commerce Sync: one image for the web app and the django-q2 workers.
#   web:    docker run -p 8000:8000 --env-file prod.env IMAGE
#   worker: docker run --env-file prod.env IMAGE python manage.py qcluster
# Needs DATABASE_URL (PostgreSQL), SECRET_KEY, CREDENTIALS_KEYS, ALLOWED_HOSTS
# (include 127.0.0.1 there: the health check below calls the app from inside).
# Behind a TLS-terminating proxy set TRUST_X_FORWARDED_PROTO=1.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY requirements/base.txt requirements/base.txt
RUN pip install --require-hashes -r requirements/base.txt

COPY . .
# collectstatic needs settings that import; these throwaway values never run a server.
RUN SECRET_KEY=build-only CREDENTIALS_KEYS=$(python -c "import base64,os;print(base64.urlsafe_b64encode(os.urandom(32)).decode())") \
    DATABASE_URL=sqlite:////tmp/build.sqlite3 \
    python manage.py collectstatic --no-input -v 0 \
    && useradd --create-home --uid 10001 app && mkdir -p /app/var && chown -R app /app/var

USER app
EXPOSE 8000
HEALTHCHECK CMD python -c "import urllib.request;urllib.request.urlopen('http://127.0.0.1:8000/healthz')"
CMD ["gunicorn", "commerce_sync.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
