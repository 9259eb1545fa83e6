//! The hub's container image, assembled daemonless from the binary cargo built for this test
//! and run from its own unpacked filesystem (`manifests/images/build.sh`).

use std::path::Path;

use kubeworkz_testkit::image;

#[test]
fn the_hub_image_is_reproducible_non_root_and_serves() -> anyhow::Result<()> {
    let checked = image::check(
        "hub",
        Path::new(env!("CARGO_BIN_EXE_kubeworkz-hub")),
        "serve",
    )?;
    image::serve_hub(&checked)
}
