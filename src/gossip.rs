//! Node-to-node anti-entropy: which protocol a cluster runs and how its
//! messages are classified for accounting and visualisation.

use serde::{Deserialize, Serialize};

/// How nodes keep each other's sets in sync.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// Periodically ship the whole set to peers (the baseline digests beat).
    FullState,
    /// Exchange digests; on a mismatch ship the whole set (the seed's `digest_sync`).
    Digest,
    /// Exchange digests; on a mismatch reconcile ranges and move only the difference.
    #[default]
    Difference,
}

impl Protocol {
    pub const ALL: [Protocol; 3] = [Protocol::FullState, Protocol::Digest, Protocol::Difference];

    /// The name used on the command line, in URLs and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::FullState => "full_state",
            Protocol::Digest => "digest",
            Protocol::Difference => "difference",
        }
    }
}

impl std::str::FromStr for Protocol {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Protocol::ALL
            .into_iter()
            .find(|p| p.name() == s || p.name().replace('_', "-") == s)
            .ok_or_else(|| format!("unknown protocol {s:?} (expected full_state, digest or difference)"))
    }
}

/// Node-level settings. The native shell uses the defaults; the simulator and
/// the wasm page choose their own.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeConfig {
    pub protocol: Protocol,
    /// Seed of the node's own PRNG (peer choice, jitter). The shell derives it
    /// from the node id, the simulator from the run's seed.
    pub rng_seed: u64,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig { protocol: Protocol::default(), rng_seed: 0 }
    }
}

/// What a message is, for the simulator's accounting and the page's colours.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// Client requests and their replies.
    Client,
    /// Eager push of new values.
    Push,
    /// A digest (or range fingerprints) offered for comparison.
    Digest,
    /// A reply saying the digests matched: a transfer skipped.
    DigestMatch,
    /// Only the missing values, found by reconciliation.
    Difference,
    /// A whole set.
    FullState,
}
