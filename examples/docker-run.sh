#!/bin/sh
# Run mail2fax in Docker. Configuration comes from mail2fax.env (see the *.env files here; no
# quotes around values in an --env-file). The queue survives restarts in the volume.
# --stop-timeout gives the daemon time to finish open work on SIGTERM (it waits up to 30 s).
set -eu

# Build from the repository root.
docker build -t mail2fax .

docker run -d --name mail2fax --restart unless-stopped \
    --env-file mail2fax.env \
    -p 2525:2525 \
    -p 127.0.0.1:9125:9125 \
    -v mail2fax-data:/var/lib/mail2fax \
    --stop-timeout 40 \
    mail2fax

# Operator commands run inside the same container:
#   docker exec mail2fax mail2fax queue --help
#   docker exec -it mail2fax mail2fax hash-password
