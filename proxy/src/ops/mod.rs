//! Operator commands built into the binary: `doctor` (the daily health check) and `audit`
//! (summaries of the audit log). They use the same configuration and libraries as `serve`.

pub mod audit_report;
pub mod doctor;
