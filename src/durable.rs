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

#[cfg(test)]
mod tests {
    use super::*;

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
