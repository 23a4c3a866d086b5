# DocChat: the Chainlit app on embedded defaults (SQLite + Chroma on disk in /data).
#   docker build -t docchat .
#   docker run -p 8000:8000 -v docchat-data:/data docchat
# The first start prints the generated `admin` password once (docker logs).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DOCCHAT_DATA_DIR=/data

RUN groupadd --system docchat \
    && useradd --system --gid docchat --home-dir /app --shell /usr/sbin/nologin docchat

WORKDIR /app

# Same install as the README: the project with the pinned lock as constraints.
COPY pyproject.toml requirements.lock README.md ./
COPY docchat ./docchat
COPY rag ./rag
COPY agents ./agents
COPY chat ./chat
COPY bench ./bench
COPY evaluation ./evaluation
RUN pip install -c requirements.lock .

COPY app.py chainlit.md ./
COPY .chainlit ./.chainlit
COPY public ./public

RUN mkdir -p /data && chown -R docchat:docchat /data /app
USER docchat
VOLUME ["/data"]
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4).status == 200 else 1)"

CMD ["chainlit", "run", "app.py", "--host", "0.0.0.0", "--port", "8000", "--headless"]
