# syntax=docker/dockerfile:1
# The gateway's image: wheels built in a builder stage, installed into a slim final stage with
# no compiler, no pip cache, no source tree; runs as an unprivileged user. docs/deployment.md.
#
#   docker build -t switchboard .
#   docker run -p 8000:8000 -v ./switchboard.toml:/etc/switchboard/switchboard.toml:ro switchboard
#
# The same tag in both stages: the wheels are built for the interpreter that runs them.
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
# a compiler for any dependency without a wheel for this platform; it stays in this stage
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY schema ./schema
COPY resolvers ./resolvers
COPY sources ./sources
RUN pip wheel --no-cache-dir --wheel-dir /wheels ".[redis]"

FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# the wheels are mounted for the install only: none of them is left in a layer
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels "switchboard[redis]" \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin switchboard \
    && mkdir -p /etc/switchboard /run/switchboard \
    && chown 10001:10001 /run/switchboard
COPY --chmod=0444 switchboard.example.toml /etc/switchboard/switchboard.toml
USER 10001:10001
WORKDIR /tmp
# the public port (GraphQL, subscriptions, webhooks) and, separately, the internal one
# (/ready, /metrics, /health): never publish 8090 beyond the cluster's probes and scraper
EXPOSE 8000
EXPOSE 8090
STOPSIGNAL SIGTERM
# the internal port's /health: the process answers (no back-end calls); set
# SWITCHBOARD_SERVER_ADMIN_HOST=0.0.0.0 (as the example config in this image does not) for
# probes from outside the container
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('SWITCHBOARD_SERVER_ADMIN_PORT', '8090') + '/health', timeout=2)"]
ENTRYPOINT ["switchboard"]
CMD ["serve", "--config", "/etc/switchboard/switchboard.toml"]
