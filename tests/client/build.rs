//! Generates the API client from the committed OpenAPI document.

use std::path::PathBuf;

fn main() {
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let spec_path = dir.join("../../openapi/openapi.yaml");
    println!("cargo:rerun-if-changed={}", spec_path.display());
    let text = std::fs::read_to_string(&spec_path).expect("openapi/openapi.yaml is readable");
    let spec = serde_yaml::from_str(&text).expect("openapi/openapi.yaml is OpenAPI 3.0");
    let mut settings = progenitor::GenerationSettings::default();
    settings.with_interface(progenitor::InterfaceStyle::Positional).with_tag(progenitor::TagStyle::Merged);
    let tokens = progenitor::Generator::new(&settings).generate_tokens(&spec).expect("the spec generates a client");
    let code = prettyplease::unparse(&syn::parse2(tokens).expect("generated code parses"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it")).join("client.rs");
    std::fs::write(out, code).expect("OUT_DIR is writable");
}
