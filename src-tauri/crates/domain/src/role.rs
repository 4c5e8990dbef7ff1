use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// The four local roles of a workstation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
#[ts(export)]
pub enum Role {
    /// Caseworker: own and unassigned cases.
    Sachbearbeitung,
    /// Supervisor: all cases, assignment, reports.
    Leitung,
    /// Scanning desk: scan intake only, no case content.
    Scanstelle,
    /// Administrator: users and configuration, no case content.
    Admin,
}

/// What a role may do. The facade checks one of these before every operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Read the work list and case content.
    ReadCases,
    /// Manage local users (add, remove, reset).
    ManageUsers,
    /// Read and verify the audit log.
    ReadAudit,
    /// Scan intake.
    ScanIntake,
    /// Configure the portal connection (FIT-Connect credentials and keys).
    ConfigurePortal,
    /// Start a synchronisation with the portal (reveals no content to the user).
    RunSync,
    /// Work on cases: transitions, checklist, notes, take an unassigned case.
    EditCases,
    /// See every case and assign cases to others (Leitung).
    AllCases,
    /// Release scanned paper for destruction (Fachabteilung: Leitung).
    ReleaseOriginals,
}

impl Role {
    pub const ALL: [Role; 4] = [
        Role::Sachbearbeitung,
        Role::Leitung,
        Role::Scanstelle,
        Role::Admin,
    ];

    /// Stable identifier as stored in the database and used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Sachbearbeitung => "sachbearbeitung",
            Role::Leitung => "leitung",
            Role::Scanstelle => "scanstelle",
            Role::Admin => "admin",
        }
    }

    /// German label for the UI.
    pub fn label(self) -> &'static str {
        match self {
            Role::Sachbearbeitung => "Sachbearbeitung",
            Role::Leitung => "Leitung",
            Role::Scanstelle => "Scanstelle",
            Role::Admin => "Administration",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// The permission matrix. Case content is for caseworkers and supervisors only.
    pub fn may(self, permission: Permission) -> bool {
        use Permission::*;
        matches!(
            (self, permission),
            (Role::Sachbearbeitung | Role::Leitung, ReadCases)
                | (Role::Admin | Role::Leitung, ReadAudit)
                | (Role::Admin, ManageUsers | ConfigurePortal)
                | (_, RunSync)
                | (Role::Scanstelle, ScanIntake)
                | (Role::Sachbearbeitung | Role::Leitung, EditCases)
                | (Role::Leitung, AllCases | ReleaseOriginals)
        )
    }

    /// May this role see (and work on) a case assigned to `assigned_to`? Sachbearbeitung:
    /// own and unassigned cases; Leitung: all; the others: none.
    pub fn may_see_case(self, user: &str, assigned_to: Option<&str>) -> bool {
        match self {
            Role::Leitung => true,
            Role::Sachbearbeitung => assigned_to.is_none_or(|a| a == user),
            Role::Scanstelle | Role::Admin => false,
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_round_trips_through_its_identifier() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
        assert_eq!(Role::parse("Admin"), None);
    }

    #[test]
    fn only_case_roles_read_cases() {
        assert!(Role::Sachbearbeitung.may(Permission::ReadCases));
        assert!(Role::Leitung.may(Permission::ReadCases));
        assert!(!Role::Scanstelle.may(Permission::ReadCases));
        assert!(!Role::Admin.may(Permission::ReadCases));
    }

    #[test]
    fn only_admin_configures_the_portal_but_everybody_may_sync() {
        for role in Role::ALL {
            assert_eq!(role.may(Permission::ConfigurePortal), role == Role::Admin);
            assert!(role.may(Permission::RunSync));
        }
    }

    #[test]
    fn only_admin_manages_users() {
        for role in Role::ALL {
            assert_eq!(role.may(Permission::ManageUsers), role == Role::Admin);
        }
    }

    #[test]
    fn serde_and_display_agree_with_the_stored_identifier() {
        // The store writes `as_str`, the UI receives serde: they must be the same.
        for role in Role::ALL {
            let json = serde_json::to_string(&role).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", role.as_str()));
            assert_eq!(role.to_string(), role.as_str());
        }
    }
}
