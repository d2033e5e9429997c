//! Headless simulator panel: every frame becomes `<output_dir>/screen.png`, replaced atomically so a reader
//! (a developer's image viewer, the end-to-end test) never sees a half-written file.

use std::path::{Path, PathBuf};

use crate::config::Language;
use crate::ui::Frame;

use super::{render_png, DisplayError, Panel};

/// Name of the file holding the frame on screen now.
pub const SCREEN_FILE: &str = "screen.png";

/// Writes each frame as PNG, like a panel would show it.
#[derive(Debug)]
pub struct SimulatorPanel {
    dir: PathBuf,
    width: u32,
    height: u32,
    lang: Language,
    frames: u64,
}

impl SimulatorPanel {
    /// A simulator of `width`×`height` writing into `dir` (created if missing). 128×64 simulates the SSD1306.
    pub fn new(dir: &Path, width: u32, height: u32, lang: Language) -> Result<SimulatorPanel, DisplayError> {
        std::fs::create_dir_all(dir).map_err(|e| DisplayError::Device {
            device: dir.display().to_string(),
            reason: e.to_string(),
        })?;
        tracing::info!(dir = %dir.display(), width, height, "simulator display");
        Ok(SimulatorPanel {
            dir: dir.to_path_buf(),
            width,
            height,
            lang,
            frames: 0,
        })
    }

    /// Where the current frame is.
    pub fn screen_path(&self) -> PathBuf {
        self.dir.join(SCREEN_FILE)
    }

    /// Frames shown so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }
}

impl Panel for SimulatorPanel {
    fn show(&mut self, frame: &Frame) -> Result<(), DisplayError> {
        // Same directory as the target, so the rename is atomic (same filesystem).
        let tmp = self.dir.join(format!(".{SCREEN_FILE}.{}.tmp", std::process::id()));
        render_png(frame, self.lang, self.width, self.height, &tmp)?;
        let target = self.screen_path();
        std::fs::rename(&tmp, &target).map_err(|e| DisplayError::Png {
            path: target.clone(),
            reason: format!("rename from temp file: {e}"),
        })?;
        self.frames += 1;
        tracing::debug!(frame = self.frames, "simulator frame written");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::Screen;

    #[test]
    fn each_frame_replaces_screen_png_and_counts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("display");
        let mut panel = SimulatorPanel::new(&out, 240, 320, Language::En).expect("open");
        let idle = Frame {
            screen: Screen::Idle,
            offline: false,
        };
        let lost = Frame {
            screen: Screen::ScannerDisconnected,
            offline: false,
        };

        panel.show(&idle).expect("show idle");
        let first = std::fs::read(panel.screen_path()).expect("screen.png after first frame");
        panel.show(&lost).expect("show disconnected");
        let second = std::fs::read(panel.screen_path()).expect("screen.png after second frame");

        assert_ne!(first, second, "the second frame replaced the first");
        let expected = dir.path().join("expected.png");
        render_png(&lost, Language::En, 240, 320, &expected).expect("render expected");
        assert_eq!(second, std::fs::read(expected).expect("read expected"));
        assert_eq!(panel.frames(), 2);
        let names: Vec<_> = std::fs::read_dir(&out)
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, [SCREEN_FILE], "no temp files left behind");
    }
}
