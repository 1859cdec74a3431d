# The trainjobs image: one image for the API, the workers and the migration.
#
#   docker build -t trainjobs .
#   docker run --rm trainjobs --help
#
# docker-compose.yml runs it as `api --host 0.0.0.0 --port 8000`,
# `worker --concurrency 1` and `migrate`. Secrets come from the environment
# at run time; nothing secret is baked in.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# 1. Debian packages: `make` runs the install below; Fashion-MNIST lands in
#    /usr/share/datasets/fashion-mnist, which core.datasets searches.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        dataset-fashion-mnist \
        make \
    && rm -rf /var/lib/apt/lists/* \
    && test -d /usr/share/datasets/fashion-mnist

# 2. the user the services run as, and TRAINJOBS_HOME (dataset cache and
#    fetched datasets), the only place it writes.
RUN groupadd --system --gid 10001 trainjobs \
    && useradd --system --uid 10001 --gid trainjobs \
        --home-dir /var/lib/trainjobs --no-create-home \
        --shell /usr/sbin/nologin trainjobs \
    && install -d -o trainjobs -g trainjobs -m 0750 /var/lib/trainjobs

# 3. the app, installed by `make install`: the step `make demo` and
#    `make test` start from, so the path CI exercises is the path that ships.
# NOTE: the whole tree is copied before installing, so any source change
# reinstalls the dependencies. Copying pyproject.toml alone first would cache
# them, but only with a pip line of our own, and `make install` installs the
# package in editable mode, which needs the sources present.
WORKDIR /app
COPY . .
RUN make install VENV=/opt/venv PIP_EXTRA=--no-cache-dir

ENV PATH=/opt/venv/bin:$PATH \
    HOME=/var/lib/trainjobs \
    TRAINJOBS_HOME=/var/lib/trainjobs

# The sources and the venv stay root-owned: the app cannot rewrite its code.
USER 10001:10001

# 4. the app itself finds the system dataset, or the build fails here.
RUN trainjobs datasets list | grep -q '^fashion-mnist '

EXPOSE 8000
# No HEALTHCHECK: the image serves three roles with different probes, so
# docker-compose.yml defines one per service.
ENTRYPOINT ["trainjobs"]
CMD ["api", "--host", "0.0.0.0", "--port", "8000"]
