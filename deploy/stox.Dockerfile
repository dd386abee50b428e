# stox gateway image. Build context: the repository root.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --bin stox

FROM debian:bookworm-slim
COPY --from=build /src/target/release/stox /usr/local/bin/stox
COPY component.example.toml /etc/stox/component.toml
EXPOSE 5070/udp 5070/tcp 2855/tcp
ENTRYPOINT ["/usr/local/bin/stox", "--config", "/etc/stox/component.toml"]
