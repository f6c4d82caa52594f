# Heimdall: a slim, non-root image serving the API with gunicorn on port 8000.
#
#   docker build -t heimdall .
#   docker run -p 8000:8000 -e DATABASE_URL=postgres://... -e SECRET_KEY=... \
#     -e HEIMDALL_KEY_ENCRYPTION_KEY=... -e PUBLIC_URL=https://auth.example.com \
#     -e HEIMDALL_MIGRATE_ON_START=true heimdall
#
# Set HEIMDALL_MIGRATE_ON_START=true on one instance only (it runs `migrate` and `bootstrap`).
# One-off commands go through the entrypoint unchanged, e.g.
#   docker run --rm -e ... heimdall python manage.py bootstrap --create-client ops --json
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

WORKDIR /app

# Runtime dependencies only (psycopg[binary] ships its own libpq: no compiler, no apt packages).
COPY requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt

# An unprivileged user with a home (gunicorn puts its control socket in ~/.gunicorn).
RUN groupadd --system --gid 10001 heimdall \
    && useradd --system --uid 10001 --gid heimdall --create-home --home-dir /home/heimdall \
       --shell /usr/sbin/nologin heimdall

# The code stays root-owned and read-only for the service; only var/ (the embedded SQLite file
# used when DATABASE_URL is unset) is writable.
COPY . .
RUN python -m compileall -q /app \
    && chmod 0755 /app/docker/entrypoint.sh \
    && mkdir -p /app/var \
    && chown heimdall:heimdall /app/var

USER heimdall:heimdall

EXPOSE 8000

# /healthz answers whatever Host it is sent, so this works whatever ALLOWED_HOSTS says.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --start-interval=2s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=3).status == 200 else 1)"]

ENTRYPOINT ["/app/docker/entrypoint.sh"]
