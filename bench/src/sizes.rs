//! Artifact size: the zipped `bootstrap` that `cargo lambda build --release --arm64
//! --output-format zip` leaves in <target>/lambda/<function>/bootstrap.zip.

use crate::util::write_json;
use serde_json::json;
use std::path::Path;

pub fn run(lambda_dir: &Path, names: &[String], out: &Path) {
    let functions: Vec<_> = names
        .iter()
        .map(|n| {
            let zip = lambda_dir.join(n).join("bootstrap.zip");
            let bytes = std::fs::metadata(&zip).map(|m| m.len()).ok();
            json!({"name": n, "zipBytes": bytes})
        })
        .collect();
    write_json(
        out,
        &json!({"machine": crate::util::machine(), "target": "aarch64-unknown-linux-gnu", "functions": functions}),
    );
}
