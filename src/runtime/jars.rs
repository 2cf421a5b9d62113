//! The Java artifacts drivers load (S3A, Iceberg, Delta, Hudi): pinned with their SHA-256 in
//! `jars.lock`, fetched from Maven Central at provisioning, never at session start.
//!
//! Maven itself does the fetching: it is the ordinary client for Maven Central, it honours the
//! user's `~/.m2/settings.xml` (mirrors, proxies, credentials) and prints download progress.
//! epoxy then checks every file against its pin, so a corrupt or substituted download is refused
//! by name, and a retry fetches only what is still missing. Jars placed into the jars directory
//! by hand (an offline machine) are accepted when their checksum matches.

use super::provision::{ProvisionError, io_err};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The pins, embedded so a binary always provisions exactly the jars it was built for.
pub const JARS_LOCK: &str = include_str!("../../jars.lock");

/// One pinned artifact.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JarPin {
    /// Who loads it: `s3a` (every driver) or a `--datalake-formats` name.
    pub set: String,
    /// `group:artifact:version`.
    pub coordinates: String,
    pub sha256: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LockFile {
    jar: Vec<JarPin>,
}

impl JarPin {
    fn parts(&self) -> (&str, &str, &str) {
        let mut it = self.coordinates.splitn(3, ':');
        let group = it.next().unwrap_or_default();
        let artifact = it.next().unwrap_or_default();
        let version = it.next().unwrap_or_default();
        (group, artifact, version)
    }

    /// The file name Maven gives the jar (`artifact-version.jar`).
    pub fn file_name(&self) -> String {
        let (_, artifact, version) = self.parts();
        format!("{artifact}-{version}.jar")
    }

    /// Where Maven's local repository keeps it (removed when its checksum is wrong).
    fn repository_path(&self, repository: &Path) -> PathBuf {
        let (group, artifact, version) = self.parts();
        let mut path = repository.to_path_buf();
        path.extend(group.split('.'));
        path.push(artifact);
        path.push(version);
        path.push(self.file_name());
        path
    }
}

/// Parses and checks `jars.lock`: coordinates of three safe parts, 64 hex digits of SHA-256.
pub fn parse_lock(text: &str) -> Result<Vec<JarPin>, String> {
    let lock: LockFile = toml::from_str(text).map_err(|e| format!("jars.lock: {e}"))?;
    for pin in &lock.jar {
        let parts: Vec<&str> = pin.coordinates.split(':').collect();
        let safe = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        };
        if parts.len() != 3
            || !parts.iter().all(|p| safe(p))
            || parts.iter().any(|p| p.contains(".."))
        {
            return Err(format!(
                "jars.lock: `{}` is not group:artifact:version",
                pin.coordinates
            ));
        }
        if pin.sha256.len() != 64 || !pin.sha256.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(format!(
                "jars.lock: the sha256 of {} is not 64 hex digits",
                pin.coordinates
            ));
        }
    }
    Ok(lock.jar)
}

/// Provisioned jars by set name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Jars {
    pub by_set: BTreeMap<String, Vec<PathBuf>>,
}

impl Jars {
    /// The jars of `set`, empty for a set the lock does not have.
    pub fn set(&self, set: &str) -> &[PathBuf] {
        self.by_set.get(set).map_or(&[], Vec::as_slice)
    }
}

/// Makes sure every pinned jar is in `jars_dir` with the right checksum, fetching what is not.
pub fn ensure_jars(jars_dir: &Path) -> Result<Jars, ProvisionError> {
    let pins = parse_lock(JARS_LOCK).map_err(ProvisionError::Jars)?;
    std::fs::create_dir_all(jars_dir).map_err(io_err(jars_dir))?;
    let mut missing = Vec::new();
    for pin in &pins {
        if !verified(jars_dir, pin)? {
            missing.push(pin.clone());
        }
    }
    if !missing.is_empty() {
        fetch(&missing, jars_dir, &jars_dir.join(".maven"))?;
    }
    let mut jars = Jars::default();
    for pin in pins {
        let path = jars_dir.join(pin.file_name());
        jars.by_set.entry(pin.set).or_default().push(path);
    }
    Ok(jars)
}

/// The marker written once a jar's checksum was checked: `<sha256> <size>`, so later starts
/// need not hash hundreds of megabytes again.
fn marker_path(jars_dir: &Path, pin: &JarPin) -> PathBuf {
    jars_dir.join(format!("{}.verified", pin.file_name()))
}

/// Whether the jar is present and matches its pin (hashing it once when no marker says so).
fn verified(jars_dir: &Path, pin: &JarPin) -> Result<bool, ProvisionError> {
    let path = jars_dir.join(pin.file_name());
    let Ok(meta) = std::fs::metadata(&path) else {
        return Ok(false);
    };
    let marker = marker_path(jars_dir, pin);
    let expected_marker = format!("{} {}", pin.sha256, meta.len());
    if std::fs::read_to_string(&marker).is_ok_and(|m| m.trim() == expected_marker) {
        return Ok(true);
    }
    if sha256_of(&path)? != pin.sha256.to_ascii_lowercase() {
        tracing::warn!(jar = %path.display(), "checksum mismatch; fetching it again");
        std::fs::remove_file(&path).map_err(io_err(&path))?;
        return Ok(false);
    }
    std::fs::write(&marker, expected_marker).map_err(io_err(&marker))?;
    Ok(true)
}

fn sha256_of(path: &Path) -> Result<String, ProvisionError> {
    let mut file = std::fs::File::open(path).map_err(io_err(path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(io_err(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// A throw-away POM naming exactly the missing artifacts (no transitive dependencies: each
/// pinned jar is self-contained, and the lock lists all of them).
fn pom(missing: &[JarPin]) -> String {
    let mut deps = String::new();
    for pin in missing {
        let (group, artifact, version) = pin.parts();
        deps.push_str(&format!(
            "    <dependency><groupId>{group}</groupId><artifactId>{artifact}</artifactId><version>{version}</version></dependency>\n"
        ));
    }
    format!(
        "<project xmlns=\"http://maven.apache.org/POM/4.0.0\">\n  <modelVersion>4.0.0</modelVersion>\n  <groupId>epoxy</groupId><artifactId>driver-jars</artifactId><version>1</version><packaging>pom</packaging>\n  <dependencies>\n{deps}  </dependencies>\n</project>\n"
    )
}

fn fetch(missing: &[JarPin], jars_dir: &Path, repository: &Path) -> Result<(), ProvisionError> {
    let names: Vec<&str> = missing.iter().map(|p| p.coordinates.as_str()).collect();
    eprintln!(
        "epoxy: fetching {} jar(s) from Maven Central with Maven: {}",
        missing.len(),
        names.join(", ")
    );
    let work = jars_dir.join(".fetch");
    if work.exists() {
        std::fs::remove_dir_all(&work).map_err(io_err(&work))?;
    }
    let incoming = work.join("out");
    std::fs::create_dir_all(&incoming).map_err(io_err(&incoming))?;
    let pom_path = work.join("pom.xml");
    std::fs::write(&pom_path, pom(missing)).map_err(io_err(&pom_path))?;
    let mvn = std::env::var_os("EPOXY_MVN").unwrap_or_else(|| "mvn".into());
    // Maven's output is progress for a person: on stderr, so stdout keeps only what epoxy prints.
    let status = Command::new(&mvn)
        .stdout(std::io::stderr())
        .arg("-B")
        .arg("-Dstyle.color=never")
        .arg("-f")
        .arg(&pom_path)
        .arg(format!("-Dmaven.repo.local={}", repository.display()))
        .arg("dependency:copy-dependencies")
        .arg("-DexcludeTransitive=true")
        .arg(format!("-DoutputDirectory={}", incoming.display()))
        .status()
        .map_err(|e| {
            ProvisionError::Jars(format!(
                "Maven (`{}`) is needed to fetch {} from Maven Central but could not run ({e}); install it (e.g. `apt-get install maven`), or put those jars into {} by hand",
                mvn.to_string_lossy(),
                names.join(", "),
                jars_dir.display()
            ))
        })?;
    if !status.success() {
        return Err(ProvisionError::Jars(format!(
            "Maven could not fetch {} ({status}); its output above says why. Run the command again to resume",
            names.join(", ")
        )));
    }
    for pin in missing {
        let path = incoming.join(pin.file_name());
        if !path.exists() {
            return Err(ProvisionError::Jars(format!(
                "Maven finished but did not deliver {}",
                pin.coordinates
            )));
        }
        let actual = sha256_of(&path)?;
        if actual != pin.sha256.to_ascii_lowercase() {
            // Neither copy may be trusted again: the next run downloads it afresh.
            let _ = std::fs::remove_file(&path);
            let _ = std::fs::remove_file(pin.repository_path(repository));
            return Err(ProvisionError::Jars(format!(
                "{} has SHA-256 {actual}, but jars.lock pins {}; the download was removed, run the command again to fetch it afresh",
                pin.coordinates, pin.sha256
            )));
        }
        let dest = jars_dir.join(pin.file_name());
        std::fs::rename(&path, &dest).map_err(io_err(&dest))?;
        let marker = marker_path(jars_dir, pin);
        let size = std::fs::metadata(&dest).map_err(io_err(&dest))?.len();
        std::fs::write(&marker, format!("{} {size}", pin.sha256)).map_err(io_err(&marker))?;
    }
    // Every jar is verified in place: Maven's copies would only double the disk used. (A failed
    // run keeps them, so the next one resumes without downloading them again.)
    for dir in [&work, &repository.to_path_buf()] {
        std::fs::remove_dir_all(dir).map_err(io_err(dir))?;
    }
    eprintln!("epoxy: jars ready in {}", jars_dir.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pin(set: &str, coordinates: &str, sha256: &str) -> JarPin {
        JarPin {
            set: set.into(),
            coordinates: coordinates.into(),
            sha256: sha256.into(),
        }
    }

    #[test]
    fn the_shipped_lock_parses() {
        let pins = parse_lock(JARS_LOCK).unwrap();
        let sets: std::collections::BTreeSet<_> = pins.iter().map(|p| p.set.as_str()).collect();
        assert_eq!(
            sets.into_iter().collect::<Vec<_>>(),
            ["delta", "hudi", "iceberg", "s3a"]
        );
        assert!(
            pins.iter()
                .any(|p| p.file_name() == "hadoop-aws-3.3.4.jar" && p.set == "s3a")
        );
    }

    #[test]
    fn bad_locks_are_refused_by_name() {
        let text = "[[jar]]\nset = \"s3a\"\ncoordinates = \"a:b\"\nsha256 = \"00\"\n";
        assert!(parse_lock(text).unwrap_err().contains("a:b"));
        let text = format!(
            "[[jar]]\nset = \"s3a\"\ncoordinates = \"../x:b:1\"\nsha256 = \"{}\"\n",
            "0".repeat(64)
        );
        assert!(parse_lock(&text).unwrap_err().contains("../x:b:1"));
        let text = "[[jar]]\nset = \"s3a\"\ncoordinates = \"g:a:1\"\nsha256 = \"xyz\"\n";
        assert!(parse_lock(text).unwrap_err().contains("g:a:1"));
    }

    #[test]
    fn a_jar_placed_by_hand_is_checked_and_remembered() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a-1.jar"), b"jar bytes").unwrap();
        let good = pin("s3a", "g:a:1", &hex::encode(Sha256::digest(b"jar bytes")));
        assert!(verified(dir.path(), &good).unwrap());
        assert!(marker_path(dir.path(), &good).exists());
        assert!(verified(dir.path(), &good).unwrap());
        // A wrong file is removed, so the next fetch replaces it.
        let bad = pin("s3a", "g:a:1", &"0".repeat(64));
        std::fs::remove_file(marker_path(dir.path(), &good)).unwrap();
        assert!(!verified(dir.path(), &bad).unwrap());
        assert!(!dir.path().join("a-1.jar").exists());
    }

    #[test]
    fn repository_layout_is_mavens() {
        let p = pin("s3a", "org.apache.hadoop:hadoop-aws:3.3.4", &"0".repeat(64));
        assert_eq!(
            p.repository_path(Path::new("/r")),
            Path::new("/r/org/apache/hadoop/hadoop-aws/3.3.4/hadoop-aws-3.3.4.jar")
        );
        assert!(pom(&[p]).contains("<artifactId>hadoop-aws</artifactId><version>3.3.4</version>"));
    }
}
