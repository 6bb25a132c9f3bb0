//! Compiles `proto/` with the pure-Rust protox (no protoc needed) and hands the descriptor
//! set to tonic-prost-build; the same descriptor set is embedded for gRPC reflection.

use std::path::PathBuf;

use prost::Message as _;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/vpp/v1/common.proto",
        "proto/vpp/v1/dispatch.proto",
        "proto/vpp/v1/green.proto",
        "proto/vpp/v1/market.proto",
        "proto/vpp/v1/meter.proto",
    ];
    for f in files {
        println!("cargo:rerun-if-changed={f}");
    }
    let fds = protox::compile(files, ["proto"])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("vpp_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure().build_client(true).build_server(true).compile_fds(fds)?;
    Ok(())
}
