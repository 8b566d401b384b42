//! Where variables come from: the process environment over `.env`, or a map (tests).

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// A read-only view of configuration variables. It remembers which names were read, so a test
/// can check that every variable the code reads is documented.
#[derive(Debug, Clone, Default)]
pub struct EnvSource {
    values: HashMap<String, String>,
    read: Arc<Mutex<BTreeSet<String>>>,
}

impl EnvSource {
    /// No variables at all (every default applies).
    pub fn empty() -> Self {
        Self::default()
    }

    /// Exactly these variables.
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self { values: pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect(), read: Default::default() }
    }

    /// The process environment, with the variables of the `.env` file at `dotenv` (if present)
    /// added where the environment does not set them. The process environment is not modified.
    pub fn process_with_dotenv(dotenv: &Path) -> Self {
        Self::layered(std::env::vars(), dotenv)
    }

    /// `environment` over the `.env` file at `dotenv` (if it exists).
    pub fn layered(environment: impl IntoIterator<Item = (String, String)>, dotenv: &Path) -> Self {
        let mut values: HashMap<String, String> = HashMap::new();
        if let Ok(iter) = dotenvy::from_path_iter(dotenv) {
            for (k, v) in iter.flatten() {
                values.insert(k, v);
            }
        }
        values.extend(environment);
        Self { values, read: Default::default() }
    }

    /// A variable's raw value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.read.lock().expect("not poisoned").insert(name.to_owned());
        self.values.get(name).map(String::as_str)
    }

    /// Names read so far.
    pub fn names_read(&self) -> BTreeSet<String> {
        self.read.lock().expect("not poisoned").clone()
    }
}
