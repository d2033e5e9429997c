//! The outbox's write-ahead log file: the file whose `fdatasync` confirms an append (see
//! [`super::outbox_store`] for how it is used with sled). Owns the frame format, the preallocated file, and
//! reading frames back after a crash. Knows nothing of sled or of what an event means; never decides when to
//! sync.
//!
//! # Why a preallocated, zero-filled file
//! An `fdatasync` of a file whose size or block allocation changed must also commit the filesystem's journal
//! (ext4: a second, ordered write and a cache flush). Writes inside blocks that already hold data need only
//! the data write and one cache flush. So the file is created once at its full size *with zeros written* (not
//! `fallocate`d: unwritten extents must be converted on first write, which is again a metadata change), and
//! frames are written over it from the start. When it is full the outbox checkpoints (sled made durable) and
//! starts again at offset 0 with the next *generation*; frames of older generations left behind are ignored.
//!
//! # Frame format (little-endian)
//! ```text
//! len u32 | crc u32 | body (len bytes)
//! body = generation u64 | kind u8 | …
//!   kind 1 (events): first_seq u64 | count u32 | count × (size u32 | event bytes)   seqs first_seq, first_seq+1, …
//!   kind 2 (acks):   count u32 | count × seq u64
//!   kind 3 (events and a state): the body of kind 1 | key_len u32 | key | value_len u32 | value
//! ```
//! Kind 3 carries a named state (the self-checkout's basket) with the events its change produced (possibly
//! none), so that the state and its events survive a crash together or not at all. Kind 1 is kept for frames
//! without a state, so logs written before kind 3 existed still replay.
//! `crc` is CRC-32 (IEEE) of the body. Reading stops at the first frame that is not whole and valid: `len` 0
//! (the zeros never written over), a frame running past the end, a CRC mismatch (torn write at a crash), or
//! another generation (a stale frame of an earlier pass). Everything before that point is returned.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Bytes before a frame's body.
const HEADER: usize = 8;
const KIND_EVENTS: u8 = 1;
const KIND_ACKS: u8 = 2;
const KIND_EVENTS_WITH_STATE: u8 = 3;

/// One logical record: a batch of appended events (all or none survive, as one frame) or acknowledgements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// Events with consecutive seqs from `first_seq`, each as stored (JSON).
    Events {
        /// The seq of the first event (meaningless when `events` is empty).
        first_seq: u64,
        /// Encoded events in seq order.
        events: Vec<Vec<u8>>,
        /// A state written in the same frame: it and the events survive together or not at all.
        state: Option<StateWrite>,
    },
    /// Seqs acknowledged by central (deleted from the outbox).
    Acks(Vec<u64>),
}

/// A named state value (stored under `key`, replacing the previous value) written with a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateWrite {
    /// The state's key in the store.
    pub key: Vec<u8>,
    /// Its new value.
    pub value: Vec<u8>,
}

/// Why a frame that passed its CRC cannot be read: a bug or deliberate tampering, never a torn write.
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    /// A file operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// A frame with a valid checksum does not follow the format.
    #[error("write-ahead log {path}: malformed frame at byte {offset}: {reason}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// Where the frame starts.
        offset: u64,
        /// What is wrong.
        reason: &'static str,
    },
}

/// Appends the frames of `records` for generation `generation` to `out`.
pub fn encode(records: &[Record], generation: u64, out: &mut Vec<u8>) {
    for record in records {
        let start = out.len();
        out.extend_from_slice(&[0u8; HEADER]);
        out.extend_from_slice(&generation.to_le_bytes());
        match record {
            Record::Events {
                first_seq,
                events,
                state,
            } => {
                out.push(if state.is_some() {
                    KIND_EVENTS_WITH_STATE
                } else {
                    KIND_EVENTS
                });
                out.extend_from_slice(&first_seq.to_le_bytes());
                out.extend_from_slice(&len_u32(events.len()).to_le_bytes());
                for event in events {
                    out.extend_from_slice(&len_u32(event.len()).to_le_bytes());
                    out.extend_from_slice(event);
                }
                if let Some(state) = state {
                    for part in [&state.key, &state.value] {
                        out.extend_from_slice(&len_u32(part.len()).to_le_bytes());
                        out.extend_from_slice(part);
                    }
                }
            }
            Record::Acks(seqs) => {
                out.push(KIND_ACKS);
                out.extend_from_slice(&len_u32(seqs.len()).to_le_bytes());
                for seq in seqs {
                    out.extend_from_slice(&seq.to_le_bytes());
                }
            }
        }
        let body = &out[start + HEADER..];
        let len = len_u32(body.len());
        let crc = crc32fast::hash(body);
        out[start..start + 4].copy_from_slice(&len.to_le_bytes());
        out[start + 4..start + HEADER].copy_from_slice(&crc.to_le_bytes());
    }
}

/// A length as u32. Frames are bounded by the file size (megabytes) and events by the outbox's 64 KiB cap,
/// so a length over 4 GiB is a bug.
fn len_u32(len: usize) -> u32 {
    u32::try_from(len).expect("WAL frame parts are far below 4 GiB")
}

/// Decodes one frame body (its CRC already checked). `None` for a frame of another generation.
fn decode_body(body: &[u8], generation: u64) -> Result<Option<Record>, &'static str> {
    let mut r = Reader(body);
    if r.u64()? != generation {
        return Ok(None);
    }
    let record = match r.u8()? {
        kind @ (KIND_EVENTS | KIND_EVENTS_WITH_STATE) => {
            let first_seq = r.u64()?;
            let count = r.u32()?;
            let mut events = Vec::new();
            for _ in 0..count {
                let size = r.u32()? as usize;
                events.push(r.take(size)?.to_vec());
            }
            let state = if kind == KIND_EVENTS_WITH_STATE {
                let size = r.u32()? as usize;
                let key = r.take(size)?.to_vec();
                let size = r.u32()? as usize;
                let value = r.take(size)?.to_vec();
                Some(StateWrite { key, value })
            } else {
                None
            };
            Record::Events {
                first_seq,
                events,
                state,
            }
        }
        KIND_ACKS => {
            let count = r.u32()?;
            let mut seqs = Vec::new();
            for _ in 0..count {
                seqs.push(r.u64()?);
            }
            Record::Acks(seqs)
        }
        _ => return Err("unknown record kind"),
    };
    if !r.0.is_empty() {
        return Err("bytes after the record");
    }
    Ok(Some(record))
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        if self.0.len() < n {
            return Err("record shorter than its fields");
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, &'static str> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, &'static str> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, &'static str> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(a))
    }
}

/// The log file, preallocated with zeros.
#[derive(Debug)]
pub struct WalFile {
    path: PathBuf,
    file: File,
    capacity: u64,
}

impl WalFile {
    /// Opens `path`, creating it or extending it with zeros to at least `capacity` bytes (then fsynced with its
    /// directory, so the size never changes again and later syncs need no metadata). A larger existing file
    /// keeps its size.
    pub fn open(path: &Path, capacity: u64) -> Result<WalFile, WalError> {
        let io_err = |op| {
            let path = path.to_owned();
            move |source| WalError::Io { op, path, source }
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io_err("cannot open"))?;
        let len = file.metadata().map_err(io_err("cannot stat"))?.len();
        if len < capacity {
            let zeros = vec![0u8; 64 * 1024];
            let mut at = len;
            while at < capacity {
                let n = (capacity - at).min(zeros.len() as u64) as usize;
                file.write_all_at(&zeros[..n], at)
                    .map_err(io_err("cannot preallocate"))?;
                at += n as u64;
            }
            file.sync_all().map_err(io_err("cannot fsync"))?;
            if let Some(dir) = path.parent() {
                crate::durable::sync_dir(dir).map_err(io_err("cannot fsync the directory of"))?;
            }
        }
        Ok(WalFile {
            path: path.to_owned(),
            file,
            capacity: len.max(capacity),
        })
    }

    /// The file's size: frames must end at or before it.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `bytes` at `offset` (the caller checked they fit). Not synced.
    pub fn write_at(&self, bytes: &[u8], offset: u64) -> Result<(), WalError> {
        debug_assert!(offset + bytes.len() as u64 <= self.capacity);
        self.file.write_all_at(bytes, offset).map_err(|source| WalError::Io {
            op: "cannot write",
            path: self.path.clone(),
            source,
        })
    }

    /// `fdatasync`: everything written so far is on the medium.
    pub fn sync_data(&self) -> Result<(), WalError> {
        self.file.sync_data().map_err(|source| WalError::Io {
            op: "cannot fdatasync",
            path: self.path.clone(),
            source,
        })
    }

    /// Calls `apply` with every whole, valid frame of `generation` from the start, in order, one frame in
    /// memory at a time; returns where the valid frames end. The first error of `apply` stops the replay.
    pub fn replay<E: From<WalError>>(
        &self,
        generation: u64,
        mut apply: impl FnMut(Record) -> Result<(), E>,
    ) -> Result<u64, E> {
        let mut offset = 0u64;
        let mut header = [0u8; HEADER];
        loop {
            if offset + HEADER as u64 > self.capacity {
                return Ok(offset);
            }
            self.read_at(&mut header, offset)?;
            let len = u64::from(u32::from_le_bytes([header[0], header[1], header[2], header[3]]));
            let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
            if len == 0 || offset + HEADER as u64 + len > self.capacity {
                return Ok(offset);
            }
            let mut body = vec![0u8; len as usize];
            self.read_at(&mut body, offset + HEADER as u64)?;
            if crc32fast::hash(&body) != crc {
                return Ok(offset);
            }
            match decode_body(&body, generation) {
                Ok(Some(record)) => apply(record)?,
                Ok(None) => return Ok(offset),
                Err(reason) => {
                    return Err(WalError::Malformed {
                        path: self.path.clone(),
                        offset,
                        reason,
                    }
                    .into())
                }
            }
            offset += HEADER as u64 + len;
        }
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<(), WalError> {
        self.file.read_exact_at(buf, offset).map_err(|source| WalError::Io {
            op: "cannot read",
            path: self.path.clone(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(first_seq: u64, n: u64) -> Record {
        Record::Events {
            first_seq,
            events: (first_seq..first_seq + n)
                .map(|s| format!("{{\"seq\":{s}}}").into_bytes())
                .collect(),
            state: None,
        }
    }

    fn with_state(record: Record, state: Option<StateWrite>) -> Record {
        match record {
            Record::Events { first_seq, events, .. } => Record::Events {
                first_seq,
                events,
                state,
            },
            acks => acks,
        }
    }

    fn read_back(wal: &WalFile, generation: u64) -> (Vec<Record>, u64) {
        let mut records = Vec::new();
        let end = wal
            .replay(generation, |r| {
                records.push(r);
                Ok::<(), WalError>(())
            })
            .expect("replay");
        (records, end)
    }

    fn new_wal(dir: &tempfile::TempDir) -> WalFile {
        WalFile::open(&dir.path().join("wal"), 4096).expect("open wal")
    }

    #[test]
    fn frames_written_come_back_in_order_and_the_zeros_end_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let wal = new_wal(&dir);
        assert_eq!(std::fs::metadata(wal.path()).expect("stat").len(), 4096, "preallocated");
        let records = vec![events(1, 2), Record::Acks(vec![1]), events(3, 1)];
        let mut bytes = Vec::new();
        encode(&records[..2], 7, &mut bytes);
        wal.write_at(&bytes, 0).expect("write");
        let mut more = Vec::new();
        encode(&records[2..], 7, &mut more);
        wal.write_at(&more, bytes.len() as u64).expect("write");
        let (back, end) = read_back(&wal, 7);
        assert_eq!(back, records);
        assert_eq!(end, (bytes.len() + more.len()) as u64);
    }

    #[test]
    fn a_state_comes_back_with_its_events_and_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let wal = new_wal(&dir);
        let state = |v: &str| {
            Some(StateWrite {
                key: b"basket".to_vec(),
                value: v.as_bytes().to_vec(),
            })
        };
        let with_events = with_state(events(1, 2), state("{\"lines\":2}"));
        let alone = Record::Events {
            first_seq: 3,
            events: Vec::new(),
            state: state("{\"lines\":3}"),
        };
        let records = vec![with_events, events(3, 1), alone];
        let mut bytes = Vec::new();
        encode(&records, 1, &mut bytes);
        wal.write_at(&bytes, 0).expect("write");
        assert_eq!(read_back(&wal, 1).0, records);
    }

    #[test]
    fn a_torn_frame_with_a_state_loses_the_state_and_its_events_together() {
        let dir = tempfile::tempdir().expect("tempdir");
        let wal = new_wal(&dir);
        let mut bytes = Vec::new();
        encode(&[events(1, 1)], 1, &mut bytes);
        let kept = bytes.len();
        encode(
            &[with_state(
                events(2, 1),
                Some(StateWrite {
                    key: b"basket".to_vec(),
                    value: b"{\"state\":\"receipt\"}".to_vec(),
                }),
            )],
            1,
            &mut bytes,
        );
        // The crash tore the state's last bytes: the sale event in the same frame must not survive alone.
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        wal.write_at(&bytes, 0).expect("write");
        let (back, end) = read_back(&wal, 1);
        assert_eq!(back, vec![events(1, 1)]);
        assert_eq!(end, kept as u64);
    }

    #[test]
    fn a_torn_frame_ends_the_log_and_keeps_what_came_before() {
        let dir = tempfile::tempdir().expect("tempdir");
        let wal = new_wal(&dir);
        let mut first = Vec::new();
        encode(&[events(1, 1)], 1, &mut first);
        let mut second = Vec::new();
        encode(&[events(2, 3)], 1, &mut second);
        // Only part of the second frame reached the disk; flip a byte of its body to model a torn sector.
        let cut = second.len() - 5;
        second[cut] ^= 0xff;
        wal.write_at(&first, 0).expect("write");
        wal.write_at(&second, first.len() as u64).expect("write");
        let (back, end) = read_back(&wal, 1);
        assert_eq!(back, vec![events(1, 1)]);
        assert_eq!(end, first.len() as u64);
    }

    #[test]
    fn frames_of_an_earlier_generation_are_stale_and_ignored() {
        let dir = tempfile::tempdir().expect("tempdir");
        let wal = new_wal(&dir);
        // Generation 1 filled more of the file than generation 2 has written over since.
        let mut old = Vec::new();
        encode(&[events(1, 5), events(6, 5)], 1, &mut old);
        wal.write_at(&old, 0).expect("write");
        let mut new = Vec::new();
        encode(&[events(11, 1)], 2, &mut new);
        wal.write_at(&new, 0).expect("write");
        let (back, _) = read_back(&wal, 2);
        assert_eq!(back, vec![events(11, 1)], "the rest of generation 1 is not replayed");
        let (none, end) = read_back(&wal, 3);
        assert!(none.is_empty(), "a fresh generation starts empty");
        assert_eq!(end, 0);
    }

    #[test]
    fn a_frame_claiming_to_run_past_the_file_ends_the_log() {
        let dir = tempfile::tempdir().expect("tempdir");
        let wal = new_wal(&dir);
        let mut header = Vec::new();
        header.extend_from_slice(&100_000u32.to_le_bytes());
        header.extend_from_slice(&0u32.to_le_bytes());
        wal.write_at(&header, 0).expect("write");
        let (back, end) = read_back(&wal, 0);
        assert!(back.is_empty());
        assert_eq!(end, 0);
    }

    #[test]
    fn reopening_keeps_the_frames_and_the_size() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("wal");
        {
            let wal = WalFile::open(&path, 4096).expect("open");
            let mut bytes = Vec::new();
            encode(&[events(1, 2)], 3, &mut bytes);
            wal.write_at(&bytes, 0).expect("write");
            wal.sync_data().expect("sync");
        }
        let wal = WalFile::open(&path, 1024).expect("reopen with a smaller capacity");
        assert_eq!(wal.capacity(), 4096, "a larger file keeps its size");
        assert_eq!(read_back(&wal, 3).0, vec![events(1, 2)]);
    }

    #[test]
    fn a_valid_checksum_over_a_malformed_body_is_an_error_naming_the_offset() {
        let dir = tempfile::tempdir().expect("tempdir");
        let wal = new_wal(&dir);
        let mut body = Vec::new();
        body.extend_from_slice(&0u64.to_le_bytes());
        body.push(9);
        let mut frame = Vec::new();
        frame.extend_from_slice(&(body.len() as u32).to_le_bytes());
        frame.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
        frame.extend_from_slice(&body);
        wal.write_at(&frame, 0).expect("write");
        let err = wal.replay(0, |_| Ok::<(), WalError>(())).expect_err("malformed");
        assert!(err.to_string().contains("at byte 0"), "{err}");
    }
}
