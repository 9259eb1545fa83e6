//! The agent's container image, assembled daemonless from the binary cargo built for this
//! test and run from its own unpacked filesystem (`manifests/images/build.sh`).

use std::path::Path;

#[test]
fn the_agent_image_is_reproducible_non_root_and_runs_its_binary() -> anyhow::Result<()> {
    kubeworkz_testkit::image::check(
        "agent",
        Path::new(env!("CARGO_BIN_EXE_kubeworkz-agent")),
        "run",
    )
    .map(drop)
}
