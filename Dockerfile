# mockserver as a CI sidecar: listens on 0.0.0.0:8080 inside the container, runs as a non-root user, and keeps
# --state and --record files in /data (its working directory, a volume). Arguments after the image name are
# `mockserver serve` options; every option is also a MOCKSERVER_* variable.
FROM python:3.11-slim

WORKDIR /app
COPY pyproject.toml setup.py README.md ./
COPY mockserver ./mockserver
COPY schemas ./schemas
COPY fixtures ./fixtures
RUN pip install --no-cache-dir . \
    && useradd --create-home --uid 10001 mockserver \
    && mkdir /data && chown mockserver /data

USER mockserver
WORKDIR /data
VOLUME /data
ENV MOCKSERVER_HOST=0.0.0.0 MOCKSERVER_PORT=8080
EXPOSE 8080
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/__mock/health' % os.environ['MOCKSERVER_PORT'], timeout=2)"]
ENTRYPOINT ["mockserver", "serve"]
