//! What the browser tests share: the UI's folder (ready to run its Playwright scripts), where
//! their screenshots go (the CI artifact), and the check that each one was written.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the hub crate sits in the workspace")
        .to_path_buf()
}

/// `hub/ui`, once `npm ci` has installed playwright-core there.
pub fn ui_dir() -> Result<PathBuf> {
    let ui = workspace_root().join("hub/ui");
    if !ui.join("node_modules/playwright-core").is_dir() {
        bail!("run `npm ci` in {} first (tests/run.sh does)", ui.display());
    }
    Ok(ui)
}

/// `target/ui-screenshots/`, which CI keeps.
pub fn screenshot_dir() -> PathBuf {
    workspace_root().join("target/ui-screenshots")
}

/// Each `{prefix}{page}-{theme}-{device}.png` in light and dark, desktop and phone, is a real
/// image.
pub fn check_screenshots(dir: &Path, prefix: &str, pages: &[&str]) -> Result<()> {
    for theme in ["light", "dark"] {
        for device in ["desktop", "phone"] {
            for page in pages {
                let shot = dir.join(format!("{prefix}{page}-{theme}-{device}.png"));
                let size = std::fs::metadata(&shot)
                    .with_context(|| format!("screenshot {}", shot.display()))?
                    .len();
                anyhow::ensure!(size > 1000, "{} is a real image", shot.display());
            }
        }
    }
    Ok(())
}
