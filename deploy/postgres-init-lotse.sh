#!/bin/sh
# Runs once, when the PostgreSQL volume is first created: a database and a role for Lotse's
# own store, beside Synapse's. The password comes from the secret file, never from .env.
set -eu
password="$(cat /run/secrets/lotse_db_password)"
psql -v ON_ERROR_STOP=1 -v password="$password" --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<'SQL'
CREATE ROLE lotse LOGIN PASSWORD :'password';
CREATE DATABASE lotse OWNER lotse ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;
SQL
