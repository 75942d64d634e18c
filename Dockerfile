# mockserver as a CI sidecar: binds 0.0.0.0:8080 inside the container, runs as a non-root user.
FROM python:3.11-slim

WORKDIR /app
COPY pyproject.toml README.md ./
COPY mockserver ./mockserver
COPY schemas ./schemas
COPY fixtures ./fixtures
RUN pip install --no-cache-dir . \
    && useradd --create-home --uid 10001 mockserver

USER mockserver
EXPOSE 8080
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/__mock/health', timeout=2)"]
ENTRYPOINT ["mockserver", "serve"]
CMD ["--host", "0.0.0.0", "--port", "8080"]
