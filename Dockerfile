# syntax=docker/dockerfile:1
#
# disclosure-inbox in a container.
#
#   docker build -t disclosure-inbox .
#   # The schema is migrated as its own step, before the daemon starts (and after each upgrade):
#   docker run --rm -v disclosure-inbox-state:/var/lib/disclosure-inbox \
#       -v "$PWD/config.toml:/etc/disclosure-inbox/config.toml:ro" disclosure-inbox db upgrade
#   docker run -d --name disclosure-inbox -v disclosure-inbox-state:/var/lib/disclosure-inbox \
#       -v "$PWD/config.toml:/etc/disclosure-inbox/config.toml:ro" -p 127.0.0.1:8080:8080 \
#       disclosure-inbox
#
# The configuration should keep [storage] dir = "/var/lib/disclosure-inbox" so that raw
# messages (and a SQLite store, if used) land on the volume. Passwords are best given with
# password_file pointing at a mounted secret, or password_env.

# Build every wheel (ours and its dependencies) in a throwaway stage, so that the final image
# carries neither build tools nor pip's cache.
FROM python:3.11-slim-bookworm AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
COPY templates ./templates
COPY migrations ./migrations
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim-bookworm
LABEL org.opencontainers.image.title="disclosure-inbox" \
      org.opencontainers.image.description="Runs a security-disclosure mailbox" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DISCLOSURE_INBOX_CONFIG=/etc/disclosure-inbox/config.toml

# gpg decrypts and signs mail (python-gnupg drives it) and gpg-agent holds the unlocked key;
# gpgconf comes with gpg. Not pinned to a version: Debian's security updates to gpg should reach
# the image with every rebuild, and bookworm's stable versions change only for those.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends gpg gpg-agent \
    && rm -rf /var/lib/apt/lists/*

# Installed straight from the builder's wheels, offline: the image holds exactly what was built.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index /wheels/*.whl

# A fixed numeric uid, so that volume ownership survives a rebuild and Kubernetes'
# runAsNonRoot can check it. The state directory is created here, owned by that user, so that a
# fresh named volume mounted on it inherits the ownership.
RUN useradd --system --uid 10001 --user-group --no-create-home \
        --home-dir /var/lib/disclosure-inbox --shell /usr/sbin/nologin disclosure-inbox \
    && install -d -o 10001 -g 10001 -m 0700 /var/lib/disclosure-inbox
VOLUME /var/lib/disclosure-inbox
WORKDIR /var/lib/disclosure-inbox
USER 10001

# /healthz and /metrics. The health listener is off by default: the configuration must enable
# it on port 8080 (bound to 0.0.0.0 so that Prometheus can scrape it from outside); without it
# the check below fails and Docker marks the container unhealthy. The slim image has no curl,
# so Python does the request; a 503 or a refused connection makes it exit non-zero.
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=2m --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=3)"]

ENTRYPOINT ["disclosure-inbox"]
CMD ["run"]
