# One image for every service: bot, worker, flower. `cloudsync <subcommand>` picks the role.
# The production image: no `sim` extra, so neither the simulator nor tree-sitter is in it.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 CLOUDSYNC_DATA_DIR=/data
WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY workers ./workers
COPY config ./config
RUN pip install --no-cache-dir '.[vault]' flower \
    && useradd --system --home /data cloudsync && mkdir -p /data && chown cloudsync /data
USER cloudsync
EXPOSE 3000 9100
CMD ["cloudsync", "serve"]
