//! Generates the CRI v1 client from the vendored `api.proto` (k8s.io/cri-api v0.35.0).

fn main() {
    println!("cargo:rerun-if-changed=proto");
    if let Err(err) = tonic_prost_build::configure()
        .build_server(false)
        .compile_protos(&["proto/runtime/v1/api.proto"], &["proto"])
    {
        // protoc comes from scripts/setup.sh (Debian's protobuf-compiler).
        eprintln!("generating the CRI client from proto/runtime/v1/api.proto: {err}");
        std::process::exit(1);
    }
}
