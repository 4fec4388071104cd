//! Zero configuration on one machine: where the hub URL and the
//! credential come from when nobody says.
//!
//! Settings are looked up in the real environment, then in `./.env`, then
//! in `~/.config/tubemail/.env` ([`Env`]). When the hub URL is loopback and
//! no `TUBEMAIL_TOKEN` or `TUBEMAIL_SECRET` is set anywhere, the secret the
//! local hub keeps in its data dir (`$TUBEMAIL_DATA_DIR`, else
//! `$XDG_DATA_HOME/tubemail`, else `~/.local/share/tubemail`; file
//! `secret`) is used ([`Env::credential`]). A hub elsewhere never gets that
//! file's secret.
//!
//! ```no_run
//! use tubemail_client::local::Env;
//!
//! let env = Env::load(&std::env::current_dir()?);
//! let url = env.hub_url();
//! if let Some(credential) = env.credential(&url) {
//!     if let Some(notice) = credential.notice() {
//!         eprintln!("tubemail: {notice}");
//!     }
//!     let hub = tubemail_client::Client::builder()
//!         .url(&url)
//!         .secret(credential.secret())
//!         .build()?;
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::DEFAULT_HUB_URL;

/// The user's `.env`, under `$HOME`.
const USER_ENV_FILE: &str = ".config/tubemail/.env";
/// The file in the hub's data dir that holds its secret.
const SECRET_FILE: &str = "secret";

/// `KEY=VALUE` lines of a `.env` file (`#` comments, optional `export `,
/// optional single or double quotes around the value).
pub fn parse_env_file(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            let line = line.strip_prefix("export ").unwrap_or(line);
            if line.is_empty() || line.starts_with('#') {
                return None;
            }
            let (k, v) = line.split_once('=')?;
            let k = k.trim();
            if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return None;
            }
            let v = v.trim();
            let v = ['"', '\'']
                .iter()
                .find_map(|q| v.strip_prefix(*q).and_then(|s| s.strip_suffix(*q)))
                .unwrap_or(v);
            Some((k.to_owned(), v.to_owned()))
        })
        .collect()
}

/// Where a setting was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The process environment.
    Environment,
    /// A `.env` file.
    EnvFile(PathBuf),
    /// The local hub's secret file.
    LocalHub(PathBuf),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Environment => f.write_str("the environment"),
            Source::EnvFile(p) => write!(f, "{}", p.display()),
            Source::LocalHub(p) => write!(f, "the local hub's secret file {}", p.display()),
        }
    }
}

/// The environment with what `.env` files add to it.
#[derive(Debug, Clone, Default)]
pub struct Env {
    real: HashMap<String, String>,
    /// From the files, for keys the real environment leaves unset; the
    /// first file that sets a key wins.
    files: Vec<(String, String, PathBuf)>,
}

impl Env {
    /// The process environment with `<dir>/.env` and
    /// `$HOME/.config/tubemail/.env`.
    pub fn load(dir: &Path) -> Env {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        Env::new(std::env::vars().collect(), dir, home.as_deref())
    }

    /// `real` with `<dir>/.env`, then `<home>/.config/tubemail/.env`, for
    /// keys `real` does not set (empty counts as unset); files that cannot
    /// be read are skipped.
    pub fn new(real: HashMap<String, String>, dir: &Path, home: Option<&Path>) -> Env {
        let mut files: Vec<(String, String, PathBuf)> = Vec::new();
        let paths = [Some(dir.join(".env")), home.map(|h| h.join(USER_ENV_FILE))];
        for path in paths.into_iter().flatten() {
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            for (k, v) in parse_env_file(&text) {
                let set_for_real = real.get(&k).is_some_and(|v| !v.is_empty());
                if !set_for_real && !files.iter().any(|(seen, _, _)| *seen == k) {
                    files.push((k, v, path.clone()));
                }
            }
        }
        Env { real, files }
    }

    /// The value of `key` and where it was found (empty counts as unset).
    pub fn lookup(&self, key: &str) -> Option<(String, Source)> {
        if let Some(v) = self.real.get(key).filter(|v| !v.is_empty()) {
            return Some((v.clone(), Source::Environment));
        }
        self.files
            .iter()
            .find(|(k, v, _)| k == key && !v.is_empty())
            .map(|(_, v, path)| (v.clone(), Source::EnvFile(path.clone())))
    }

    /// The value of `key` (empty counts as unset).
    pub fn get(&self, key: &str) -> Option<String> {
        self.lookup(key).map(|(v, _)| v)
    }

    /// What the files add to the environment, in the order found.
    pub fn from_files(&self) -> Vec<(String, String)> {
        self.files
            .iter()
            .map(|(k, v, _)| (k.clone(), v.clone()))
            .collect()
    }

    /// `TUBEMAIL_HUB_URL`, else [`DEFAULT_HUB_URL`].
    pub fn hub_url(&self) -> String {
        self.get("TUBEMAIL_HUB_URL")
            .map(|u| u.trim().to_owned())
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| DEFAULT_HUB_URL.to_owned())
    }

    /// The local hub's data dir: `TUBEMAIL_DATA_DIR`, else
    /// `$XDG_DATA_HOME/tubemail`, else `$HOME/.local/share/tubemail`, as
    /// the hub itself picks it.
    pub fn data_dir(&self) -> Option<PathBuf> {
        data_dir(|k| self.get(k))
    }

    /// The credential for the hub at `hub_url`: `TUBEMAIL_TOKEN` (a scoped
    /// token), else `TUBEMAIL_SECRET`, else, for a loopback URL only, the
    /// local hub's secret file.
    pub fn credential(&self, hub_url: &str) -> Option<Credential> {
        let given = |key: &str, scoped: bool| {
            self.lookup(key).and_then(|(v, source)| {
                let v = v.trim();
                (!v.is_empty()).then(|| Credential {
                    secret: v.to_owned(),
                    scoped,
                    source,
                })
            })
        };
        given("TUBEMAIL_TOKEN", true)
            .or_else(|| given("TUBEMAIL_SECRET", false))
            .or_else(|| {
                if !is_loopback_url(hub_url) {
                    return None;
                }
                self.local_secret_path()
                    .and_then(|path| local_secret(&path))
            })
    }

    /// The local hub's secret file (whether or not it exists).
    pub fn local_secret_path(&self) -> Option<PathBuf> {
        self.data_dir().map(|d| d.join(SECRET_FILE))
    }

    /// What to do without a credential for `hub_url`, naming where the
    /// local hub's secret was looked for when it was.
    pub fn no_credential(&self, hub_url: &str) -> String {
        let looked = match self.local_secret_path() {
            Some(p) if is_loopback_url(hub_url) => {
                format!(" (the local hub's {} does not exist either)", p.display())
            }
            _ => String::new(),
        };
        format!(
            "no TUBEMAIL_TOKEN or TUBEMAIL_SECRET{looked}: set one in the environment, in \
             ./.env or in ~/.config/tubemail/.env (the hub keeps its secret in its data dir, \
             file `secret`; `tubemail tokens create` issues a scoped token)"
        )
    }
}

/// The data dir the hub picks by default, from the variables `get` reads
/// (`TUBEMAIL_DATA_DIR`, `XDG_DATA_HOME`, `HOME`; empty counts as unset).
pub fn data_dir(get: impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let get = |k: &str| get(k).filter(|v| !v.is_empty());
    if let Some(d) = get("TUBEMAIL_DATA_DIR") {
        return Some(PathBuf::from(d));
    }
    get("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| get("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .map(|base| base.join("tubemail"))
}

/// Whether `url` names this machine (`localhost`, 127.0.0.0/8, `::1`).
pub fn is_loopback_url(url: &str) -> bool {
    let Ok(url) = reqwest::Url::parse(url.trim()) else {
        return false;
    };
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

/// The secret in the hub's secret file at `path`, if it holds one.
fn local_secret(path: &Path) -> Option<Credential> {
    let text = std::fs::read_to_string(path).ok()?;
    let secret = text.trim();
    (!secret.is_empty()).then(|| Credential {
        secret: secret.to_owned(),
        scoped: false,
        source: Source::LocalHub(path.to_path_buf()),
    })
}

/// A hub credential and where it was found. `Debug` leaves the secret out.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    secret: String,
    /// A scoped token (`TUBEMAIL_TOKEN`), not the shared secret.
    pub scoped: bool,
    /// Where it was found.
    pub source: Source,
}

impl Credential {
    /// The token or secret, for the `Authorization` header only.
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// The variable it stands for: `TUBEMAIL_TOKEN` or `TUBEMAIL_SECRET`.
    pub fn name(&self) -> &'static str {
        if self.scoped {
            "TUBEMAIL_TOKEN"
        } else {
            "TUBEMAIL_SECRET"
        }
    }

    /// The line to tell the user when the secret was taken from the local
    /// hub's data dir (nobody configured it); `None` otherwise.
    pub fn notice(&self) -> Option<String> {
        match &self.source {
            Source::LocalHub(path) => Some(format!(
                "using the local hub's secret from {}",
                path.display()
            )),
            _ => None,
        }
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("scoped", &self.scoped)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn env_file_lines() {
        let parsed =
            parse_env_file("# c\nexport A=1\nB = \"two words\"\nC='x'\nbad line\n-D=1\nE=\n");
        assert_eq!(
            parsed,
            vec![
                ("A".into(), "1".into()),
                ("B".into(), "two words".into()),
                ("C".into(), "x".into()),
                ("E".into(), String::new()),
            ]
        );
    }

    #[test]
    fn the_environment_then_the_project_then_the_user() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir_all(home.join(".config/tubemail")).unwrap();
        std::fs::write(
            dir.path().join(".env"),
            "TUBEMAIL_SECRET=project\nTUBEMAIL_HUB_URL=http://p\n",
        )
        .unwrap();
        std::fs::write(
            home.join(USER_ENV_FILE),
            "TUBEMAIL_SECRET=user\nTM_X=user\n",
        )
        .unwrap();
        let env = Env::new(
            vars(&[("TUBEMAIL_HUB_URL", "http://real"), ("EMPTY", "")]),
            dir.path(),
            Some(&home),
        );
        assert_eq!(
            env.from_files(),
            vec![
                ("TUBEMAIL_SECRET".into(), "project".into()),
                ("TM_X".into(), "user".into())
            ]
        );
        assert_eq!(env.hub_url(), "http://real");
        assert_eq!(
            env.lookup("TM_X"),
            Some(("user".into(), Source::EnvFile(home.join(USER_ENV_FILE))))
        );
        let c = env.credential("http://real").unwrap();
        assert_eq!(
            (c.secret(), &c.source),
            ("project", &Source::EnvFile(dir.path().join(".env")))
        );
        assert_eq!(env.get("EMPTY"), None);
        assert_eq!(Env::default().hub_url(), DEFAULT_HUB_URL);
    }

    #[test]
    fn loopback_urls() {
        for url in [
            "http://127.0.0.1:8004",
            "http://localhost:8004/",
            "https://LOCALHOST",
            "http://127.1.2.3",
            "http://[::1]:8004",
        ] {
            assert!(is_loopback_url(url), "{url}");
        }
        for url in [
            "http://10.0.0.5:8004",
            "http://hub.example.com",
            "http://localhost.example.com",
            "http://[::2]",
            "not a url",
            "",
        ] {
            assert!(!is_loopback_url(url), "{url}");
        }
    }

    #[test]
    fn the_data_dir_as_the_hub_picks_it() {
        let pick = |pairs: &[(&str, &str)]| {
            let v = vars(pairs);
            data_dir(|k| v.get(k).cloned())
        };
        assert_eq!(
            pick(&[("TUBEMAIL_DATA_DIR", "/d"), ("XDG_DATA_HOME", "/x")]),
            Some("/d".into())
        );
        assert_eq!(
            pick(&[
                ("TUBEMAIL_DATA_DIR", ""),
                ("XDG_DATA_HOME", "/x"),
                ("HOME", "/h")
            ]),
            Some("/x/tubemail".into())
        );
        assert_eq!(
            pick(&[("HOME", "/h")]),
            Some("/h/.local/share/tubemail".into())
        );
        assert_eq!(pick(&[]), None);
    }

    #[test]
    fn the_local_secret_only_for_a_loopback_hub_and_only_when_nothing_is_set() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        std::fs::write(data.join("secret"), "s3cret\n").unwrap();
        let d = data.to_str().unwrap();
        let env = Env::new(vars(&[("TUBEMAIL_DATA_DIR", d)]), dir.path(), None);
        let c = env.credential("http://127.0.0.1:8004").unwrap();
        assert_eq!(c.secret(), "s3cret");
        assert!(!c.scoped);
        let notice = c.notice().unwrap();
        assert!(notice.contains(d) && !notice.contains("s3cret"), "{notice}");
        assert!(!format!("{c:?}").contains("s3cret"));
        assert_eq!(env.credential("http://hub.example.com:8004"), None);
        let told = Env::new(
            vars(&[("TUBEMAIL_DATA_DIR", d), ("TUBEMAIL_TOKEN", " tmt_x ")]),
            dir.path(),
            None,
        );
        let c = told.credential("http://127.0.0.1:8004").unwrap();
        assert_eq!((c.secret(), c.scoped, c.notice()), ("tmt_x", true, None));
        // An empty file is no secret; the advice names where it looked.
        std::fs::write(data.join("secret"), "\n").unwrap();
        assert_eq!(env.credential("http://localhost:8004"), None);
        let advice = env.no_credential("http://localhost:8004");
        assert!(advice.contains(&format!("{d}/secret")), "{advice}");
        assert!(!env.no_credential("http://10.1.1.1").contains(d));
    }
}
