//! The daemon's local control socket, so `omnigate queue …` can read the live outbox while the daemon holds
//! it (sled lets one process open a database). Owns the socket, its tiny protocol and the client side.
//!
//! `<state_dir>/control.sock`, protected by the state directory's permissions (systemd's StateDirectory is
//! 0700, owned by the service user). One JSON request line in, JSON Lines out, then the daemon closes the
//! connection. Read-only: nothing sent here can change the queue.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::storage::outbox_store::OutboxStore;

/// The socket's file name inside the state directory.
pub const SOCKET: &str = "control.sock";

/// The longest request line accepted.
const MAX_REQUEST: u64 = 4096;

/// Events read from disk per batch while answering a list.
const BATCH: usize = 256;

/// A request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Request {
    /// The latest status document (one line).
    Status,
    /// Stored events with seq ≥ `from`, at most `limit`, one JSON object per line.
    List {
        /// First seq.
        from: u64,
        /// How many at most.
        limit: u64,
    },
}

/// Where the socket of the daemon using `state_dir` is.
pub fn socket_path(state_dir: &Path) -> PathBuf {
    state_dir.join(SOCKET)
}

/// Serves requests until `cancel`. A stale socket file from a killed daemon is replaced.
pub async fn serve(
    path: PathBuf,
    store: Arc<OutboxStore>,
    status: watch::Receiver<Vec<u8>>,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    let _ = std::fs::remove_file(&path);
    let listener = tokio::net::UnixListener::bind(&path)?;
    loop {
        let stream = tokio::select! {
            _ = cancel.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "control socket: accept failed");
                    continue;
                }
            },
        };
        let (store, status) = (store.clone(), status.clone());
        tokio::spawn(async move {
            if let Err(e) = answer(stream, store, status).await {
                tracing::debug!(error = %e, "control socket: client went away");
            }
        });
    }
    let _ = std::fs::remove_file(&path);
    Ok(())
}

async fn answer(
    stream: tokio::net::UnixStream,
    store: Arc<OutboxStore>,
    status: watch::Receiver<Vec<u8>>,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    tokio::io::AsyncReadExt::take(tokio::io::BufReader::new(read), MAX_REQUEST)
        .read_line(&mut line)
        .await?;
    let request: Request = match serde_json::from_str(line.trim()) {
        Ok(r) => r,
        Err(e) => {
            let msg = serde_json::json!({ "error": format!("bad request: {e}") }).to_string();
            write.write_all(msg.as_bytes()).await?;
            return write.write_all(b"\n").await;
        }
    };
    match request {
        Request::Status => {
            let doc = status.borrow().clone();
            write.write_all(&doc).await?;
            write.write_all(b"\n").await?;
        }
        Request::List { from, limit } => {
            let (mut next, mut left) = (from, limit);
            while left > 0 {
                let want = BATCH.min(usize::try_from(left).unwrap_or(BATCH));
                let s = store.clone();
                let batch = tokio::task::spawn_blocking(move || s.pending_encoded(next, want))
                    .await
                    .map_err(std::io::Error::other)?
                    .map_err(std::io::Error::other)?;
                let Some(&(last, _)) = batch.last() else { break };
                for (_, bytes) in &batch {
                    write.write_all(bytes).await?;
                    write.write_all(b"\n").await?;
                }
                left = left.saturating_sub(batch.len() as u64);
                next = last + 1;
            }
        }
    }
    write.shutdown().await
}

/// Sends `request` to the daemon of `state_dir`. `Ok(None)` when no daemon listens there (not running).
pub fn request(state_dir: &Path, request: &Request) -> std::io::Result<Option<impl BufRead>> {
    let path = socket_path(state_dir);
    let mut stream = match std::os::unix::net::UnixStream::connect(&path) {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
    };
    let mut line = serde_json::to_vec(request).map_err(std::io::Error::other)?;
    line.push(b'\n');
    stream.write_all(&line)?;
    Ok(Some(BufReader::new(stream)))
}
