# syntax=docker/dockerfile:1
# trending-panel: the dashboard (and the simulator) as a small, non-root image.

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# Pinned and hashed runtime dependencies first: a layer that survives code changes.
COPY requirements.lock ./
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --require-hashes --only-binary=:all: -r requirements.lock
COPY pyproject.toml README.md ./
COPY src ./src
RUN /opt/venv/bin/pip install --no-deps .

FROM python:3.11-slim-bookworm
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN groupadd --system --gid 10001 trending \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin trending
COPY --from=build /opt/venv /opt/venv
# The compose stack's site settings (local.env's TRENDING_CONFIG names them).
COPY docker/site.toml /etc/trending-panel/site.toml
USER 10001:10001
EXPOSE 8888
# Panel's liveness endpoint answers once the Bokeh server is up (database or not).
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request as u; sys.exit(u.urlopen('http://127.0.0.1:8888/liveness', timeout=4).status != 200)"]
ENTRYPOINT ["trending-panel"]
CMD ["serve", "--port", "8888", "--address", "0.0.0.0"]
