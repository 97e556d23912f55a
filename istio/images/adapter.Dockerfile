# mixerless-adapter: the Rust binary on distroless, running as an unprivileged user.
# Build from the repository root:
#   docker build -f istio/images/adapter.Dockerfile -t REGISTRY/mixerless/adapter:0.1.0 .
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p mixerless-adapter \
 && install -D target/release/mixerless-adapter /out/mixerless-adapter

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/mixerless-adapter /usr/local/bin/mixerless-adapter
USER 65532:65532
EXPOSE 6443
ENTRYPOINT ["/usr/local/bin/mixerless-adapter"]
CMD ["serve", "--help"]
