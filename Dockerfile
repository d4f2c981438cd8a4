# mail2fax: SMTP-to-fax bridge.
#
#   docker build -t mail2fax .
#   docker run -d --name mail2fax -p 2525:2525 -v mail2fax-data:/var/lib/mail2fax \
#       --env-file mail2fax.env --stop-timeout 40 mail2fax
#
# All configuration comes from MAIL2FAX_* environment variables (see examples/docker.env and
# examples/docker-run.sh). The queue (SQLite and spooled documents) lives in the volume
# /var/lib/mail2fax; /etc/mail2fax is the place for a certificate, key and users file.

FROM python:3.12.10-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

# libmagic1 backs python-magic, which sniffs the type of every attached document; Pango (with
# its FreeType backend) and a font let WeasyPrint lay out HTML mail bodies.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libmagic1 libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*

# The daemon's user by number, so that Kubernetes' runAsNonRoot can check it.
RUN groupadd --system --gid 10001 mail2fax \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
        --home-dir /var/lib/mail2fax --shell /usr/sbin/nologin mail2fax \
    && install -d -o 10001 -g 10001 -m 0700 /var/lib/mail2fax /etc/mail2fax

# constraints.txt pins every package (and the setuptools that builds mail2fax) to one version.
COPY pyproject.toml README.md constraints.txt /src/
COPY mail2fax/ /src/mail2fax/
RUN PIP_CONSTRAINT=/src/constraints.txt pip install --no-cache-dir /src \
    && rm -rf /src

# Listen on every interface inside the container; publish only what you need with -p.
# The metrics listener serves /metrics and /healthz.
ENV MAIL2FAX_DATA_DIR=/var/lib/mail2fax \
    MAIL2FAX_SMTP__HOST=0.0.0.0 \
    MAIL2FAX_SMTP__PORT=2525 \
    MAIL2FAX_METRICS__HOST=0.0.0.0 \
    MAIL2FAX_METRICS__PORT=9125

VOLUME ["/var/lib/mail2fax"]
WORKDIR /var/lib/mail2fax

# 2525: SMTP (STARTTLS once MAIL2FAX_SMTP__TLS_CERT and __TLS_KEY are set).
# 9125: metrics and health. Optional implicit TLS ("SMTPS", 465-style): set
# MAIL2FAX_SMTP__TLS_PORT=4650 and publish it, e.g. -p 465:4650.
EXPOSE 2525 9125

USER 10001:10001

# Healthy when SMTP greets on the container's own address, the one published ports lead to
# (a listener on 127.0.0.1 only fails), and /healthz answers 200 when the metrics port is set.
HEALTHCHECK --interval=30s --timeout=10s --start-period=20s --retries=3 \
    CMD ["mail2fax", "health", "--external"]

# The daemon drains on SIGTERM within MAIL2FAX_SHUTDOWN_TIMEOUT (30 s by default);
# give it longer than that with `docker run --stop-timeout 40` or compose's stop_grace_period.
STOPSIGNAL SIGTERM
ENTRYPOINT ["mail2fax"]
CMD ["serve"]
