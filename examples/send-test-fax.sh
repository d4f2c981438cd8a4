#!/bin/sh
# Send a PDF to mail2fax with swaks: ./send-test-fax.sh 14155551212 document.pdf [host] [port]
# Add --tls (STARTTLS) or --tls-on-connect (implicit TLS), and --auth-user scanner
# --auth-password secret when not on a trusted network.
set -eu

swaks --server "${3:-127.0.0.1}" --port "${4:-2525}" \
    --from "${FROM:-$(id -un)@$(hostname)}" --to "$1@fax.local" \
    --header "Subject: Test fax" --body "Test fax from swaks" \
    --attach-type application/pdf --attach "@$2"
