//! What a control-plane write changes: the resource kind, the action, the name. Every
//! [`Store::write`](crate::Store) names one; the management event of the write is built from it
//! ([`crate::events`]). Plain types, so the resource modules need nothing from the event log.

/// The kinds of control-plane resources whose changes are recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResourceType {
    Key,
    Alias,
    Secret,
    NetworkRule,
    Policy,
    Aap,
    ClientKey,
    /// The OpenAPI's credentials.
    AccessKey,
    /// A RAM role: its AAP binding and its trust (OIDC, credentials URI).
    RamRole,
}

impl ResourceType {
    pub const ALL: [ResourceType; 9] = [
        ResourceType::Key,
        ResourceType::Alias,
        ResourceType::Secret,
        ResourceType::NetworkRule,
        ResourceType::Policy,
        ResourceType::Aap,
        ResourceType::ClientKey,
        ResourceType::AccessKey,
        ResourceType::RamRole,
    ];

    /// The name used in events and on the command line (the CLI's subcommand names).
    pub const fn as_str(self) -> &'static str {
        match self {
            ResourceType::Key => "key",
            ResourceType::Alias => "alias",
            ResourceType::Secret => "secret",
            ResourceType::NetworkRule => "network-rule",
            ResourceType::Policy => "policy",
            ResourceType::Aap => "aap",
            ResourceType::ClientKey => "client-key",
            ResourceType::AccessKey => "access-key",
            ResourceType::RamRole => "ram-role",
        }
    }

    pub fn parse(s: &str) -> Option<ResourceType> {
        ResourceType::ALL.iter().copied().find(|t| t.as_str() == s)
    }

    /// Whether a change of this type may write the key catalogue: the `keys`, `aliases`,
    /// `key_versions`, `secrets`, `secret_versions` or `secret_stages` rows, which the key ring
    /// and the bundle's `Keys` and `Secrets` are read from. Such a write moves the store's
    /// `catalogue_generation` ([`Store::config_snapshot_since`](crate::Store::config_snapshot_since)
    /// then reads the catalogue again); any other write leaves it, and a reload after it skips the
    /// catalogue. No `_` arm: a new resource type must decide.
    pub const fn touches_catalogue(self) -> bool {
        match self {
            ResourceType::Key | ResourceType::Alias | ResourceType::Secret => true,
            ResourceType::NetworkRule
            | ResourceType::Policy
            | ResourceType::Aap
            | ResourceType::ClientKey
            | ResourceType::AccessKey
            | ResourceType::RamRole => false,
        }
    }
}

/// What a control-plane write does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Create,
    Update,
    Delete,
}

impl Action {
    pub const fn as_str(self) -> &'static str {
        match self {
            Action::Create => "Create",
            Action::Update => "Update",
            Action::Delete => "Delete",
        }
    }

    pub fn parse(s: &str) -> Option<Action> {
        [Action::Create, Action::Update, Action::Delete].into_iter().find(|a| a.as_str().eq_ignore_ascii_case(s))
    }
}

/// The change a [`Store::write`] makes: every control-plane write names one.
pub(crate) struct Change<'a> {
    pub resource_type: ResourceType,
    /// The name as the caller gave it (a key may be named by an alias; the event records the key id).
    pub name: &'a str,
    pub action: Action,
    /// Alibaba's API name, e.g. `CreatePolicy`.
    pub operation: &'static str,
}

impl<'a> Change<'a> {
    pub fn new(resource_type: ResourceType, name: &'a str, action: Action, operation: &'static str) -> Self {
        Change { resource_type, name, action, operation }
    }
}
