"""Create the PostgreSQL database named by DATABASE_URL if it is missing."""

import os
import sys

import environ
import psycopg
from psycopg import sql

config = environ.Env.db_url_config(os.environ["DATABASE_URL"])
if "postgresql" not in config["ENGINE"]:
    sys.exit(0)
params = {
    "host": config.get("HOST") or "127.0.0.1",
    "port": config.get("PORT") or 5432,
    "user": config.get("USER") or "postgres",
    "password": config.get("PASSWORD") or None,
    "dbname": "postgres",
    "autocommit": True,
}
try:
    with psycopg.connect(**params) as conn:
        name = config["NAME"]
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"Created database {name}")
except psycopg.OperationalError as error:
    sys.exit(f"PostgreSQL is not reachable at {params['host']}:{params['port']}: {error}")
