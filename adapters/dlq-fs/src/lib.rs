//! The dead-letter queue on the filesystem: one file per failed batch in `DLQ_PATH`.
//!
//! A file is written to a temporary name, fsync'd, renamed into place and the directory fsync'd,
//! so a batch is either wholly in the queue or not at all (a crash leaves at most a temporary
//! file, removed at the next start). Its name carries its age and its failed replays,
//! `batch-<created unix ns, 20 digits>-<8 hex>.r<failures>.dlq`, and its modification time is
//! the last attempt, so retry counts and backoff survive restarts. Names sort oldest first.
//! Files that cannot be read are moved to `quarantine/` with a `.reason` note beside them.

pub mod format;

use async_trait::async_trait;
use otelcontext_domain::dlq::{Caps, evictions};
use otelcontext_ports::{DeadLetter, DeadLetterQueue, DlqError, DlqStats, Enqueued, TenantBatch};
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const PREFIX: &str = "batch-";
const SUFFIX: &str = ".dlq";
const TEMP_PREFIX: &str = ".tmp-";
/// Sub-directory for files that cannot be read.
pub const QUARANTINE_DIR: &str = "quarantine";

#[derive(Debug, Clone)]
struct Entry {
    failures: u32,
    bytes: u64,
    last_attempt_ns: i64,
}

impl Entry {
    fn to_port(&self, id: &str) -> DeadLetter {
        DeadLetter {
            id: id.to_owned(),
            failures: self.failures,
            last_attempt_ns: self.last_attempt_ns,
            bytes: self.bytes,
        }
    }
}

struct Inner {
    dir: PathBuf,
    caps: Caps,
    /// Batches by id (`batch-<ns>-<hex>`), oldest first.
    index: Mutex<BTreeMap<String, Entry>>,
    seq: AtomicU32,
}

/// The filesystem dead-letter queue.
#[derive(Clone)]
pub struct FsDeadLetterQueue {
    inner: Arc<Inner>,
}

fn io(what: &str, path: &Path, e: std::io::Error) -> DlqError {
    DlqError::Io(format!("{what} {}: {e}", path.display()))
}

fn file_name(id: &str, failures: u32) -> String {
    format!("{id}.r{failures}{SUFFIX}")
}

/// `(id, failures)` of a queue file name.
fn parse_name(name: &str) -> Option<(String, u32)> {
    let stem = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    let (id_part, failures) = stem.rsplit_once(".r")?;
    let (created, tag) = id_part.split_once('-')?;
    let valid = created.len() == 20
        && created.bytes().all(|b| b.is_ascii_digit())
        && tag.len() == 8
        && tag.bytes().all(|b| b.is_ascii_hexdigit());
    valid.then(|| Some((format!("{PREFIX}{id_part}"), failures.parse().ok()?)))?
}

fn ns_of(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)).unwrap_or(0)
}

fn time_of(ns: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(ns.max(0) as u64)
}

fn sync_dir(dir: &Path) -> Result<(), DlqError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| io("syncing directory", dir, e))
}

#[cfg(unix)]
fn create_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new().recursive(true).mode(0o750).create(dir)
}

#[cfg(not(unix))]
fn create_dir(dir: &Path) -> std::io::Result<()> {
    fs::create_dir_all(dir)
}

fn create_file(path: &Path) -> std::io::Result<File> {
    let mut o = OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)
}

impl FsDeadLetterQueue {
    /// Opens (creating it, mode 0750) the queue in `dir`: indexes the batches there, removes
    /// temporary files an interrupted write left behind.
    pub fn open(dir: impl Into<PathBuf>, caps: Caps) -> Result<Self, DlqError> {
        let dir = dir.into();
        create_dir(&dir).map_err(|e| io("creating", &dir, e))?;
        let mut index: BTreeMap<String, Entry> = BTreeMap::new();
        for entry in fs::read_dir(&dir).map_err(|e| io("reading", &dir, e))? {
            let entry = entry.map_err(|e| io("reading", &dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            if name.starts_with(TEMP_PREFIX) {
                tracing::warn!(file = %path.display(), "removing an incomplete dead-letter write");
                let _ = fs::remove_file(&path);
                continue;
            }
            let Some((id, failures)) = parse_name(&name) else { continue };
            let meta = entry.metadata().map_err(|e| io("reading", &path, e))?;
            if !meta.is_file() {
                continue;
            }
            let last_attempt_ns = meta.modified().map(ns_of).unwrap_or(0);
            // Two names for one batch cannot come from this code (renames are atomic), but an
            // operator's copy can: keep the one with more failed replays.
            match index.get(&id) {
                Some(old) if old.failures >= failures => {
                    let _ = fs::remove_file(&path);
                    continue;
                }
                Some(old) => {
                    let _ = fs::remove_file(dir.join(file_name(&id, old.failures)));
                }
                None => {}
            }
            index.insert(id, Entry { failures, bytes: meta.len(), last_attempt_ns });
        }
        if !index.is_empty() {
            tracing::info!(batches = index.len(), dir = %dir.display(), "dead-letter queue holds batches to replay");
        }
        Ok(Self { inner: Arc::new(Inner { dir, caps, index: Mutex::new(index), seq: AtomicU32::new(0) }) })
    }

    /// The queue's directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    fn path(&self, id: &str, failures: u32) -> PathBuf {
        self.inner.dir.join(file_name(id, failures))
    }

    fn new_id(&self, now_ns: i64) -> String {
        let seq = self.inner.seq.fetch_add(1, Ordering::Relaxed);
        // Unique per process by the counter, across processes by the pid and time.
        let tag =
            (xxhash_rust::xxh3::xxh3_64(&[now_ns.to_le_bytes(), u64::from(std::process::id()).to_le_bytes()].concat())
                as u32)
                .wrapping_add(seq);
        format!("{PREFIX}{:020}-{tag:08x}", now_ns.max(0))
    }

    fn enqueue_blocking(&self, bytes: Vec<u8>, now_ns: i64) -> Result<Enqueued, DlqError> {
        let mut index = self.inner.index.lock();
        let mut id = self.new_id(now_ns);
        while index.contains_key(&id) {
            id = self.new_id(now_ns);
        }
        let sizes: Vec<u64> = index.values().map(|e| e.bytes).collect();
        let evict = evictions(&sizes, bytes.len() as u64, self.inner.caps);
        let mut out = Enqueued { id: id.clone(), bytes: bytes.len() as u64, ..Enqueued::default() };
        let victims: Vec<(String, Entry)> = index.iter().take(evict).map(|(k, v)| (k.clone(), v.clone())).collect();
        for (victim, e) in victims {
            match fs::remove_file(self.path(&victim, e.failures)) {
                Ok(()) => {}
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => return Err(io("evicting", &self.path(&victim, e.failures), err)),
            }
            tracing::warn!(batch = %victim, bytes = e.bytes, "dead-letter queue full: evicted the oldest batch");
            index.remove(&victim);
            out.evicted_files += 1;
            out.evicted_bytes += e.bytes;
        }
        let name = file_name(&id, 0);
        let temp = self.inner.dir.join(format!("{TEMP_PREFIX}{name}"));
        let write = || -> std::io::Result<()> {
            let mut f = create_file(&temp)?;
            f.write_all(&bytes)?;
            f.set_modified(time_of(now_ns))?;
            f.sync_all()
        };
        if let Err(e) = write() {
            let _ = fs::remove_file(&temp);
            return Err(io("writing", &temp, e));
        }
        let target = self.inner.dir.join(&name);
        if let Err(e) = fs::rename(&temp, &target) {
            let _ = fs::remove_file(&temp);
            return Err(io("renaming", &temp, e));
        }
        sync_dir(&self.inner.dir)?;
        index.insert(id, Entry { failures: 0, bytes: bytes.len() as u64, last_attempt_ns: now_ns });
        Ok(out)
    }

    fn entry(&self, id: &str) -> Result<Entry, DlqError> {
        self.inner.index.lock().get(id).cloned().ok_or_else(|| DlqError::NotFound(id.to_owned()))
    }

    fn load_blocking(&self, id: &str) -> Result<Vec<TenantBatch>, DlqError> {
        let e = self.entry(id)?;
        let path = self.path(id, e.failures);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                self.inner.index.lock().remove(id);
                return Err(DlqError::NotFound(id.to_owned()));
            }
            Err(err) => return Err(io("reading", &path, err)),
        };
        format::decode(&bytes).map_err(DlqError::Corrupt)
    }

    fn remove_blocking(&self, id: &str) -> Result<(), DlqError> {
        let mut index = self.inner.index.lock();
        let e = index.get(id).cloned().ok_or_else(|| DlqError::NotFound(id.to_owned()))?;
        let path = self.path(id, e.failures);
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(io("removing", &path, err)),
        }
        index.remove(id);
        sync_dir(&self.inner.dir)
    }

    fn record_failure_blocking(&self, id: &str, now_ns: i64) -> Result<DeadLetter, DlqError> {
        let mut index = self.inner.index.lock();
        let e = index.get_mut(id).ok_or_else(|| DlqError::NotFound(id.to_owned()))?;
        let from = self.path(id, e.failures);
        let failures = e.failures.saturating_add(1);
        let to = self.path(id, failures);
        fs::rename(&from, &to).map_err(|err| io("renaming", &from, err))?;
        // The modification time is the last attempt: the backoff restarts from now.
        let touched = OpenOptions::new().write(true).open(&to).and_then(|f| f.set_modified(time_of(now_ns)));
        if let Err(err) = touched {
            tracing::warn!(file = %to.display(), error = %err, "could not record the replay time of a dead-letter batch");
        }
        sync_dir(&self.inner.dir)?;
        e.failures = failures;
        e.last_attempt_ns = now_ns;
        Ok(e.to_port(id))
    }

    fn quarantine_blocking(&self, id: &str, reason: &str) -> Result<(), DlqError> {
        let mut index = self.inner.index.lock();
        let e = index.get(id).cloned().ok_or_else(|| DlqError::NotFound(id.to_owned()))?;
        let qdir = self.inner.dir.join(QUARANTINE_DIR);
        create_dir(&qdir).map_err(|err| io("creating", &qdir, err))?;
        let name = file_name(id, e.failures);
        let from = self.inner.dir.join(&name);
        fs::rename(&from, qdir.join(&name)).map_err(|err| io("quarantining", &from, err))?;
        let note = qdir.join(format!("{name}.reason"));
        if let Err(err) = fs::write(&note, format!("{reason}\n")) {
            tracing::warn!(file = %note.display(), error = %err, "could not write why a dead-letter batch was quarantined");
        }
        index.remove(id);
        sync_dir(&self.inner.dir)?;
        sync_dir(&qdir)
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(Self) -> Result<T, DlqError> + Send + 'static,
    ) -> Result<T, DlqError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || f(this))
            .await
            .unwrap_or_else(|e| Err(DlqError::Io(format!("dead-letter task failed: {e}"))))
    }
}

#[async_trait]
impl DeadLetterQueue for FsDeadLetterQueue {
    async fn enqueue(&self, batches: &[TenantBatch], now_ns: i64) -> Result<Enqueued, DlqError> {
        let bytes = format::encode(batches, now_ns);
        self.blocking(move |q| q.enqueue_blocking(bytes, now_ns)).await
    }

    async fn list(&self) -> Result<Vec<DeadLetter>, DlqError> {
        Ok(self.inner.index.lock().iter().map(|(id, e)| e.to_port(id)).collect())
    }

    async fn load(&self, id: &str) -> Result<Vec<TenantBatch>, DlqError> {
        let id = id.to_owned();
        self.blocking(move |q| q.load_blocking(&id)).await
    }

    async fn remove(&self, id: &str) -> Result<(), DlqError> {
        let id = id.to_owned();
        self.blocking(move |q| q.remove_blocking(&id)).await
    }

    async fn record_failure(&self, id: &str, now_ns: i64) -> Result<DeadLetter, DlqError> {
        let id = id.to_owned();
        self.blocking(move |q| q.record_failure_blocking(&id, now_ns)).await
    }

    async fn quarantine(&self, id: &str, reason: &str) -> Result<(), DlqError> {
        let (id, reason) = (id.to_owned(), reason.to_owned());
        self.blocking(move |q| q.quarantine_blocking(&id, &reason)).await
    }

    fn stats(&self) -> DlqStats {
        let index = self.inner.index.lock();
        DlqStats {
            files: index.len() as u64,
            bytes: index.values().map(|e| e.bytes).sum(),
            max_files: self.inner.caps.max_files as u64,
            max_bytes: self.inner.caps.max_bytes,
        }
    }
}

#[cfg(test)]
mod tests;
