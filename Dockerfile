# syntax=docker/dockerfile:1
# One image for both roles; the command picks one:
#   web:    python -m runners.web      (dashboard, /healthz, default queue + scheduler)
#   worker: python -m runners.worker   (queues from MEDIAML_QUEUES)

FROM python:3.11.10-slim-bookworm AS build
WORKDIR /src
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY pyproject.toml constraints.txt README.md ./
COPY mediaml ./mediaml
COPY dashboards ./dashboards
COPY runners ./runners
RUN pip wheel --wheel-dir /wheels -c constraints.txt ".[web]"

FROM python:3.11.10-slim-bookworm
# FFmpeg from Debian (mediaml prefers ffmpeg on PATH over the one in its wheel); curl-free.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg=7:5.1.* \
 && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin mediaml
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links=/wheels mediaml[web] && rm -rf /wheels
USER mediaml
WORKDIR /home/mediaml
ENV PYTHONUNBUFFERED=1 \
    MEDIAML_ENV=production \
    MEDIAML_DATA_DIR=/home/mediaml/data \
    PORT=10000
EXPOSE 10000
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
  CMD ["python", "-m", "runners.healthcheck"]
STOPSIGNAL SIGTERM
CMD ["python", "-m", "runners.web"]
