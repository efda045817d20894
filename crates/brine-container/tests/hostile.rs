#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]
//! Hostile inputs made in Rust: limits (ratio, total size, depth, members), lz4, mutations of
//! every corpus file (no panic), and the layout API the tensor reader builds on.

use std::fs;
use std::io::Write;
use std::path::PathBuf;

use brine::scan::{Policy, Verdict};
use brine_container::{scan_file, torch, zip, FileReport, Kind, Limits};

const OS_SYSTEM: &[u8] = b"cos\nsystem\n(S'id'\ntR.";

fn corpus(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/containers");
    fs::read(p.join(name)).unwrap()
}

fn scan(data: &[u8], limits: &Limits) -> FileReport {
    scan_file("f", data, &Policy::default(), limits)
}

fn all_rules(r: &FileReport) -> Vec<&'static str> {
    let mut v: Vec<_> = r.findings.iter().map(|f| f.rule).collect();
    for m in &r.members {
        v.extend(m.findings.iter().map(|f| f.rule));
    }
    v
}

/// A zip (stored or deflated) of the given members, written by hand.
fn zip_of(members: &[(&str, &[u8])], deflate: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in members {
        let body = if deflate {
            let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        } else {
            data.to_vec()
        };
        let crc = crc32(data);
        let offset = out.len() as u32;
        let method: u16 = if deflate { 8 } else { 0 };
        let mut h = Vec::new();
        h.extend_from_slice(b"PK\x03\x04\x14\x00\x00\x00");
        h.extend_from_slice(&method.to_le_bytes());
        h.extend_from_slice(&[0; 4]);
        h.extend_from_slice(&crc.to_le_bytes());
        h.extend_from_slice(&(body.len() as u32).to_le_bytes());
        h.extend_from_slice(&(data.len() as u32).to_le_bytes());
        h.extend_from_slice(&(name.len() as u16).to_le_bytes());
        h.extend_from_slice(&0u16.to_le_bytes());
        h.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&h);
        out.extend_from_slice(&body);
        central.extend_from_slice(b"PK\x01\x02\x14\x00\x14\x00\x00\x00");
        central.extend_from_slice(&method.to_le_bytes());
        central.extend_from_slice(&[0; 4]);
        central.extend_from_slice(&crc.to_le_bytes());
        central.extend_from_slice(&(body.len() as u32).to_le_bytes());
        central.extend_from_slice(&(data.len() as u32).to_le_bytes());
        central.extend_from_slice(&(name.len() as u16).to_le_bytes());
        central.extend_from_slice(&[0; 12]);
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let cd_offset = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(b"PK\x05\x06\0\0\0\0");
    let n = members.len() as u16;
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

fn crc32(d: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(d);
    h.finalize()
}

#[test]
fn our_zip_writer_reads_back() {
    let z = zip_of(&[("a.pkl", b"N."), ("b", b"xyz")], true);
    let a = zip::parse(&z);
    assert!(a.findings.is_empty(), "{:?}", a.findings);
    assert_eq!(a.entries.len(), 2);
    assert_eq!(&*a.entries[1].read(100).unwrap(), b"xyz");
}

#[test]
fn deflate_bomb_stops_at_the_ratio() {
    let zeros = vec![0u8; 8 << 20];
    let z = zip_of(&[("zeros", &zeros)], true);
    let limits = Limits {
        ratio_floor: 1 << 20,
        max_ratio: 100,
        ..Limits::default()
    };
    let r = scan(&z, &limits);
    assert_eq!(r.verdict, Verdict::Suspicious);
    assert!(all_rules(&r).contains(&"compression-ratio"), "{r:?}");
    let m = &r.members[0];
    assert!(m.size <= limits.ratio_cap(z.len() as u64), "{}", m.size);
    assert!(m.size < zeros.len() as u64);
    // Under the default limits the same file is fine (8 MiB is below the ratio floor).
    assert_eq!(scan(&z, &Limits::default()).verdict, Verdict::Safe);
}

#[test]
fn total_decompressed_limit() {
    let data = vec![7u8; 1 << 20];
    let z = zip_of(&[("a", &data), ("b", &data), ("c", &data)], true);
    let limits = Limits {
        max_decompressed_bytes: (2 << 20) + 10,
        ..Limits::default()
    };
    let r = scan(&z, &limits);
    assert!(all_rules(&r).contains(&"decompressed-size-limit"), "{r:?}");
    assert_eq!(r.verdict, Verdict::Suspicious);
}

#[test]
fn depth_limit() {
    let mut z = zip_of(&[("evil.pkl", OS_SYSTEM)], false);
    for i in 0..10 {
        z = zip_of(&[(&format!("level{i}.zip"), &z)], i % 2 == 0);
    }
    let r = scan(&z, &Limits::default());
    assert!(all_rules(&r).contains(&"nesting-depth-limit"));
    assert_eq!(r.verdict, Verdict::Suspicious);
    let deep = Limits {
        max_depth: 20,
        ..Limits::default()
    };
    let r = scan(&z, &deep);
    assert_eq!(r.verdict, Verdict::Malicious);
    let last = r.members.last().unwrap();
    assert_eq!(last.path.matches('!').count(), 11, "{}", last.path);
    assert!(last.path.ends_with("level0.zip!evil.pkl"));
}

#[test]
fn member_limit() {
    let names: Vec<String> = (0..50).map(|i| format!("m{i}")).collect();
    let members: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b"N."[..])).collect();
    let z = zip_of(&members, false);
    let r = scan(
        &z,
        &Limits {
            max_members: 10,
            ..Limits::default()
        },
    );
    assert_eq!(r.members.len(), 10);
    assert!(r.findings.iter().any(|f| f.rule == "member-limit"));
    assert_eq!(r.verdict, Verdict::Suspicious);
}

#[test]
fn lz4_frame() {
    let mut e = lz4_flex::frame::FrameEncoder::new(Vec::new());
    e.write_all(OS_SYSTEM).unwrap();
    let data = e.finish().unwrap();
    let r = scan(&data, &Limits::default());
    assert_eq!(r.kind.name(), "lz4");
    assert_eq!(r.verdict, Verdict::Malicious);
    assert_eq!(r.members[0].path, "f!<lz4>");
}

#[test]
fn not_a_pickle_is_an_error_at_top_level_and_data_inside() {
    let r = scan(b"hello world\n", &Limits::default());
    assert_eq!((r.kind, r.verdict), (Kind::Pickle, Verdict::Error));
    let z = zip_of(&[("readme", b"hello world\n")], false);
    let r = scan(&z, &Limits::default());
    assert_eq!(r.verdict, Verdict::Safe);
    assert_eq!(r.members[0].kind, Kind::Data);
}

#[test]
fn torch_layout_borrows_aligned_storages() {
    let data = corpus("torch_zip_benign.pt");
    let a = zip::parse(&data);
    let t = torch::zip_layout(&a).unwrap();
    assert_eq!(t.prefix, "archive/");
    assert!(!t.torchscript);
    assert_eq!(t.byteorder, Some(&b"little"[..]));
    let s = t.storage("0").unwrap();
    assert_eq!(s.data_offset().unwrap() % 64, 0);
    let bytes = s.read(u64::MAX).unwrap();
    assert!(matches!(bytes, std::borrow::Cow::Borrowed(_)));
    let floats: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(floats, [1.0, 2.0, 3.0, 4.0]);
}

#[test]
fn legacy_layout_finds_the_storages() {
    let data = corpus("legacy_torch_benign.pt");
    let l = torch::legacy_layout(&data);
    assert_eq!(l.pickles.len(), 5);
    assert_eq!(l.problem, None);
    assert_eq!(l.storages.len(), 1);
    let (key, count, range) = &l.storages[0];
    assert_eq!((key.as_str(), *count, range.len()), ("0", 4, 16));
    assert_eq!(range.end, data.len());
}

/// Cheap in-test fuzzing: every corpus file with bytes flipped, cut and duplicated must scan
/// without panicking.
#[test]
fn mutations_never_panic() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/containers");
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let limits = Limits {
        max_decompressed_bytes: 64 << 20,
        ..Limits::default()
    };
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let data = fs::read(&path).unwrap();
        if data.is_empty() || data.len() > 20_000 {
            continue;
        }
        for _ in 0..100 {
            let mut d = data.clone();
            match next() % 4 {
                0 => {
                    for _ in 0..1 + next() % 4 {
                        let i = (next() as usize) % d.len();
                        d[i] ^= (next() % 255 + 1) as u8;
                    }
                }
                1 => d.truncate((next() as usize) % d.len()),
                2 => {
                    let i = (next() as usize) % d.len();
                    let v = [0xffu8, 0x00, 0x7f, 0x80][(next() % 4) as usize];
                    for b in d.iter_mut().skip(i).take(4) {
                        *b = v;
                    }
                }
                _ => {
                    let i = (next() as usize) % d.len();
                    let chunk = d[i..].to_vec();
                    d.extend_from_slice(&chunk);
                }
            }
            let _ = scan(&d, &limits);
        }
    }
}

/// Reading sparsely (storages left unread) gives exactly the report of a full read, for every
/// corpus file, and really leaves the storage bytes unread.
#[test]
fn sparse_read_scans_like_a_full_read() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/containers");
    let policy = Policy::default();
    let limits = Limits::default();
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let full = fs::read(&path).unwrap();
        let sparse = brine_container::read_for_scan(&path, 0).unwrap();
        assert_eq!(full.len(), sparse.len());
        let a = scan_file("f", &full, &policy, &limits);
        let b = scan_file("f", &sparse, &policy, &limits);
        assert_eq!(a, b, "{}", path.display());
    }
    // A checkpoint with 1 MiB of storage: it is not read (the ends, 128 KiB each, are).
    let data_pkl = zip::parse(&corpus("torch_zip_benign.pt"))
        .by_name("archive/data.pkl")
        .unwrap()
        .data
        .unwrap()
        .to_vec();
    let storage = vec![0xabu8; 1 << 20];
    let z = zip_of(
        &[
            ("ckpt/data.pkl", &data_pkl),
            ("ckpt/data/0", &storage),
            ("ckpt/evil.pkl", OS_SYSTEM),
        ],
        false,
    );
    let tmp = std::env::temp_dir().join(format!("brine-sparse-{}.pt", std::process::id()));
    fs::write(&tmp, &z).unwrap();
    let sparse = brine_container::read_for_scan(&tmp, 0).unwrap();
    fs::remove_file(&tmp).unwrap();
    let a = scan_file("f", &z, &policy, &limits);
    assert_eq!(a, scan_file("f", &sparse, &policy, &limits));
    assert_eq!(a.verdict, Verdict::Malicious);
    let archive = zip::parse(&z);
    let s = archive.by_name("ckpt/data/0").unwrap();
    let at = s.data_offset().unwrap() as usize;
    let end = at + storage.len();
    // The ends of the file (128 KiB each) are read whatever they hold; the rest of the
    // storage is not.
    let unread = (at.max(128 << 10))..(end.min(z.len() - (128 << 10)));
    assert!(unread.len() > 700_000);
    assert!(
        sparse[unread.clone()].iter().all(|&b| b == 0),
        "the storage was read"
    );
    assert!(sparse[at..unread.start].iter().all(|&b| b == 0xab));
    assert!(z[..at] == sparse[..at] && z[end..] == sparse[end..]);
    // Below the threshold the file is read whole.
    let p = dir.join("torch_zip_benign.pt");
    assert_eq!(
        brine_container::read_for_scan(&p, 1 << 40).unwrap(),
        fs::read(&p).unwrap()
    );
}

/// A pickle whose central directory entry is named like a storage but whose local header
/// says otherwise is scanned, not skipped.
#[test]
fn storage_named_only_in_one_directory_is_scanned() {
    let benign = corpus("plain_benign.pkl");
    let mut z = zip_of(
        &[("ckpt/data.pkl", &benign), ("ckpt/data/0", OS_SYSTEM)],
        false,
    );
    let at = memchr::memmem::find(&z, b"ckpt/data/0").unwrap();
    z[at..at + 11].copy_from_slice(b"ckpt/evil.p");
    let r = scan(&z, &Limits::default());
    assert_eq!(r.kind, Kind::TorchZip);
    assert_eq!(r.verdict, Verdict::Malicious, "{r:?}");
    assert!(all_rules(&r).contains(&"zip-name-mismatch"));
    // Untouched, the same member is a storage and skipped.
    let z = zip_of(
        &[("ckpt/data.pkl", &benign), ("ckpt/data/0", OS_SYSTEM)],
        false,
    );
    let r = scan(&z, &Limits::default());
    assert_eq!(r.verdict, Verdict::Safe);
    assert_eq!(r.members[1].kind, Kind::Storage);
}

#[test]
fn old_tar_checkpoint_records() {
    let data = corpus("torch_tar_benign.pt");
    let (entries, findings) = brine_container::tar::parse(&data);
    assert!(findings.is_empty(), "{findings:?}");
    let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    assert!(torch::is_legacy_tar(names.iter().copied()));
    let storages = entries.iter().find(|e| e.name == "storages").unwrap();
    let s = torch::legacy_tar_stream(storages.data, torch::TarMember::Storages);
    assert_eq!(s.problem, None);
    // The count, the record, and the storage views after the last record.
    assert_eq!((s.pickles.len(), s.raw.len()), (3, 1));
    assert_eq!(s.raw[0].len(), 8 + 16);
    assert_eq!(s.end, storages.data.len());
    // Without the storage views, the layout is not torch's.
    let views = s.pickles[2].clone();
    let short = torch::legacy_tar_stream(&storages.data[..views.start], torch::TarMember::Storages);
    assert!(short.problem.unwrap().contains("the storage views"));
    let tensors = entries.iter().find(|e| e.name == "tensors").unwrap();
    let t = torch::legacy_tar_stream(tensors.data, torch::TarMember::Tensors);
    assert_eq!(t.problem, None);
    assert_eq!(t.raw[0].len(), 8 + 2 * 16 + 8);
    // Cut inside the raw record: reported, not a panic.
    let cut = torch::legacy_tar_stream(
        &storages.data[..views.start - 3],
        torch::TarMember::Storages,
    );
    assert!(cut.problem.unwrap().contains("runs past the end"));
}
