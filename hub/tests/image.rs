//! The hub's container image, assembled daemonless from the binary cargo built for this test
//! and run from its own unpacked filesystem (`manifests/images/build.sh`).

use std::path::Path;

#[test]
fn the_hub_image_is_reproducible_non_root_and_runs_its_binary() -> anyhow::Result<()> {
    kubeworkz_testkit::image::check(
        "hub",
        Path::new(env!("CARGO_BIN_EXE_kubeworkz-hub")),
        "serve",
    )
}
