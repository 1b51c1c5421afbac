# The kgrec app (docker-compose.yml's `app` service): `kgrec demo` fetches ml-100k, ingests it
# into the graph store (Neo4j when KGREC_NEO4J_URI is set), trains the model once and serves
# the Gradio app on port 7860. Everything it writes lives in /data (KGREC_HOME), a volume.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    KGREC_HOME=/data \
    GRADIO_ANALYTICS_ENABLED=False \
    HF_HUB_OFFLINE=1

WORKDIR /opt/kgrec
# Exact versions first, in their own layer: code changes do not reinstall them.
COPY requirements.lock ./
RUN pip install -r requirements.lock
COPY pyproject.toml README.md ./
COPY kg ./kg
COPY text ./text
COPY gnn ./gnn
COPY app ./app
RUN pip install --no-deps --no-build-isolation . \
    && useradd --create-home --uid 1000 kgrec \
    && mkdir -p /data && chown kgrec /data

USER kgrec
VOLUME /data
EXPOSE 7860
HEALTHCHECK --interval=30s --timeout=5s --start-period=30m --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:7860/', timeout=4)"
CMD ["kgrec", "demo", "--host", "0.0.0.0", "--port", "7860"]
