//! Generates the gRPC client of KEDA's external scaler from the adapter's copy of its proto
//! (`adapter/proto/externalscaler.proto`), with `protox` so no `protoc` is needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "../adapter/proto/externalscaler.proto";
    println!("cargo:rerun-if-changed={proto}");
    let files = protox::compile([proto], ["../adapter/proto"])?;
    tonic_prost_build::configure()
        .build_server(false)
        .compile_fds(files)?;
    Ok(())
}
