# Kamailio from Debian with the same routing config the tests use.
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends kamailio && rm -rf /var/lib/apt/lists/*
COPY scripts/e2e/kamailio/kamailio.cfg /tmp/kamailio.cfg.in
# stox is reached by its compose service name; its requests come from its SIP port 5070.
RUN sed -e "s/@KADDR@/0.0.0.0/g" -e "s/@KPORT@/5060/g" -e "s/@STOX@/stox:5070/g" -e "s/@STOXPORT@/5070/g" \
      /tmp/kamailio.cfg.in > /etc/kamailio/kamailio.cfg
EXPOSE 5060/udp 5060/tcp
CMD ["kamailio", "-f", "/etc/kamailio/kamailio.cfg", "-DD", "-E", "-m", "128"]
