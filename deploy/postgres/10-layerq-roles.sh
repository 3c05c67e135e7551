#!/bin/sh
# Runs once, when the postgres container creates its data directory: the
# read-only role the dashboards use (layerq's migration grants it SELECT on
# the graph) and Grafana's login role in it. Safe to run again.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
	-v password="$LAYERQ_GRAFANA_DB_PASSWORD" <<'SQL'
SELECT NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'layerq_reader') AS no_reader,
       NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'layerq_grafana') AS no_grafana \gset
\if :no_reader
CREATE ROLE layerq_reader NOLOGIN;
\endif
\if :no_grafana
CREATE ROLE layerq_grafana LOGIN;
\endif
ALTER ROLE layerq_grafana PASSWORD :'password';
GRANT layerq_reader TO layerq_grafana;
SQL
