# One image for the listener (the default command) and the API (`brevo-sync serve`).
#
#   docker build -t brevo-sync .
#   docker run -e DATABASE_URL=... -e BREVO_API_KEY=... -e BREVO_LIST_ID=... brevo-sync
#   docker run -p 8000:8000 -e ... brevo-sync brevo-sync serve --host 0.0.0.0
#
# BASE_IMAGE must provide python3 with venv (the official python images do). CI builds it
# from a base made from Debian packages: --build-arg BASE_IMAGE=local/python:3.11.
ARG BASE_IMAGE=python:3.12-slim

FROM ${BASE_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore
RUN python3 -m venv /opt/venv
WORKDIR /src
# Dependencies first, in a layer of their own that a change of code does not invalidate, at
# the versions uv.lock pins (the lock Vercel's builder installs from), hashes checked.
COPY pyproject.toml uv.lock ./
RUN python3 -m venv /opt/uv && /opt/uv/bin/pip install -q uv \
    && /opt/uv/bin/uv export --frozen --no-dev --no-emit-project -o /tmp/requirements.txt \
    && /opt/venv/bin/pip install --require-hashes -r /tmp/requirements.txt
COPY README.md ./
COPY migrations/ migrations/
COPY public/ public/
COPY brevo_sync/ brevo_sync/
COPY listener/ listener/
COPY api/ api/
# A regular install: the migrations and static files ship inside the packages. pip and
# setuptools are build tools; the running image needs neither.
RUN /opt/venv/bin/pip install --no-deps . \
    && /opt/venv/bin/pip uninstall -q -y pip setuptools

FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="brevo-sync" \
      org.opencontainers.image.description="Postgres customers to Brevo contacts: listener (default) and API"
# The official slim images carry CA certificates; a base without them gets Debian's.
RUN if [ ! -s /etc/ssl/certs/ca-certificates.crt ]; then \
        apt-get update \
        && apt-get install -y --no-install-recommends ca-certificates \
        && rm -rf /var/lib/apt/lists/*; \
    fi \
    && groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
USER app
# 9108: the listener's /healthz and /metrics; 8000: the API.
EXPOSE 9108 8000
# Works for both commands: healthy when the listener's or the API's /healthz answers 2xx.
# Set HEALTHCHECK_PORTS when running either on another port.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python3", "-c", "import os, sys, urllib.request\nfor port in os.environ.get('HEALTHCHECK_PORTS', '9108 8000').split():\n    try:\n        urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=2)\n        sys.exit(0)\n    except OSError:\n        pass\nsys.exit(1)"]
# The app is PID 1 and handles SIGTERM itself: `docker stop` drains in-flight pushes and exits 0.
CMD ["brevo-sync", "listen"]
