//! Validated names: workers, flows and run ids.
//!
//! Worker and flow names follow the original hub's rule,
//! `^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$` without `..`, so they are always safe
//! to use as file names and never traverse paths. The check lives here so
//! every boundary (HTTP, MCP, engine, storage) applies the same one.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest worker or flow name, in bytes (all allowed characters are ASCII).
pub const MAX_NAME_LEN: usize = 64;

/// The name rule as a regular expression (plus: no `..`).
pub const NAME_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$";

/// Suffix of a worker's manager identity (`X-manager` steers worker `X`).
pub const MANAGER_SUFFIX: &str = "-manager";

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The name is empty.
    #[error("name is empty")]
    Empty,
    /// The name is longer than [`MAX_NAME_LEN`].
    #[error("name is longer than {MAX_NAME_LEN} characters")]
    TooLong,
    /// The first character is not a letter or digit.
    #[error("name must start with a letter or digit")]
    BadStart,
    /// A character outside `A-Z a-z 0-9 space _ . -`.
    #[error("name contains a character other than letters, digits, space, '_', '.', '-'")]
    BadChar,
    /// The name contains `..`.
    #[error("name must not contain '..'")]
    DotDot,
}

/// Checks a worker or flow name against the original hub's rule.
pub fn check_name(name: &str) -> Result<(), NameError> {
    let bytes = name.as_bytes();
    let Some(&first) = bytes.first() else {
        return Err(NameError::Empty);
    };
    if bytes.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong);
    }
    if !first.is_ascii_alphanumeric() {
        return Err(NameError::BadStart);
    }
    if !bytes
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b' ' | b'_' | b'.' | b'-'))
    {
        return Err(NameError::BadChar);
    }
    if name.contains("..") {
        return Err(NameError::DotDot);
    }
    Ok(())
}

macro_rules! name_newtype {
    ($(#[$doc:meta])* $ty:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $ty(String);

        impl $ty {
            /// Validates and wraps a name.
            pub fn new(name: impl Into<String>) -> Result<Self, NameError> {
                let name = name.into();
                check_name(&name)?;
                Ok(Self(name))
            }

            /// The name as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::str::FromStr for $ty {
            type Err = NameError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(s)
            }
        }

        #[cfg(feature = "schema")]
        impl schemars::JsonSchema for $ty {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($ty).into()
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({
                    "type": "string",
                    "pattern": NAME_PATTERN,
                    "maxLength": MAX_NAME_LEN,
                    "not": {"pattern": "\\.\\."},
                    "description": "letters, digits, space, '_', '.', '-'; starts with a letter or digit; no '..'",
                })
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::new(s).map_err(serde::de::Error::custom)
            }
        }
    };
}

name_newtype!(
    /// A validated worker name (the channel `X` or its manager `X-manager`).
    WorkerName
);
name_newtype!(
    /// A validated flow (saved message) name.
    FlowName
);

impl WorkerName {
    /// True for a manager identity (`X-manager`).
    pub fn is_manager(&self) -> bool {
        self.0.ends_with(MANAGER_SUFFIX)
    }

    /// The manager identity that steers this worker (`X` → `X-manager`).
    ///
    /// Fails only when the result would be longer than [`MAX_NAME_LEN`].
    pub fn manager(&self) -> Result<WorkerName, NameError> {
        WorkerName::new(format!("{}{MANAGER_SUFFIX}", self.0))
    }
}

/// Checks a flow run id: `^[A-Za-z0-9_-]{16,64}$`.
pub fn is_valid_run_id(id: &str) -> bool {
    (16..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_original_alphabet() {
        for ok in [
            "a",
            "proj-tm",
            "My Worker_1.2",
            "x-manager",
            &"a".repeat(64),
        ] {
            assert_eq!(check_name(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn refuses_traversal_length_and_control_chars() {
        assert_eq!(check_name(""), Err(NameError::Empty));
        assert_eq!(check_name(&"a".repeat(65)), Err(NameError::TooLong));
        assert_eq!(check_name("../etc"), Err(NameError::BadStart));
        assert_eq!(check_name("a..b"), Err(NameError::DotDot));
        assert_eq!(check_name("a/b"), Err(NameError::BadChar));
        assert_eq!(check_name("a\nb"), Err(NameError::BadChar));
        assert_eq!(check_name("a\u{0}"), Err(NameError::BadChar));
        assert_eq!(check_name("é"), Err(NameError::BadStart));
        assert_eq!(check_name(" a"), Err(NameError::BadStart));
    }

    #[test]
    fn manager_identity() {
        let w = WorkerName::new("proj-tm").unwrap();
        assert!(!w.is_manager());
        assert_eq!(w.manager().unwrap().as_str(), "proj-tm-manager");
        assert!(w.manager().unwrap().is_manager());
        assert!(WorkerName::new("a".repeat(60)).unwrap().manager().is_err());
    }

    #[test]
    fn deserialize_validates() {
        assert!(serde_json::from_str::<WorkerName>("\"ok\"").is_ok());
        assert!(serde_json::from_str::<WorkerName>("\"../x\"").is_err());
    }

    #[test]
    fn run_ids() {
        assert!(is_valid_run_id("abcdefghijklmnop"));
        assert!(is_valid_run_id("Ab_-0123456789xyzABC"));
        assert!(!is_valid_run_id("short"));
        assert!(!is_valid_run_id("abcdefghijklmnop/"));
    }
}
