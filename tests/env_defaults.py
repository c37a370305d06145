"""Environment for the test run, loaded as a plugin (`-p tests.env_defaults`).

pytest-django imports the settings before any conftest.py, and the settings
read the environment at import, so the defaults must be set here. Anything
already exported wins, e.g. DATABASE_URL for another PostgreSQL.
"""

import os

TEST_ENV = {
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/commerce_sync",
    "ENV_FILE": "",  # a developer's var/.env must not leak into the tests
    "DEBUG": "0",  # exercise the production settings
    "SECRET_KEY": "test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGH",
    "CREDENTIALS_KEYS": "0KnjxD8m1X1togz4lnNioxhQaHqqQwO26p0sCb7oowk=",
    "ALLOWED_HOSTS": "testserver,localhost",
    "SECURE_SSL_REDIRECT": "0",  # the test client speaks plain HTTP
    "Q_SYNC": "1",  # django-q2 tasks run inline
    "LOG_LEVEL": "WARNING",
    "CONN_MAX_AGE": "0",  # the test database is dropped at the end: no lingering sessions
}

for _name, _value in TEST_ENV.items():
    os.environ.setdefault(_name, _value)
