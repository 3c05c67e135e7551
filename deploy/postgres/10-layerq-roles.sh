#!/bin/sh
# Runs once, when the postgres container creates its data directory: the
# roles layerq's migrations grant to (layerq_reader: SELECT on the graph;
# layerq_writer: rows, not schema), and the login roles in them that
# Grafana (layerq_grafana) and the receiver and workers (layerq_ingest) use.
# The migrations run as the owner, POSTGRES_USER. Safe to run again.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
	-v grafana_password="$LAYERQ_GRAFANA_DB_PASSWORD" -v ingest_password="$LAYERQ_INGEST_DB_PASSWORD" <<'SQL'
SELECT NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'layerq_reader') AS no_reader,
       NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'layerq_writer') AS no_writer,
       NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'layerq_grafana') AS no_grafana,
       NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'layerq_ingest') AS no_ingest \gset
\if :no_reader
CREATE ROLE layerq_reader NOLOGIN;
\endif
\if :no_writer
CREATE ROLE layerq_writer NOLOGIN;
\endif
\if :no_grafana
CREATE ROLE layerq_grafana LOGIN;
\endif
\if :no_ingest
CREATE ROLE layerq_ingest LOGIN;
\endif
ALTER ROLE layerq_grafana PASSWORD :'grafana_password';
ALTER ROLE layerq_ingest PASSWORD :'ingest_password';
GRANT layerq_reader TO layerq_grafana;
GRANT layerq_writer TO layerq_ingest;
SQL
