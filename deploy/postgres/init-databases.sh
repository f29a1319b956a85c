#!/usr/bin/env bash
# Runs once, when the PostgreSQL volume is first initialised (docker-entrypoint-initdb.d):
# one role and one database per service, each role owning only its own database.
set -euo pipefail

for service in catalog inventory orders notifications; do
    var="$(printf '%s' "${service}" | tr '[:lower:]' '[:upper:]')_DB_PASSWORD"
    password="${!var:?${var} is not set}"
    psql --quiet --no-psqlrc -v ON_ERROR_STOP=1 --username "${POSTGRES_USER}" --dbname postgres \
        -v role="${service}" -v password="${password}" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'password';
CREATE DATABASE :"role" OWNER :"role";
REVOKE ALL ON DATABASE :"role" FROM PUBLIC;
SQL
done
