//! Reading and validating the policy directory. An invalid file stops the start with an
//! error that names the file, the entry and the field.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::{Channel, Client, Location, Policies, ReturnPolicy, SCOPES};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    pub file: PathBuf,
    /// The entry, e.g. `channel "web"` or `location[2]`.
    pub entry: Option<String>,
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(entry) = &self.entry {
            write!(f, ", {entry}")?;
        }
        if let Some(field) = &self.field {
            write!(f, ", field `{field}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for PolicyError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LocationsFile {
    location: Vec<Location>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChannelsFile {
    channel: Vec<Channel>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientsFile {
    #[serde(default)]
    demo: bool,
    #[serde(default)]
    client: Vec<Client>,
}

impl Policies {
    pub fn load(dir: &Path) -> Result<Self, PolicyError> {
        let locations: LocationsFile = read(dir, "locations.toml")?;
        let channels: ChannelsFile = read(dir, "channels.toml")?;
        let clients: ClientsFile = read(dir, "clients.toml")?;
        let returns: ReturnPolicy = read(dir, "returns.toml")?;
        let p = Self {
            dir: dir.to_owned(),
            demo: clients.demo,
            locations: locations.location,
            channels: channels.channel,
            clients: clients.client,
            returns,
        };
        p.validate()?;
        Ok(p)
    }

    fn validate(&self) -> Result<(), PolicyError> {
        let err = |file: &str, entry: String, field: &str, message: String| PolicyError {
            file: self.dir.join(file),
            entry: Some(entry),
            field: Some(field.to_owned()),
            message,
        };
        let mut seen = BTreeSet::new();
        for l in &self.locations {
            let entry = format!("location \"{}\"", l.code);
            if !is_name(&l.code) {
                return Err(err(
                    "locations.toml",
                    entry,
                    "code",
                    "must be 1 to 64 letters, digits, `-` or `_`".into(),
                ));
            }
            if !seen.insert(&l.code) {
                return Err(err(
                    "locations.toml",
                    entry,
                    "code",
                    "is declared twice".into(),
                ));
            }
            if l.priority == 0 {
                return Err(err(
                    "locations.toml",
                    entry,
                    "priority",
                    "must be 1 or more (1 is tried first)".into(),
                ));
            }
        }
        let mut seen = BTreeSet::new();
        for c in &self.channels {
            let entry = format!("channel \"{}\"", c.name);
            if !is_name(&c.name) || !seen.insert(&c.name) {
                return Err(err(
                    "channels.toml",
                    entry,
                    "name",
                    "must be a unique name of letters, digits, `-` or `_`".into(),
                ));
            }
            if let Some(l) = c.locations.iter().find(|l| self.location(l).is_none()) {
                return Err(err(
                    "channels.toml",
                    entry,
                    "locations",
                    format!("unknown location `{l}`"),
                ));
            }
        }
        let mut seen = BTreeSet::new();
        for c in &self.clients {
            let entry = format!("client \"{}\"", c.id);
            if !is_name(&c.id) || !seen.insert(&c.id) {
                return Err(err(
                    "clients.toml",
                    entry,
                    "id",
                    "must be a unique name of letters, digits, `-` or `_`".into(),
                ));
            }
            if c.channels.is_empty() {
                return Err(err(
                    "clients.toml",
                    entry,
                    "channels",
                    "must name at least one channel".into(),
                ));
            }
            if let Some(ch) = c.channels.iter().find(|ch| self.channel(ch).is_none()) {
                return Err(err(
                    "clients.toml",
                    entry,
                    "channels",
                    format!("unknown channel `{ch}`"),
                ));
            }
            if let Some(s) = c.scopes.iter().find(|s| !SCOPES.contains(&s.as_str())) {
                return Err(err(
                    "clients.toml",
                    entry,
                    "scopes",
                    format!("unknown scope `{s}`; known: {}", SCOPES.join(", ")),
                ));
            }
            if let Some(h) = c.api_key_sha256.iter().find(|h| {
                h.len() != 64
                    || !h
                        .bytes()
                        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            }) {
                return Err(err(
                    "clients.toml",
                    entry,
                    "api_key_sha256",
                    format!("`{h}` is not 64 lower-case hex digits"),
                ));
            }
        }
        let r = &self.returns;
        if !(1..=365).contains(&r.window_days) {
            return Err(err(
                "returns.toml",
                "returns".into(),
                "window_days",
                "must be from 1 to 365".into(),
            ));
        }
        if self.location(&r.restock_location).is_none() {
            return Err(err(
                "returns.toml",
                "returns".into(),
                "restock_location",
                format!("unknown location `{}`", r.restock_location),
            ));
        }
        Ok(())
    }
}

fn is_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Reads one file; a syntax or shape error names the entry (`channel[1]`) and field.
fn read<T: DeserializeOwned>(dir: &Path, name: &str) -> Result<T, PolicyError> {
    let file = dir.join(name);
    let text = std::fs::read_to_string(&file).map_err(|e| PolicyError {
        file: file.clone(),
        entry: None,
        field: None,
        message: format!("cannot read: {e}"),
    })?;
    serde_path_to_error::deserialize(toml::Deserializer::new(&text)).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().message().to_owned();
        // "missing field `x`" points at the entry, not at the absent field.
        let missing = message
            .strip_prefix("missing field `")
            .and_then(|m| m.split('`').next())
            .map(str::to_owned);
        let (entry, field) = match path.rsplit_once('.') {
            _ if path.ends_with(']') => (Some(path), missing),
            Some((entry, field)) => (Some(entry.to_owned()), Some(field.to_owned())),
            None if path == "." => (None, missing),
            None => (None, Some(path)),
        };
        PolicyError {
            file,
            entry,
            field,
            message,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A copy of the demo policies with one file replaced.
    fn with(file: &str, text: &str) -> Result<Policies, PolicyError> {
        let dir = tempfile::tempdir().unwrap();
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
        for f in std::fs::read_dir(&src).unwrap() {
            let f = f.unwrap();
            std::fs::copy(f.path(), dir.path().join(f.file_name())).unwrap();
        }
        std::fs::write(dir.path().join(file), text).unwrap();
        Policies::load(dir.path())
    }

    #[test]
    fn a_shape_error_names_file_entry_and_field() {
        let e = with(
            "locations.toml",
            "[[location]]\ncode = \"A\"\npriority = 1\n[[location]]\ncode = \"B\"\n",
        )
        .unwrap_err();
        assert!(e.file.ends_with("locations.toml"));
        assert_eq!(e.entry.as_deref(), Some("location[1]"));
        assert_eq!(e.field.as_deref(), Some("priority"), "{e}");
    }

    #[test]
    fn a_rule_error_names_the_entry_by_name() {
        let e = with(
            "channels.toml",
            "[[channel]]\nname = \"web\"\nlocations = [\"WH-NOPE\"]\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("channel \"web\""), "{e}");
        assert_eq!(e.field.as_deref(), Some("locations"));
        assert!(e.message.contains("WH-NOPE"));
    }

    #[test]
    fn unknown_fields_and_scopes_are_refused() {
        let e = with(
            "returns.toml",
            "window_days = 30\nrestock_location = \"WH-MAIN\"\nwindow = 3\n",
        )
        .unwrap_err();
        assert!(e.message.contains("unknown field"), "{e}");
        let e = with(
            "clients.toml",
            "[[client]]\nid = \"x\"\nkind = \"storefront\"\nchannels = [\"web\"]\nscopes = [\"everything\"]\n",
        )
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("scopes"));
    }
}
