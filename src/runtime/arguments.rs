//! A session's DefaultArguments as its driver needs them: the user's arguments for `sys.argv`,
//! and the Glue arguments epoxy interprets itself (files, jars, Python modules, language).
//! The exact rule is written down in docs/GLUE-COMPATIBILITY.md, "Session arguments and sys.argv".

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// `sys.argv[0]` of every session: sessions run no script file, so no real path fits.
pub const PROGRAM_NAME: &str = "epoxy-session";

/// Arguments `awsglue.utils.getResolvedOptions` registers itself: scripts read them, so they
/// stay in `sys.argv`, spelled as Glue spells them (argparse matches option names exactly).
const SCRIPT_VISIBLE: &[&str] = &[
    "job-bookmark-option",
    "continuation-option",
    "job-bookmark-from",
    "job-bookmark-to",
    "JOB_ID",
    "JOB_RUN_ID",
    "SECURITY_CONFIGURATION",
    "encryption-type",
    "enable-data-lineage",
    "RedshiftTempDir",
    "TempDir",
];

/// Arguments that configure the environment (Glue's "special parameters"): epoxy or Glue
/// interprets them before user code runs, so they are not echoed to `sys.argv`. Besides
/// these, every `--enable-*` flag (monitoring, UI, committers) is reserved.
const RESERVED: &[&str] = &[
    "conf",
    "additional-python-modules",
    "python-modules-installer-option",
    "extra-py-files",
    "extra-files",
    "extra-jars",
    "user-jars-first",
    "datalake-formats",
    "session-language",
    "job-language",
    "glue_kernel_version",
    "scriptLocation",
    "class",
    "continuous-log-logGroup",
    "continuous-log-logStreamPrefix",
    "continuous-log-conversionPattern",
    "spark-event-logs-path",
    "executor-cores",
    "write-shuffle-files-to-s3",
    "write-shuffle-spills-to-s3",
    "customer-driver-env-vars",
    "customer-executor-env-vars",
    "auto-scale-within-microbatch",
    "disable-proxy-v2",
    "use-postgres-driver",
];

/// Why a session's arguments cannot run on epoxy; the session goes FAILED with this message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgumentError {
    #[error(
        "Scala sessions are not supported: epoxy runs PySpark sessions only (DefaultArguments {0} scala)"
    )]
    Scala(String),
    #[error(
        "DefaultArguments {argument}: {path} is an s3:// path; epoxy takes this argument from local files only. Use a local path or a file:// URL"
    )]
    S3Path { argument: String, path: String },
    #[error(
        "DefaultArguments {argument}: {path} is not a local path or file:// URL (only local files are supported)"
    )]
    NotLocal { argument: String, path: String },
    #[error("DefaultArguments {argument}: {path} does not exist")]
    Missing { argument: String, path: String },
    #[error("DefaultArguments {argument}: {path} has an unsupported type (expected {expected})")]
    WrongType {
        argument: String,
        path: String,
        expected: &'static str,
    },
    #[error("DefaultArguments --user-jars-first must be true or false, not {0:?}")]
    Flag(String),
    #[error(
        "DefaultArguments --datalake-formats: {0:?} is not a data lake format epoxy offers (iceberg, delta, hudi)"
    )]
    DatalakeFormat(String),
}

/// The formats `--datalake-formats` may name: each is a jar set in `jars.lock`.
pub const DATALAKE_FORMATS: &[&str] = &["iceberg", "delta", "hudi"];

/// `--datalake-formats iceberg,Delta`: a comma list, case-insensitive, empty entries ignored.
fn datalake_formats(value: &str) -> Result<BTreeSet<String>, ArgumentError> {
    let mut formats = BTreeSet::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let format = entry.to_ascii_lowercase();
        if !DATALAKE_FORMATS.contains(&format.as_str()) {
            return Err(ArgumentError::DatalakeFormat(entry.to_string()));
        }
        formats.insert(format);
    }
    Ok(formats)
}

/// `--additional-python-modules` and its installer options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PythonModules {
    /// pip requirement specs, local wheel paths or local requirements files (`*.txt`).
    pub specs: Vec<String>,
    /// `--python-modules-installer-option`, split on whitespace.
    pub installer_options: Vec<String>,
}

/// The DefaultArguments of one session, interpreted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionArguments {
    /// The user's arguments as `--key value` pairs, in key order, reserved ones removed.
    pub user_argv: Vec<String>,
    /// Whether the user gave `--TempDir` (then epoxy's per-session one is not added).
    pub has_temp_dir: bool,
    pub extra_py_files: Vec<PathBuf>,
    pub extra_files: Vec<PathBuf>,
    pub extra_jars: Vec<PathBuf>,
    pub user_jars_first: bool,
    pub python_modules: Option<PythonModules>,
    /// Spark settings from `--conf`.
    pub conf: Vec<(String, String)>,
    /// `--datalake-formats`, lower-cased: whose jars the driver's classpath gets.
    pub datalake_formats: BTreeSet<String>,
}

/// A key as compared: leading dashes dropped, `_` read as `-` (the Glue kernel's `%%configure`
/// spells the same argument both ways).
fn normalized(key: &str) -> String {
    key.trim_start_matches('-').replace('_', "-")
}

fn is_reserved(normal: &str) -> bool {
    (normal.starts_with("enable-") && normal != "enable-data-lineage")
        || RESERVED.iter().any(|r| normalized(r) == normal)
}

impl SessionArguments {
    /// Interprets `arguments`. Keys that differ only in `_`/`-` or leading dashes are one
    /// argument: the spelling that sorts first (byte order, so `-` before `_`) wins.
    pub fn parse(arguments: &BTreeMap<String, String>) -> Result<Self, ArgumentError> {
        let mut by_name: BTreeMap<String, (&str, &str)> = BTreeMap::new();
        for (key, value) in arguments {
            let name = normalized(key);
            if name.is_empty() {
                continue;
            }
            // BTreeMap order: the first spelling seen sorts first and wins.
            by_name
                .entry(name)
                .or_insert((key.as_str(), value.as_str()));
        }
        let get = |name: &str| by_name.get(&normalized(name)).map(|(_, v)| *v);
        for language in ["session-language", "job-language"] {
            if get(language).is_some_and(|v| v.trim().eq_ignore_ascii_case("scala")) {
                return Err(ArgumentError::Scala(format!("--{language}")));
            }
        }
        let files = |name: &str, expected: &'static [&'static str]| {
            local_paths(&format!("--{name}"), get(name).unwrap_or(""), expected)
        };
        let user_jars_first = match get("user-jars-first").map(str::trim) {
            None | Some("") | Some("false") => false,
            Some("true") => true,
            Some(other) => return Err(ArgumentError::Flag(other.to_string())),
        };
        let python_modules = get("additional-python-modules")
            .map(python_modules)
            .transpose()?
            .filter(|m| !m.specs.is_empty())
            .map(|mut m| {
                m.installer_options = get("python-modules-installer-option")
                    .unwrap_or("")
                    .split_whitespace()
                    // `-r` only says the spec is a requirements file, which `*.txt` already does.
                    .filter(|o| *o != "-r" && *o != "--requirement")
                    .map(str::to_string)
                    .collect();
                m
            });
        let mut user_argv = Vec::new();
        for (name, (key, value)) in &by_name {
            if is_reserved(name) {
                continue;
            }
            let spelling = SCRIPT_VISIBLE
                .iter()
                .find(|v| normalized(v) == *name)
                .map_or_else(
                    || key.trim_start_matches('-').to_string(),
                    |v| v.to_string(),
                );
            user_argv.push(format!("--{spelling}"));
            user_argv.push(value.to_string());
        }
        Ok(Self {
            user_argv,
            has_temp_dir: by_name.contains_key("TempDir"),
            extra_py_files: files("extra-py-files", &["py", "zip", "whl", "egg"])?,
            extra_files: files("extra-files", &[])?,
            extra_jars: files("extra-jars", &["jar"])?,
            user_jars_first,
            python_modules,
            conf: get("conf")
                .map(super::parse_conf_argument)
                .unwrap_or_default(),
            datalake_formats: datalake_formats(get("datalake-formats").unwrap_or(""))?,
        })
    }

    /// The session's `sys.argv`: the program name, the user's arguments, then `--TempDir`
    /// unless the user gave one.
    pub fn argv(&self, temp_dir: &Path) -> Vec<String> {
        let mut argv = vec![PROGRAM_NAME.to_string()];
        argv.extend(self.user_argv.iter().cloned());
        if !self.has_temp_dir {
            argv.push("--TempDir".to_string());
            argv.push(temp_dir.display().to_string());
        }
        argv
    }

    /// Spark settings that must be in place before the JVM starts (so the driver is not warm).
    pub fn jvm_conf(&self) -> Vec<(String, String)> {
        let mut conf = Vec::new();
        if !self.extra_jars.is_empty() {
            let jars: Vec<String> = self
                .extra_jars
                .iter()
                .map(|p| p.display().to_string())
                .collect();
            conf.push(("spark.jars".to_string(), jars.join(",")));
        }
        if self.user_jars_first {
            for side in ["driver", "executor"] {
                conf.push((format!("spark.{side}.userClassPathFirst"), "true".into()));
            }
        }
        conf
    }
}

/// One entry of a comma-separated path list as a local absolute path.
fn local_path(argument: &str, entry: &str) -> Result<PathBuf, ArgumentError> {
    let err_path = || entry.to_string();
    let path = if entry.starts_with("s3://") || entry.starts_with("s3a://") {
        return Err(ArgumentError::S3Path {
            argument: argument.into(),
            path: err_path(),
        });
    } else if let Some(rest) = entry.strip_prefix("file://") {
        // file:///abs and file://localhost/abs; no other host is local.
        let rest = rest.strip_prefix("localhost").unwrap_or(rest);
        if !rest.starts_with('/') {
            return Err(ArgumentError::NotLocal {
                argument: argument.into(),
                path: err_path(),
            });
        }
        PathBuf::from(rest)
    } else if entry.contains("://") {
        return Err(ArgumentError::NotLocal {
            argument: argument.into(),
            path: err_path(),
        });
    } else {
        PathBuf::from(entry)
    };
    // Relative paths are the server's working directory's, as for every other epoxy path.
    let path = std::path::absolute(&path).unwrap_or(path);
    if !path.exists() {
        return Err(ArgumentError::Missing {
            argument: argument.into(),
            path: err_path(),
        });
    }
    Ok(path)
}

/// A comma-separated list of local files, each with one of `extensions` (any, if empty).
fn local_paths(
    argument: &str,
    value: &str,
    extensions: &'static [&'static str],
) -> Result<Vec<PathBuf>, ArgumentError> {
    let mut paths = Vec::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let path = local_path(argument, entry)?;
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        let wrong_extension =
            !extensions.is_empty() && !extension.is_some_and(|e| extensions.contains(&e.as_str()));
        if !path.is_file() || wrong_extension {
            return Err(ArgumentError::WrongType {
                argument: argument.into(),
                path: entry.to_string(),
                expected: match extensions {
                    [] => "a file",
                    ["jar"] => "a .jar file",
                    _ => "a .py, .zip, .whl or .egg file",
                },
            });
        }
        paths.push(path);
    }
    Ok(paths)
}

/// `--additional-python-modules`: pip specs stay as they are; wheels and requirements files
/// (local paths or file:// URLs) become absolute paths.
fn python_modules(value: &str) -> Result<PythonModules, ArgumentError> {
    let argument = "--additional-python-modules";
    let mut specs = Vec::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let lower = entry.to_ascii_lowercase();
        let is_file = entry.contains("://")
            || entry.starts_with('/')
            || entry.starts_with('.')
            || lower.ends_with(".whl")
            || lower.ends_with(".txt")
            || lower.ends_with(".zip");
        if is_file {
            specs.push(local_path(argument, entry)?.display().to_string());
        } else {
            specs.push(entry.to_string());
        }
    }
    Ok(PythonModules {
        specs,
        installer_options: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn datalake_formats_are_a_case_insensitive_list() {
        let parsed =
            SessionArguments::parse(&args(&[("--datalake_formats", " Iceberg,delta,")])).unwrap();
        assert_eq!(
            parsed.datalake_formats,
            BTreeSet::from(["delta".to_string(), "iceberg".to_string()])
        );
        assert!(parsed.user_argv.is_empty());
        assert_eq!(
            SessionArguments::parse(&args(&[("--datalake-formats", "iceberg,paimon")])),
            Err(ArgumentError::DatalakeFormat("paimon".into()))
        );
    }

    #[test]
    fn kernel_defaults_leave_only_temp_dir() {
        let parsed = SessionArguments::parse(&args(&[
            ("--glue_kernel_version", "1.0.9"),
            ("--enable-glue-datacatalog", "true"),
        ]))
        .unwrap();
        assert_eq!(
            parsed.argv(Path::new("/t")),
            ["epoxy-session", "--TempDir", "/t"]
        );
        assert!(parsed.jvm_conf().is_empty());
        assert_eq!(parsed.python_modules, None);
    }

    #[test]
    fn spellings_are_one_argument_and_hyphens_win() {
        let parsed = SessionArguments::parse(&args(&[
            ("--my_arg", "underscore"),
            ("--my-arg", "hyphen"),
            ("JOB_NAME", "j"),
            ("--job_bookmark_option", "job-bookmark-enable"),
            ("--additional_python_modules", "tabulate==0.9.0"),
            ("--enable-metrics", ""),
            ("--enable-data-lineage", "true"),
            ("--TempDir", "/mine"),
        ]))
        .unwrap();
        assert_eq!(
            parsed.argv(Path::new("/t")),
            [
                "epoxy-session",
                "--JOB_NAME",
                "j",
                "--TempDir",
                "/mine",
                "--enable-data-lineage",
                "true",
                "--job-bookmark-option",
                "job-bookmark-enable",
                "--my-arg",
                "hyphen",
            ]
        );
        assert_eq!(
            parsed.python_modules.unwrap().specs,
            vec!["tabulate==0.9.0".to_string()]
        );
    }

    #[test]
    fn unusable_arguments_fail_with_a_reason() {
        let err = |pairs: &[(&str, &str)]| SessionArguments::parse(&args(pairs)).unwrap_err();
        assert!(matches!(
            err(&[("--session-language", "scala")]),
            ArgumentError::Scala(_)
        ));
        assert!(matches!(
            err(&[("--job_language", "Scala")]),
            ArgumentError::Scala(_)
        ));
        assert!(matches!(
            err(&[("--extra-py-files", "s3://b/k.py")]),
            ArgumentError::S3Path { .. }
        ));
        assert!(matches!(
            err(&[("--extra-files", "/no/such/file")]),
            ArgumentError::Missing { .. }
        ));
        assert!(matches!(
            err(&[("--extra-jars", "http://h/x.jar")]),
            ArgumentError::NotLocal { .. }
        ));
        assert!(matches!(
            err(&[("--user-jars-first", "yes")]),
            ArgumentError::Flag(_)
        ));
        assert!(matches!(
            err(&[("--extra-jars", "file:///etc/hostname")]),
            ArgumentError::WrongType { .. }
        ));
    }

    #[test]
    fn jars_and_conf_go_to_spark() {
        let dir = std::env::temp_dir().join(format!("epoxy-args-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let jar = dir.join("a.jar");
        std::fs::write(&jar, b"PK").unwrap();
        let parsed = SessionArguments::parse(&args(&[
            ("--extra-jars", &format!("file://{}", jar.display())),
            ("--user-jars-first", "true"),
            ("--conf", "spark.a=1 --conf spark.b=2"),
        ]))
        .unwrap();
        let conf = parsed.jvm_conf();
        assert_eq!(conf[0], ("spark.jars".into(), jar.display().to_string()));
        assert_eq!(conf.len(), 3);
        assert_eq!(parsed.conf.len(), 2);
        assert_eq!(parsed.argv(Path::new("/t")).len(), 3);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
