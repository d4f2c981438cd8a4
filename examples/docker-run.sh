#!/bin/sh
# mail2fax in Docker (or Podman: DOCKER=podman), dry-run, with a relay that prints status mails.
#
#   SCANNER_PASSWORD='choose-one' examples/docker-run.sh
#
# Then send a test fax from this host with the scanner's login, over STARTTLS:
#   SMTP_PASSWORD="$SCANNER_PASSWORD" python3 examples/send_test_fax.py 14155551212 some.pdf \
#       127.0.0.1 2525 --starttls --user scanner --from you@example.com
# and look:
#   docker exec mail2fax mail2fax queue list --all     # the job
#   docker exec mail2fax ls /var/lib/mail2fax/outbox   # the fax, as it would have been sent
#   docker logs mail2fax-relay                         # the status mail
#
# Configuration comes from examples/docker.env (no quotes around values in an --env-file).
# The queue survives restarts in the volume mail2fax-data; the certificate, key and users file
# live in the volume mail2fax-etc. --stop-timeout gives the daemon time to finish open work on
# SIGTERM (it waits up to 30 s).
set -eu
: "${SCANNER_PASSWORD:?set SCANNER_PASSWORD to the password the scanners will log in with}"
DOCKER=${DOCKER:-docker}
cd "$(dirname "$0")/.."

# Podman builds OCI images by default, which have no HEALTHCHECK: ask for Docker's format.
case "$DOCKER" in *podman*) "$DOCKER" build --format docker -t mail2fax . ;; *) "$DOCKER" build -t mail2fax . ;; esac
"$DOCKER" rm -f mail2fax mail2fax-relay >/dev/null 2>&1 || true
"$DOCKER" network create mail2fax >/dev/null 2>&1 || true

# A stand-in relay for status mails: prints every mail it gets to its log.
"$DOCKER" run -d --name mail2fax-relay --network mail2fax \
    --entrypoint python mail2fax -m aiosmtpd -n -l 0.0.0.0:1025

# A self-signed certificate (most scanners do not check it) and the SMTP AUTH user "scanner".
# Both are written by the image's own user into the volume, so only it can read the key.
"$DOCKER" run --rm -v mail2fax-etc:/etc/mail2fax --entrypoint openssl mail2fax \
    req -x509 -newkey rsa:2048 -nodes -days 825 -subj /CN=mail2fax \
    -keyout /etc/mail2fax/tls.key -out /etc/mail2fax/tls.crt
printf '%s\n' "$SCANNER_PASSWORD" | "$DOCKER" run --rm -i -v mail2fax-etc:/etc/mail2fax \
    --entrypoint sh mail2fax -c 'umask 077 && echo "scanner:$(mail2fax hash-password --stdin)" > /etc/mail2fax/users'

"$DOCKER" run -d --name mail2fax --network mail2fax --restart unless-stopped \
    --env-file examples/docker.env \
    -p 2525:2525 \
    -p 127.0.0.1:9125:9125 \
    -v mail2fax-data:/var/lib/mail2fax \
    -v mail2fax-etc:/etc/mail2fax:ro \
    --stop-timeout 40 \
    mail2fax

# Operator commands run inside the same container, as its user:
#   docker exec mail2fax mail2fax check-config
#   docker exec mail2fax mail2fax queue list
#   docker exec mail2fax mail2fax health
