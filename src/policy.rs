//! (being written — temporary shim on wip/gates with only the types the gates
//! and stability code use; replaced by wip/core's policy on merge)

use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub enum HealthSource {
    Command {
        command: String,
        timeout: Duration,
    },
    Argocd {
        url: String,
        app: String,
        token_env: Option<String>,
        timeout: Duration,
    },
    CommitStatus {
        context: String,
        timeout: Duration,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct CommandGate {
    pub command: String,
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Stability {
    pub kpi: u8,
    pub sample: String,
    pub signals: Vec<Signal>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Signal {
    Prometheus {
        name: String,
        url: String,
        query: String,
        max: f64,
        weight: u32,
    },
    Alertmanager {
        url: String,
        weight: u32,
    },
    Gates {
        weight: u32,
    },
    QuietTime {
        target: Duration,
        weight: u32,
    },
}
