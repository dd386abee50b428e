#!/usr/bin/env bash
# two_instances.sh with ejabberd's domain_balancing by the sender's bare JID (issue 14's
# wording); measures what ejabberd 23.01's fixed slots drop while an instance is stopped.
EJABBERD_BALANCING=bare_source exec bash "$(dirname "$0")/two_instances.sh" "$@"
