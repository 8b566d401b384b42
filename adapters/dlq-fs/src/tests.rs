use super::*;
use otelcontext_domain::{AnyValue, StatusCode};
use otelcontext_ports::conformance::fixtures::{T0, bits, every_kind_of_point, log, rich_span, tenant, text_log};

fn batches() -> Vec<TenantBatch> {
    let mut a = TenantBatch::new(tenant("acme"));
    a.spans = vec![
        rich_span(1, 1, None, "checkout", T0, T0 + 50, StatusCode::Error),
        rich_span(1, 2, Some(1), "payments", T0 + 5, T0 + 40, StatusCode::Ok),
    ];
    a.logs = vec![
        text_log(1, "checkout", "payment failed for order 42"),
        log(2, "checkout", Some(AnyValue::Int(7)), Some((1, 1)), 17),
        log(3, "checkout", None, None, 0),
    ];
    let mut b = TenantBatch::new(tenant("globex"));
    b.metrics = every_kind_of_point();
    vec![a, b]
}

fn open(dir: &Path, caps: Caps) -> FsDeadLetterQueue {
    FsDeadLetterQueue::open(dir, caps).unwrap()
}

fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(SUFFIX))
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn a_batch_round_trips_with_every_field_and_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let q = open(dir.path(), Caps::default());
    let written = batches();
    let e = q.enqueue(&written, T0).await.unwrap();
    assert_eq!((e.evicted_files, e.evicted_bytes), (0, 0));
    let list = q.list().await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!((list[0].failures, list[0].last_attempt_ns, list[0].bytes), (0, T0, e.bytes));
    let back = q.load(&e.id).await.unwrap();
    assert_eq!(bits(&back), bits(&written));
    assert_eq!(q.stats().files, 1);
    assert_eq!(q.stats().bytes, e.bytes);
    q.remove(&e.id).await.unwrap();
    assert!(q.list().await.unwrap().is_empty());
    assert!(files(dir.path()).is_empty());
    assert_eq!(q.load(&e.id).await.unwrap_err(), DlqError::NotFound(e.id.clone()));
}

#[cfg(unix)]
#[tokio::test]
async fn files_are_private_and_named_oldest_first() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let q = open(&dir.path().join("dlq"), Caps::default());
    let late = q.enqueue(&batches(), T0 + 10).await.unwrap();
    let early = q.enqueue(&batches(), T0).await.unwrap();
    let ids: Vec<String> = q.list().await.unwrap().into_iter().map(|d| d.id).collect();
    assert_eq!(ids, vec![early.id.clone(), late.id.clone()]);
    let names = files(q.dir());
    assert_eq!(names.len(), 2);
    assert!(names[0].starts_with(&early.id) && names[0].ends_with(".r0.dlq"), "{names:?}");
    let mode = fs::metadata(q.dir().join(&names[0])).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let dir_mode = fs::metadata(q.dir()).unwrap().permissions().mode() & 0o777;
    assert_eq!(dir_mode, 0o750);
}

#[tokio::test]
async fn failures_and_their_time_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let q = open(dir.path(), Caps::default());
    let e = q.enqueue(&batches(), T0).await.unwrap();
    q.record_failure(&e.id, T0 + 1_000_000_000).await.unwrap();
    let d = q.record_failure(&e.id, T0 + 3_000_000_000).await.unwrap();
    assert_eq!((d.failures, d.last_attempt_ns), (2, T0 + 3_000_000_000));
    drop(q);
    let q = open(dir.path(), Caps::default());
    let list = q.list().await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].id, e.id);
    assert_eq!(list[0].failures, 2);
    // File times have a coarser resolution on some file systems.
    assert!((list[0].last_attempt_ns - (T0 + 3_000_000_000)).abs() < 1_000_000_000, "{:?}", list[0]);
    assert_eq!(bits(&q.load(&e.id).await.unwrap()), bits(&batches()));
}

#[tokio::test]
async fn the_oldest_batches_are_evicted_at_the_file_and_byte_caps() {
    let dir = tempfile::tempdir().unwrap();
    let q = open(dir.path(), Caps { max_files: 2, max_bytes: 0 });
    let first = q.enqueue(&batches(), T0).await.unwrap();
    let second = q.enqueue(&batches(), T0 + 1).await.unwrap();
    let third = q.enqueue(&batches(), T0 + 2).await.unwrap();
    assert_eq!((third.evicted_files, third.evicted_bytes), (1, first.bytes));
    let ids: Vec<String> = q.list().await.unwrap().into_iter().map(|d| d.id).collect();
    assert_eq!(ids, vec![second.id.clone(), third.id.clone()]);
    assert_eq!(files(dir.path()).len(), 2);

    let dir = tempfile::tempdir().unwrap();
    let size = format::encode(&batches(), T0).len() as u64;
    let q = open(dir.path(), Caps { max_files: 0, max_bytes: size * 2 + size / 2 });
    for n in 0..5 {
        q.enqueue(&batches(), T0 + n).await.unwrap();
    }
    let s = q.stats();
    assert_eq!(s.files, 2);
    assert!(s.bytes <= s.max_bytes);
    assert!(s.fullness() > 0.7 && s.fullness() <= 1.0, "{s:?}");
    // A batch bigger than the whole budget is still kept (alone).
    let small = tempfile::tempdir().unwrap();
    let q = open(small.path(), Caps { max_files: 0, max_bytes: 10 });
    q.enqueue(&batches(), T0).await.unwrap();
    let e = q.enqueue(&batches(), T0 + 1).await.unwrap();
    assert_eq!(e.evicted_files, 1);
    assert_eq!(q.stats().files, 1);
}

#[tokio::test]
async fn damaged_files_are_corrupt_and_quarantined_never_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let q = open(dir.path(), Caps::default());
    let e = q.enqueue(&batches(), T0).await.unwrap();
    let path = dir.path().join(&files(dir.path())[0]);
    let good = fs::read(&path).unwrap();
    let mut damaged: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"not json at all".to_vec(),
        good[..good.len() / 2].to_vec(),
        good.iter().chain(b"trailing").copied().collect(),
    ];
    let mut flipped = good.clone();
    let at = good.len() - 20;
    flipped[at] ^= 0x01;
    damaged.push(flipped);
    let newer = String::from_utf8(good.clone()).unwrap().replacen("\"version\":1", "\"version\":9", 1);
    damaged.push(newer.into_bytes());
    for bytes in damaged {
        fs::write(&path, &bytes).unwrap();
        assert!(matches!(q.load(&e.id).await, Err(DlqError::Corrupt(_))), "{:?}", String::from_utf8_lossy(&bytes));
    }
    q.quarantine(&e.id, "body checksum mismatch").await.unwrap();
    assert!(q.list().await.unwrap().is_empty());
    assert!(files(dir.path()).is_empty());
    let qdir = dir.path().join(QUARANTINE_DIR);
    let moved = files(&qdir);
    assert_eq!(moved.len(), 1);
    let reason = fs::read_to_string(qdir.join(format!("{}.reason", moved[0]))).unwrap();
    assert!(reason.contains("checksum"));
    // Quarantined files are not picked up again at the next start.
    assert!(open(dir.path(), Caps::default()).list().await.unwrap().is_empty());
}

#[tokio::test]
async fn leftovers_of_a_crash_are_removed_and_foreign_files_ignored() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(".tmp-batch-00000000000000000001-0000000a.r0.dlq"), b"half").unwrap();
    fs::write(dir.path().join("notes.txt"), b"operator notes").unwrap();
    fs::write(dir.path().join("batch-12.r0.dlq"), b"odd name").unwrap();
    let q = open(dir.path(), Caps::default());
    assert!(q.list().await.unwrap().is_empty());
    assert!(!dir.path().join(".tmp-batch-00000000000000000001-0000000a.r0.dlq").exists());
    assert!(dir.path().join("notes.txt").exists());
}

#[tokio::test]
async fn an_unwritable_queue_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let qdir = dir.path().join("dlq");
    let q = open(&qdir, Caps::default());
    fs::remove_dir(&qdir).unwrap();
    fs::write(&qdir, b"a file where the directory was").unwrap();
    let err = q.enqueue(&batches(), T0).await.unwrap_err();
    assert!(matches!(err, DlqError::Io(_)), "{err:?}");
    assert_eq!(q.stats().files, 0);
    let blocked = dir.path().join("file");
    fs::write(&blocked, b"x").unwrap();
    assert!(matches!(FsDeadLetterQueue::open(blocked.join("dlq"), Caps::default()), Err(DlqError::Io(_))));
}

#[test]
fn names_parse_only_in_the_queue_format() {
    let id = "batch-00000001764000000000-0a1b2c3d";
    assert_eq!(parse_name(&format!("{id}.r0.dlq")), Some((id.to_owned(), 0)));
    assert_eq!(parse_name(&format!("{id}.r17.dlq")), Some((id.to_owned(), 17)));
    for bad in [
        "batch-00000001764000000000-0a1b2c3d.dlq",
        "batch-00000001764000000000-0a1b2c3d.rx.dlq",
        "batch-1764-0a1b2c3d.r0.dlq",
        "batch-00000001764000000000-zzzzzzzz.r0.dlq",
        "batch-00000001764000000000-0a1b2c3d.r0.json",
        "other-00000001764000000000-0a1b2c3d.r0.dlq",
    ] {
        assert_eq!(parse_name(bad), None, "{bad}");
    }
}
