# The palisade binary (CLI and controller) in a small image:
#   docker build -t palisade:dev . && kind load docker-image palisade:dev
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin palisade

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/palisade /usr/local/bin/palisade
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/palisade"]
