//! Making files durable for real: `fsync` of files, of the directories that name them, and of whole trees.
//!
//! Owns the one rule every writer in omnigate follows before it confirms anything to a shopper or to central:
//! data is on disk only after an fsync (`sync_all`) of the file *and* of its directory (for a new or renamed
//! file). sled's own `flush` uses `sync_file_range`, which does not empty the drive's write cache.

use std::fs::File;
use std::io;
use std::path::Path;

/// fsyncs the directory itself, so entries created or renamed in it survive a power cut.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// fsyncs every regular file under `dir`, then each directory bottom-up. On error, the path that failed.
pub fn sync_tree(dir: &Path) -> Result<(), (std::path::PathBuf, io::Error)> {
    let entries = std::fs::read_dir(dir).map_err(|e| (dir.to_owned(), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| (dir.to_owned(), e))?;
        let path = entry.path();
        let kind = entry.file_type().map_err(|e| (path.clone(), e))?;
        if kind.is_dir() {
            sync_tree(&path)?;
        } else if kind.is_file() {
            File::open(&path)
                .and_then(|f| f.sync_all())
                .map_err(|e| (path.clone(), e))?;
        }
    }
    sync_dir(dir).map_err(|e| (dir.to_owned(), e))
}

/// Replaces `path` with `bytes` so that after a crash it holds either the old or the new content, never a mix:
/// a temporary file beside it is written and fsynced, renamed over `path`, and the directory fsynced.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp_name = path.file_name().unwrap_or_default().to_owned();
    tmp_name.push(".tmp");
    let tmp = dir.join(tmp_name);
    let mut f = File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_atomic_write_replaces_the_whole_file_and_leaves_no_temporary_behind() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.json");
        write_atomic(&path, b"{\"a\":1}").expect("first write");
        write_atomic(&path, b"{\"a\":2}").expect("second write");
        assert_eq!(std::fs::read(&path).expect("read"), b"{\"a\":2}");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("dir")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("state.json")]);
    }

    #[test]
    fn syncing_a_tree_reaches_nested_files_and_names_a_missing_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("blobs")).expect("mkdir");
        std::fs::write(dir.path().join("blobs/a"), b"x").expect("write");
        std::fs::write(dir.path().join("db"), b"y").expect("write");
        sync_tree(dir.path()).expect("sync");
        let missing = dir.path().join("nope");
        let (path, _) = sync_tree(&missing).expect_err("missing directory");
        assert_eq!(path, missing);
    }
}
