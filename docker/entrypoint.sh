#!/usr/bin/env bash
# Container entrypoint for Heimdall.
#
# With no arguments: optionally migrate and bootstrap (HEIMDALL_MIGRATE_ON_START=true, on ONE
# instance only), then replace this shell with gunicorn so it runs as PID 1 and receives
# SIGTERM directly for a graceful shutdown.
#
# With arguments: run them instead, e.g. to print an operator client once:
#   docker compose run --rm heimdall-1 python manage.py bootstrap --create-client ops --json
set -euo pipefail

case "${HEIMDALL_MIGRATE_ON_START:-false}" in
  true | TRUE | True | 1 | yes | on) migrate=true ;;
  false | FALSE | False | 0 | no | off | "") migrate=false ;;
  *)
    echo "entrypoint: HEIMDALL_MIGRATE_ON_START must be true or false, got '${HEIMDALL_MIGRATE_ON_START}'" >&2
    exit 64
    ;;
esac

if [ "$#" -gt 0 ]; then
  exec "$@"
fi

if [ "$migrate" = true ]; then
  echo "entrypoint: applying migrations" >&2
  # As DATABASE_MIGRATE_URL's role (the tables' owner) when it is set; the server keeps DATABASE_URL's.
  python manage.py migrate --noinput
  echo "entrypoint: bootstrapping the operator App" >&2
  python manage.py bootstrap
fi

# gthread workers keep client connections alive (a load balancer reuses them) and let a worker
# overlap database waits; Heimdall's in-process state is thread-safe. --reuse-port gives each
# worker its own listening socket (SO_REUSEPORT) and lets the kernel spread new connections over
# them: with one shared socket, the worker that happens to be idle accepts a whole burst of
# connections and keeps them (kept alive) while the other idles (bench/README.md, 2026-12-06).
# The cost: connections still waiting in a worker's own backlog are reset if that worker dies.
exec gunicorn heimdall.wsgi:application \
  --bind 0.0.0.0:8000 \
  --workers "${WEB_CONCURRENCY:-2}" \
  --worker-class gthread \
  --threads "${GUNICORN_THREADS:-2}" \
  --reuse-port \
  --access-logfile -
