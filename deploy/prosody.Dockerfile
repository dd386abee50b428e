# Prosody from Debian with the same config template the tests use.
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends prosody && rm -rf /var/lib/apt/lists/*
ARG SECRET=change-me-long-random
COPY scripts/e2e/prosody/prosody.cfg.lua.in /tmp/prosody.cfg.lua.in
RUN mkdir -p /var/lib/stox-prosody/data && sed -e "s|@DIR@|/var/lib/stox-prosody|g" -e "s|@C2S@|5222|g" \
      -e "s|@COMPONENT@|5347|g" -e "s|@SECRET@|$SECRET|g" -e "s|@ADDR@|*|g" \
      /tmp/prosody.cfg.lua.in > /etc/prosody/prosody.cfg.lua \
 && prosodyctl --config /etc/prosody/prosody.cfg.lua register juliet example.com juliet
EXPOSE 5222 5347
CMD ["prosody", "--config", "/etc/prosody/prosody.cfg.lua"]
